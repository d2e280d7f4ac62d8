"""``grokscope demo`` idle and beside a busy neighbour, in the same run (issue #17's load target:
≤ 40 s idle, ≤ 1.3× the idle time with one busy neighbour).

The neighbour is one ``yes > /dev/null`` process: it keeps one core busy for the whole demo. Each
setting runs the demo as a subprocess (start-up and imports included): grokscope's default threads
('auto': the free cores, re-read at every probe point) and, as the named baseline, torch's own
setting for the whole run (threads=None: what grokscope did before 'auto').
GFLOP/s: the reduced step's 4·P·D·(D+1) flops × steps / training seconds, against the float32 matmul
ceiling measured in this run (idle).
Usage: python benchmarks/bench_load.py [--quick]   (--quick: 10⁴ steps)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import matmul_ceiling, report

D, P = 100, 550
FLOPS_PER_STEP = 4 * P * D * (D + 1)
BASELINE = """
import sys
from grokscope.cli import main
import grokscope.api as api
_run = api.run
api.run = lambda *a, **k: _run(*a, **{**k, "threads": None})
sys.exit(main(sys.argv[1:]))
"""


def demo(steps: int, threads: str) -> dict:
    """Wall seconds of one ``grokscope demo`` subprocess (threads: 'auto' or 'torch') and its timings."""
    with tempfile.TemporaryDirectory() as tmp:
        args = ["demo", "--no-progress", "--out", tmp, "--name", "d", "--set", f"train.steps={steps}"]
        head = [sys.executable, "-c", BASELINE] if threads == "torch" else [sys.executable, "-m", "grokscope.cli"]
        t0 = time.perf_counter()
        subprocess.run(head + args, check=True, stdout=subprocess.DEVNULL, env=os.environ.copy())
        wall = time.perf_counter() - t0
        tm = json.loads((Path(tmp) / "d" / "summary.json").read_text())["timings"]
    return {"wall_s": wall, "train_s": tm["train_s"], "probes_s": sum(tm["probes_s"].values())}


def main() -> None:
    steps = 10_000 if "--quick" in sys.argv else 100_000
    ceil = matmul_ceiling(torch.float32)
    rows, idle = [], {}
    for neighbour in (False, True):
        yes = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) if neighbour else None
        try:
            for threads in ("auto", "torch"):
                d = demo(steps, threads)
                if not neighbour:
                    idle[threads] = d["wall_s"]
                rows.append({"neighbour": "yes > /dev/null" if neighbour else "none", "threads": threads,
                             "steps": steps, "demo_wall_s": d["wall_s"], "train_s": d["train_s"],
                             "probes_s": d["probes_s"], "vs_idle": d["wall_s"] / idle[threads],
                             "train_GFLOP_s": FLOPS_PER_STEP * steps / d["train_s"] / 1e9,
                             "pct_idle_ceiling": 100 * FLOPS_PER_STEP * steps / d["train_s"] / 1e9 / ceil})
        finally:
            if yes is not None:
                yes.kill()
                yes.wait()
    report(f"grokscope demo idle and beside a busy neighbour ({steps} steps; target: auto ≤ 40 s idle, "
           "≤ 1.3× idle with the neighbour)", rows)


if __name__ == "__main__":
    main()
