"""Batched ensemble vs a loop of single runs at Figure-1 size (D=100, P=550, N=500), float64.

E members with per-member α (log-spaced in [0.5, 2]), ε and init seed, η = η₀N/α². Per member-step:
  loop      one single engine's step (NetworkEngine / ReducedEngine), the cost of running the
            members one after another (a loop of single runs, probes excluded)
  ensemble  one EnsembleNetwork / EnsembleReduced step divided by E
ratio = loop / ensemble per member-step (target ≥ 2×). Flops per member-step, GEMMs only:
  network 4·P·N·D + 2·P·D ≈ 110 MFLOP;  reduced 4·P·D·m, m = min(N, D+1) = 101 ≈ 22.2 MFLOP,
reported as GFLOP/s against the matmul ceiling (``common.matmul_ceiling``) of the same device,
timed in interleaved rounds (best round each) so a busy machine slows every candidate alike.
On CPU: rows for the default thread count and for 1 thread.
Usage: python benchmarks/bench_ensemble.py [--quick] [--device cpu|cuda] [--members 16,64]
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import best_time, report

from grokscope.batched import _ensemble
from grokscope.config import load_config
from grokscope.train import build

D, P, N = 100, 550, 500
M_COLS = min(N, D + 1)
FLOPS = {"network": 4 * P * N * D + 2 * P * D, "reduced": 4 * P * D * M_COLS}


def _arg(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def configs(E: int, engine: str, device: str):
    alphas = torch.logspace(-0.30103, 0.30103, E).tolist()
    return [load_config({"task": {"D": D, "P": P, "P_test": 1000},
                         "model": {"N": N, "eps": 0.02 * (1 + 0.1 * (i % 4)), "seed": i},
                         "scaling": {"alpha": a, "centre": True}, "optim": {"lr": 1.0},
                         "train": {"dtype": "float64", "device": device, "progress": False, "engine": engine}})
            for i, a in enumerate(alphas)]


def _sync(device: str):
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def bench(E: int, engine: str, device: str, rounds: int) -> dict:
    cfgs = configs(E, engine, device)
    bs = [build(c) for c in cfgs]
    ens = _ensemble(bs, cfgs[0])
    singles = [build(c)["engine"] for c in cfgs[:4]]  # the loop's per-member cost: same for every member
    sync = _sync(device)
    a = torch.randn(1024, 1024, dtype=torch.float64, device=device)

    def loop() -> None:
        for s in singles:
            s.step()
        sync()

    def batched() -> None:
        ens.step()
        sync()

    def ceiling() -> None:
        a @ a
        sync()

    n_ens = max(1, 64 // E) if device == "cpu" else 20
    fns = {"loop": (loop, 2 if device == "cpu" else 20), "ensemble": (batched, n_ens), "ceiling": (ceiling, 4)}
    for fn, _ in fns.values():
        fn()
    best = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, (fn, number) in fns.items():
            best[k] = min(best[k], best_time(fn, repeat=1, number=number, warmup=0))
    loop_ms = 1e3 * best["loop"] / len(singles)
    ens_ms = 1e3 * best["ensemble"] / E
    ceil = 2 * 1024**3 / best["ceiling"] / 1e9
    gf = FLOPS[engine] / (ens_ms / 1e3) / 1e9
    gf_loop = FLOPS[engine] / (loop_ms / 1e3) / 1e9
    return {"device": device, "threads": torch.get_num_threads(), "engine": engine, "members": E,
            "loop_ms_per_member_step": loop_ms, "ensemble_ms_per_member_step": ens_ms,
            "ratio": loop_ms / ens_ms, "ensemble_GFLOP_s": gf, "loop_GFLOP_s": gf_loop,
            "ceiling_GFLOP_s": ceil, "ensemble_pct_ceiling": 100 * gf / ceil,
            "loop_pct_ceiling": 100 * gf_loop / ceil}


def main() -> None:
    quick = "--quick" in sys.argv
    device = _arg("--device", "cuda" if torch.cuda.is_available() else "cpu")
    members = [int(x) for x in _arg("--members", "16,64").split(",")]
    rounds = 4 if quick else 12
    threads = [torch.get_num_threads()] + ([1] if device == "cpu" and torch.get_num_threads() > 1 else [])
    rows = []
    for nt in threads:
        torch.set_num_threads(nt)
        rows += [bench(E, engine, device, rounds) for engine in ("network", "reduced") for E in members]
    report(f"ensemble_step_{device}", rows)


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
