"""Network engine GD step at Figure-1 size (D=100, P=550, N=500) vs a naive autograd loop.

Baseline ("naive"): the textbook PyTorch loop — W.requires_grad_, f = α/N Σ φ(XWᵀ), loss.backward(),
W -= η W.grad — measured in the same process. FLOPs per step: two P×D×N matmuls (forward XWᵀ and
backward HᵀX), 4·P·D·N; the O(P·N) and O(N·D) elementwise work is not counted.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import best_time, matmul_ceiling, report

from grokscope.config import load_config
from grokscope.config.presets import get_preset
from grokscope.training.build import build

D, P, N = 100, 550, 500
STEPS = 200


def naive_loop(dtype: torch.dtype, steps: int) -> None:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(P, D, generator=g, dtype=dtype) / D**0.5
    beta = torch.randn(D, generator=g, dtype=dtype)
    y = 0.5 * (X @ beta) ** 2
    W = torch.randn(N, D, generator=g, dtype=dtype).requires_grad_()
    with torch.no_grad():
        H0 = X @ W.T
        f0 = (H0 + 0.01 * H0**2).sum(1) / N
    eta = float(N)
    for _ in range(steps):
        H = X @ W.T
        f = (H + 0.01 * H**2).sum(1) / N - f0
        loss = ((f - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            W -= eta * W.grad
            W.grad = None


def main() -> None:
    rows = []
    flops = 4 * P * D * N
    for dt in ("float64", "float32"):
        dtype = getattr(torch, dt)
        cfg = load_config(get_preset("fig1"), [f"train.dtype={dt}", "train.device=cpu", "train.engine=network"])
        engine = build(cfg).engine

        def engine_steps() -> None:
            for _ in range(STEPS):
                engine.step()

        t_engine = best_time(engine_steps, repeat=5) / STEPS
        t_naive = best_time(lambda: naive_loop(dtype, STEPS), repeat=3) / STEPS
        ceil = matmul_ceiling(dtype)
        rows.append({"dtype": dt, "engine_ms": t_engine * 1e3, "naive_ms": t_naive * 1e3,
                     "speedup_vs_naive": t_naive / t_engine, "GFLOP/s": flops / t_engine / 1e9,
                     "ceiling_GFLOP/s": ceil, "pct_of_ceiling": 100 * flops / t_engine / 1e9 / ceil,
                     "demo_100k_steps_s": t_engine * 1e5})
    report("network engine GD step, Figure-1 size (D=100, P=550, N=500)", rows)


if __name__ == "__main__":
    main()
