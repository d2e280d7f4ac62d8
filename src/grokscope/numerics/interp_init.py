"""Initial weights interpolated toward the committee's analytic solution (paper Fig 10, ``init.interp``).

The solution W⋆ (N, D). For a quadratic committee f(x) = (1/N) Σ_i φ(w_i·x), φ(h) = h + (ε/2)h²,
α f(x) = α w̄·x + (αε/2) xᵀMx with w̄ = Wᵀ1/N and M = WᵀW/N. A target y = ½ xᵀBx (B = Σ_j λ_j u_j u_jᵀ,
positive semi-definite, no constant or linear part: the single- and multi-index targets) is fitted
exactly by any W with w̄ = 0 and αεM = B. W⋆ builds it from ± pairs: pair k (k = 0..⌊N/2⌋ − 1) takes
the eigen-direction j = k mod r (r = rank B) with w = ±c_j u_j, c_j² = Nλ_j/(2 n_j αε), n_j the pairs
on direction j; an odd N leaves its last neuron at 0. For N = 2 and y = ½(β·x)² this is the authors'
w₁ = −w₂ = β/√(αε) (their cell: α = 1).

The initial weights are W₀ ← interp·W⋆ + (1 − interp)·W₀ (interp = 0: the random draw, 1: the solution).
The solution is of the *uncentred* predictor (the config refuses ``init.interp`` with centring).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from grokscope.config import ConfigError

__all__ = ["analytic_solution", "interpolate_init"]


def analytic_solution(B: Tensor, N: int, alpha: float, eps: float, tol: float = 1e-10) -> Tensor:
    """W⋆ (N, D), float64, with Wᵀ1 = 0 and (αε/N) W⋆ᵀW⋆ = B (see the module docstring).

    Raises ``ValueError`` when B is not positive semi-definite (to ``tol`` relative), αε ≤ 0, or
    N < 2·rank(B)."""
    if not alpha * eps > 0:
        raise ValueError(f"αε = {alpha * eps!r}: the solution needs αε > 0")
    B = B.to(torch.float64)
    B = 0.5 * (B + B.T)
    lam, U = torch.linalg.eigh(B)
    scale = float(lam.abs().max()) if lam.numel() else 0.0
    if scale == 0.0:
        return torch.zeros(N, B.shape[0], dtype=torch.float64)
    if float(lam.min()) < -tol * scale:
        raise ValueError(f"the target's quadratic part has a negative eigenvalue {float(lam.min()):.3g}: "
                         "no committee with ± pairs fits it")
    keep = lam > tol * scale
    lam, U = lam[keep].flip(0), U[:, keep].flip(1)  # largest first
    r, pairs = int(lam.numel()), N // 2
    if pairs < r:
        raise ValueError(f"model.N = {N}: the target has rank {r}, the solution needs N ≥ {2 * r}")
    W = torch.zeros(N, B.shape[0], dtype=torch.float64)
    n_j = [len(range(j, pairs, r)) for j in range(r)]
    for k in range(pairs):
        j = k % r
        c = math.sqrt(N * float(lam[j]) / (2 * n_j[j] * alpha * eps))
        W[2 * k] = c * U[:, j]
        W[2 * k + 1] = -c * U[:, j]
    return W


def interpolate_init(params: dict[str, Tensor], cfg: Any, model: Any, data: Any) -> dict[str, Tensor]:
    """params with W ← interp·W⋆ + (1 − interp)·W (``cfg.init.interp``; cfg a Config). Checked before any
    training (else :class:`ConfigError`): the task must have a known target ½xᵀBx with no constant,
    linear or orthogonal part, and the model's own quadratic form at W⋆ (``model.quadratic_form``:
    c + u·x + ½xᵀSx) must equal it, αc = 0, αu = 0, αS = B, to 1e-9 relative — which holds for the
    quadratic φ with readouts fixed to 1, and fails for trained readouts, He₂'s constant or no form."""
    lam = float(cfg.init.interp)
    if lam == 0.0:
        return params
    key = f"init.interp = {lam!r}"
    target = getattr(data, "target", None)
    if target is None or target.orth_power or float(abs(target.c0)) or bool(target.b.abs().max() > 0):
        raise ConfigError(f"{key}: needs a known target ½xᵀBx with no constant, linear or degree > 2 part "
                          f"(task.target = single_index or multi_index)")
    form = getattr(model, "quadratic_form", None)
    if form is None or "W" not in params or not hasattr(model, "eps"):
        raise ConfigError(f"{key}: needs the committee with a quadratic φ (the analytic solution w̄ = 0, "
                          f"αεM = B); model.name = {cfg.model.name!r} has no quadratic form")
    alpha, eps, N = float(cfg.scaling.alpha), float(model.eps), int(params["W"].shape[0])
    try:
        W_star = analytic_solution(target.B, N, alpha, eps)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    W0 = params["W"]
    W_star = W_star.to(W0.device)
    q = form({**params, "W": W_star, "a": params["a"].to(torch.float64)})
    err = float("inf")
    if q is not None:
        c, u, S = (alpha * t.to(torch.float64) for t in q)
        B = target.B.to(S.device, torch.float64)
        err = max(float(c.abs()), float(u.abs().max()), float((S - B).abs().max()) / float(B.abs().max()))
    if not err <= 1e-9:
        raise ConfigError(f"{key}: this model does not reach the target at W⋆ (relative error {err:.2g}): needs "
                          "model.phi = quadratic with model.readouts = fixed and readout_init = ones")
    out = dict(params)
    out["W"] = (lam * W_star + (1.0 - lam) * W0.to(torch.float64)).to(W0.dtype)
    return out
