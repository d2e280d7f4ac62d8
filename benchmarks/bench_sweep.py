"""Sweep throughput: the quick Fig 3(e) phase diagram (5 × 5 grid over (α, ε), D = 20, P = 110,
N = 50, 6 000 GD steps each, reduced engine) on this machine, per backend.

Baseline: the ``local`` backend (one process, torch's default thread count), measured in the same
process; a second local row uses one torch thread (these runs are small: D = 20). Rows: wall time of the whole sweep (fresh directory, spec expansion, every run, the results
table after every pack; no figures), runs/s, and the speed-up against local. ``process`` uses 2
workers with one torch thread each (2 cores). ``--quick`` runs the first 3 × 3 corner only.
Usage: python benchmarks/bench_sweep.py [--quick] [--ray]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import report

from grokscope.sweep.runner import run_sweep
from grokscope.sweep.spec import expand, load_spec


def spec(quick: bool):
    s = load_spec(preset="fig3e", quick=True)
    if quick:
        s.axes = {k: v[:3] for k, v in s.axes.items()}
    return s


def timed(backend: str, workers: int | None, quick: bool) -> tuple[float, int]:
    s = spec(quick)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        df = run_sweep(s, Path(d) / "sweep", backend=backend, workers=workers, progress=False)
        wall = time.perf_counter() - t0
    bad = df[df["status"] != "completed"]
    if len(bad):
        raise SystemExit(f"{backend}: {len(bad)} runs did not complete: {bad[['run_id', 'status', 'error']]}")
    return wall, len(df)


def main() -> None:
    quick = "--quick" in sys.argv
    default = torch.get_num_threads()
    cases = [("local", None, default)] + ([("local", None, 1)] if default > 1 else []) + [("process", 2, 1)]
    cases += [("ray", 2, 1)] if "--ray" in sys.argv else []
    rows = []
    base = None
    for backend, workers, threads in cases:
        torch.set_num_threads(threads if backend == "local" else default)
        wall, n = timed(backend, workers, quick)
        base = base or wall
        rows.append({"sweep": "fig3e --quick" + (" (3x3)" if quick else ""), "backend": backend,
                     "workers": workers or 1, "threads": threads, "runs": n, "wall_s": wall,
                     "runs_per_s": n / wall, "speedup_vs_local": base / wall})
    report("sweep: quick Fig 3(e) phase diagram", rows)
    print(f"\n{len(expand(spec(quick)))} runs of {spec(quick).base.train.steps} steps each")


if __name__ == "__main__":
    main()
