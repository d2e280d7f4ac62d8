"""Gradient flow (theory/flow.py, hand-written Dormand–Prince 5(4)) against scipy's solve_ivp on the
same closed (w̄, M) dynamics: wall time, right-hand-side evaluations and the time per evaluation.

Baseline: ``scipy.integrate.solve_ivp(method="RK45")`` (the same 5(4) pair) and ``"DOP853"``, same
rtol/atol and output times, measured in this process and interleaved with ours (best of 3 each).
Flops per right-hand side (approximate, GEMM-like terms only): the train-set moments s, A cost
≈ 4·P·D² (residuals r = f(X) − y with xᵀMx over P points, then A = Xᵀ diag(r) X) and ε(AM + MA)
4·D³, so ≈ 4PD² + 4D³; GFLOP/s is reported against the matmul ceiling of ``common.matmul_ceiling``.
Usage: python benchmarks/bench_flow.py [--quick]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import matmul_ceiling, report

from grokscope.theory.closed import empirical_dynamics, loss_fns, stats_from_weights
from grokscope.theory.flow import _pack, _unpack, flow

F64 = torch.float64


def problem(D: int, seed: int = 0):
    """A quadratic single-index target on P = 5D Gaussian points, N = 10 units, α = 1, ε = 0.3."""
    g = torch.Generator().manual_seed(seed)
    P, N = 5 * D, 10
    X = torch.randn(P, D, generator=g, dtype=F64)
    beta = torch.randn(D, generator=g, dtype=F64)
    beta /= beta.norm()
    y = (X @ beta) ** 2 - 1 + X @ beta
    w0, M0 = stats_from_weights(torch.randn(N, D, generator=g, dtype=F64))
    dyn = empirical_dynamics(X, y, 1.0, 0.3, 0.4 * N, N, w0, M0)
    return dyn, loss_fns(dyn, X, y), P


def main(quick: bool) -> None:
    from scipy.integrate import solve_ivp
    ceiling = matmul_ceiling(F64)
    rows = []
    for D in ((10,) if quick else (10, 30)):
        dyn, L, P = problem(D)
        times = [0.0, 100.0, 1000.0, 5000.0]
        flops = 4 * P * D * D + 4 * D**3

        def rhs(_t, v, D=D, dyn=dyn):
            dw, dM = dyn.velocity(*_unpack(torch.from_numpy(v), D))
            return _pack(dw, dM).numpy()
        best = {"grokscope dopri5": float("inf"), "scipy RK45": float("inf"), "scipy DOP853": float("inf")}
        nfev = {}
        for _ in range(3):
            t0 = time.perf_counter()
            out = flow(dyn, times, L, rtol=1e-9, atol=1e-12)
            best["grokscope dopri5"] = min(best["grokscope dopri5"], time.perf_counter() - t0)
            nfev["grokscope dopri5"] = out["stats"]["fev"]
            for m in ("RK45", "DOP853"):
                t0 = time.perf_counter()
                sol = solve_ivp(rhs, (0.0, times[-1]), _pack(dyn.wbar0, dyn.M0).numpy(), method=m,
                                t_eval=times, rtol=1e-9, atol=1e-12)
                best[f"scipy {m}"] = min(best[f"scipy {m}"], time.perf_counter() - t0)
                nfev[f"scipy {m}"] = sol.nfev
        base = best["scipy RK45"]
        for name, t in best.items():
            rows.append({"D": D, "solver": name, "wall_s": t, "rhs_evals": nfev[name],
                         "us_per_eval": 1e6 * t / nfev[name], "vs_scipy_RK45": t / base,
                         "GFLOP/s": nfev[name] * flops / t / 1e9, "ceiling_GFLOP/s": ceiling})
    report("gradient flow: grokscope dopri5 vs scipy solve_ivp", rows)


if __name__ == "__main__":
    main("--quick" in sys.argv)
