"""Autograd ensemble (engines/ensemble_autograd.py, torch.func.vmap) vs a loop of single RNN engines, at
the paper's size for Liu et al.: N = 300, T = 8 steps, batch 32, 3 classes, float32, SGD momentum.

E members differ as in the ``liu-rank`` sweep: W_rec at rank r ∈ {1, 30, 100, 300} and aligned rank 1
(repeated for E > 5), seeds 0…E−1. Per member-step:
  loop      one single NetworkEngine step (autograd BPTT): members run one after another
  ensemble  one EnsembleAutograd step divided by E
ratio = loop / ensemble. Flops per member-step, GEMMs only: forward 2·B·T·(N² + N·n_in + N·K), backward
twice that, so 6·B·T·(N² + N·n_in + N·K) ≈ 139 MFLOP, reported as GFLOP/s against the float32 matmul
ceiling measured in the same run (``common.matmul_ceiling``). Timed in interleaved rounds (best round
each). Rows for the default thread count and 1 thread, idle and beside a busy neighbour process
(``yes > /dev/null``, one core's worth of load), started and stopped by this script.
Usage: python benchmarks/bench_ensemble_rnn.py [--quick] [--members 5,15]
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import interleaved, matmul_ceiling, report

from grokscope.config import load_config
from grokscope.config.presets import get_preset
from grokscope.training.batched import ensemble_of
from grokscope.training.build import build

N, T, B, N_IN, K = 300, 8, 32, 8, 10  # seq_digits: 8 rows of 8 pixels, 10 classes (no neurogym needed)
INITS = [{"kind": "lowrank", "rank": r} for r in (1, 30, 100, 300)] + [{"kind": "aligned", "rank": 1}]


def configs(E: int):
    return [load_config(get_preset("liu-seqdigits"), {"task.n_train": 640, "task.n_test": 64, "model.seed": i,
                                          "init.recurrent": INITS[i % len(INITS)], "train.progress": False})
            for i in range(E)]


def bench(E: int, rounds: int) -> dict:
    cfgs = configs(E)
    ens = ensemble_of([build(c) for c in cfgs], cfgs[0])
    singles = [build(c).engine for c in cfgs[:2]]  # the loop's per-member cost: the same for every member

    def loop() -> None:
        for s in singles:
            s.step()

    fns = {"loop": (loop, 3), "ensemble": (ens.step, max(1, 15 // E))}
    for fn, _ in fns.values():
        fn()
    best = interleaved(fns, rounds)
    loop_ms, ens_ms = 1e3 * best["loop"] / len(singles), 1e3 * best["ensemble"] / E
    fl = 6 * B * T * (N * N + N * N_IN + N * K)
    ceil = matmul_ceiling(torch.float32)
    return {"threads": torch.get_num_threads(), "members": E, "loop_ms_per_member_step": loop_ms,
            "ensemble_ms_per_member_step": ens_ms, "ratio": loop_ms / ens_ms,
            "ensemble_GFLOP_s": fl / ens_ms / 1e6, "loop_GFLOP_s": fl / loop_ms / 1e6, "ceiling_GFLOP_s": ceil,
            "ensemble_pct_ceiling": 100 * fl / ens_ms / 1e6 / ceil}


def main() -> None:
    rounds = 4 if "--quick" in sys.argv else 10
    members = [int(x) for x in (sys.argv[sys.argv.index("--members") + 1] if "--members" in sys.argv
                                else "5,15").split(",")]
    threads = [torch.get_num_threads()] + ([1] if torch.get_num_threads() > 1 else [])
    rows = []
    for neighbour in ("idle", "busy"):
        proc = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) if neighbour == "busy" else None
        try:
            for nt in threads:
                torch.set_num_threads(nt)
                rows += [{"neighbour": neighbour, **bench(E, rounds)} for E in members]
        finally:
            if proc is not None:
                proc.kill()
                proc.wait()
    report("ensemble_autograd_rnn_cpu", rows)


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
