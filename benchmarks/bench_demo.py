"""The whole ``grokscope demo`` (Figure 1: 10⁵ GD steps at D=100, P=550, N=500 with every diagnostic,
figures and report), timed end to end as a user runs it, against the naive network loop.

Each dtype's demo runs as a subprocess (``python -m grokscope.cli demo``, start-up and imports
included) into a temporary folder; its summary.json gives the split into training, probes and the
rest. Baseline ("naive"): the textbook autograd loop of ``bench_network.naive_loop`` (the network, not
the reduced engine), timed here for 200 steps and scaled to 10⁵ — the demo without any diagnostic as
a newcomer would write it. GFLOP/s: the reduced step's 4·P·D·(D+1) flops × steps / training seconds,
against the matmul ceiling of that dtype measured in this run.
Usage: python benchmarks/bench_demo.py [--quick]   (--quick: 10⁴ steps, naive scaled to 10⁴)
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
from bench_network import naive_loop
from common import best_time, matmul_ceiling, report

D, P = 100, 550
FLOPS_PER_STEP = 4 * P * D * (D + 1)


def demo(dtype: str, steps: int) -> dict:
    """Wall seconds of one ``grokscope demo`` subprocess and its summary's timings."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "grokscope.cli", "demo", "--no-progress", "--out", tmp, "--name", "d",
               "--set", f"train.dtype={dtype}", "--set", f"train.steps={steps}"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=os.environ.copy())
        wall = time.perf_counter() - t0
        summary = json.loads((Path(tmp) / "d" / "summary.json").read_text())
    tm = summary["timings"]
    return {"wall_s": wall, "train_s": tm["train_s"], "probes_s": sum(tm["probes_s"].values()),
            "grok_amount": summary["events"]["absolute"]["0.1"]["grok_amount"]}


def main() -> None:
    steps = 10_000 if "--quick" in sys.argv else 100_000
    rows = []
    for dt in ("float32", "float64"):
        dtype = getattr(torch, dt)
        naive_s = best_time(lambda dtype=dtype: naive_loop(dtype, 200), repeat=3) / 200 * steps
        d = demo(dt, steps)
        gf = FLOPS_PER_STEP * steps / d["train_s"] / 1e9
        ceil = matmul_ceiling(dtype)
        rows.append({"dtype": dt, "steps": steps, "demo_wall_s": d["wall_s"], "train_s": d["train_s"],
                     "probes_s": d["probes_s"], "rest_s": d["wall_s"] - d["train_s"] - d["probes_s"],
                     "naive_network_loop_s": naive_s, "speedup_vs_naive": naive_s / d["wall_s"],
                     "train_GFLOP_s": gf, "ceiling_GFLOP_s": ceil, "train_pct_ceiling": 100 * gf / ceil,
                     "grok_amount": d["grok_amount"]})
    report(f"grokscope demo end to end ({steps} steps, every diagnostic, figures and report)", rows)


if __name__ == "__main__":
    main()
