"""Reduced engine vs network engine: per-step time at Figure-1 size (D=100, P=550, N=500).

Flops per step (multiply-add = 2), counting only the GEMMs (elementwise passes are O(P·m)):
  reduced: H = XU (2·P·D·m) + XᵀR (2·P·D·m), m = min(N, D+1) = 101  → 4·P·D·m ≈ 22.2 MFLOP
  network: H = XWᵀ (2·P·N·D) + HᵀXv (2·P·N·D)                        → 4·P·N·D = 110 MFLOP
Row "gemms": the step's two products alone (H = XU, then XᵀH into a spare buffer, same shapes and
layouts), the BLAS bound for any step built on them: the step's distance to it is the element-wise
and per-op cost between the products. GFLOP/s is reported against the matmul ceiling (the 1024×1024 matmul of ``common.matmul_ceiling``, 2n³
flops) measured in this process, interleaved with the engines' rounds so a busy machine slows all
three alike; each figure is the best round. Rows for the default thread count and for 1 thread.
Usage: python benchmarks/bench_reduced.py [--quick]
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import interleaved, report

from grokscope.config import load_config
from grokscope.engines.reduced import build_reduced
from grokscope.engines.registry import EngineInputs
from grokscope.training.build import build

D, P, N = 100, 550, 500
M_COLS = min(N, D + 1)
FLOPS = {"reduced": 4 * P * D * M_COLS, "gemms": 4 * P * D * M_COLS, "network": 4 * P * N * D}


def engines(dtype: str):
    """Network and reduced engines of the Figure-1 run (centred, α = 1, ε = 0.02, η = N/α²)."""
    cfg = load_config({"task": {"D": D, "P": P, "P_test": 1000}, "model": {"N": N, "eps": 0.02},
                       "scaling": {"alpha": 1.0, "centre": True}, "optim": {"lr": 1.0},
                       "train": {"dtype": dtype, "device": "cpu", "progress": False, "engine": "network"}})
    b = build(cfg)
    net = b.engine
    return net, build_reduced(EngineInputs(cfg, b.data, b.model, b.params0, b.loss, b.eta, torch.Generator()))


def gemm_pair(red):
    """The reduced step's two products alone: H = XU (P, m) and XᵀH (D, m) into a spare buffer."""
    X, U, H = red.data.X_train, red.U, torch.empty_like(red._H)
    out = torch.empty_like(U)

    def fn():
        torch.mm(X, U, out=H)
        torch.addmm(U, X.T, H, alpha=1e-12, out=out)
    return fn


def main() -> None:
    rounds = 8 if "--quick" in sys.argv else 30
    threads = [torch.get_num_threads()] + ([1] if torch.get_num_threads() > 1 else [])
    rows = []
    for nt in threads:
        torch.set_num_threads(nt)
        for dtype in ("float64", "float32"):
            net, red = engines(dtype)
            a = torch.randn(1024, 1024, dtype=getattr(torch, dtype))
            for _ in range(3):
                net.step(), red.step(), a @ a
            t = interleaved({"network": (net.step, 4), "reduced": (red.step, 20),
                             "gemms": (gemm_pair(red), 20), "ceiling": (lambda a=a: a @ a, 2)}, rounds)
            ceiling = 2 * 1024**3 / t["ceiling"] / 1e9
            for name in ("network", "reduced", "gemms"):
                gf = FLOPS[name] / t[name] / 1e9
                rows.append({"threads": nt, "dtype": dtype, "engine": name, "ms_per_step": 1e3 * t[name],
                             "MFLOP_per_step": FLOPS[name] / 1e6, "GFLOP_s": gf, "ceiling_GFLOP_s": ceiling,
                             "pct_ceiling": 100 * gf / ceiling,
                             "speedup_vs_network": t["network"] / t[name],
                             "s_per_100k_steps": 1e5 * t[name]})
    report("reduced_engine_step", rows)


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
