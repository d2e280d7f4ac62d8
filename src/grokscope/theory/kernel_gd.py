"""Spectral factors of gradient descent on a kernel (a model linear in its parameters), one copy.

Full-batch GD with learning rate η on L = (1/n)‖f̃ − y‖² moves the train residual r = f̃ − y as
r_{t+1} = (I − cK) r_t, c = 2η/n. In the eigenbasis K = V diag(λ) Vᵀ every mode evolves alone:

    q_t = (1 − cλ)^t                                 residual factor   r_t = V (q_t ⊙ Vᵀr₀)
    g_t = c Σ_{s<t} (1 − cλ)^s = (1 − q_t)/λ         coefficient factor (→ tc as λ → 0)

with f̃_t(x) = f̃₀(x) − Σ_μ a_{t,μ} K(x, x_μ), a_t = V (g_t ⊙ Vᵀr₀). Users: the closed-form
linearised twin (:class:`grokscope.engines.linearised.ClosedFormTwin`), the kernel-limit theory
(:class:`grokscope.theory.kernel_limit.KernelGD`) and the population kernel curve
(:func:`grokscope.theory.spectrum.population_kernel_curve`).

t = ∞ (``math.inf``) is the limit of the finite-t factors, mode by mode (x = cλ):

    |λ| ≤ tol or c = 0  frozen: q = 1, g = 0 (the mode never moves; ridgeless = pseudo-inverse)
    0 < x < 2           stable: q = 0, g = 1/λ (ridgeless kernel regression, a_∞ = K⁺ r₀)
    x > 2 or λ < −tol   divergent: |1 − x| > 1, so |q_t| and |g_t| grow without bound: q = g = +inf
                        (for x > 2 the sign alternates with t; +inf is the limit of |q_t|, and any
                        loss built from q² is +inf, as the finite-t factors give for large t)
    x = 2               marginal: q_t = (−1)^t, g_t ∈ {0, 2/λ}: no limit, q = g = nan

so a run past the stability limit η ≥ n/λ_max reads as diverged at t = ∞, never as converged.
"""
from __future__ import annotations

import math

import torch

Tensor = torch.Tensor


def gd_rate(eta: float, n: int) -> float:
    """c = 2η/n: the residual map is r ← (I − cK) r for L = (1/n)‖f̃ − y‖²."""
    return 2.0 * float(eta) / n


def spectral_factors(lam: Tensor, c: float, t: float, tol: float) -> tuple[Tensor, Tensor]:
    """(q_t, g_t), each shaped like ``lam`` (the Gram eigenvalues): q = (1 − cλ)^t, g = (1 − q)/λ
    (tc for |λ| ≤ tol); ``t`` a number of steps, ``math.inf`` allowed (limits: module docstring).
    For 1 − cλ > 0 the powers go through log1p/expm1 so 1 − q stays accurate for tiny cλ."""
    zero = lam.abs() <= tol
    if math.isinf(t):
        x = c * lam
        g_live = 1.0 / torch.where(zero, 1.0, lam)
        q = zero.to(lam.dtype)
        g = torch.where(zero, 0.0, g_live)
        still = ~zero & (x == 0.0)  # c = 0: nothing moves
        bad = ~zero & ((x >= 2.0) | (x < 0.0))
        if bool(bad.any() | still.any()):  # past the stability limit: no finite limit (module docstring)
            limit = torch.where(x == 2.0, math.nan, math.inf).to(lam.dtype)
            q = torch.where(bad, limit, torch.where(still, 1.0, q))
            g = torch.where(bad, limit, torch.where(still, 0.0, g))
        return q, g
    x = c * lam
    safe = x < 1.0  # 1 − cλ > 0: log1p/expm1 keep 1 − q accurate for tiny cλ
    lq = t * torch.log1p(-torch.where(safe, x, 0.0))
    q = torch.where(safe, torch.exp(lq), torch.pow(1.0 - x, float(t)))
    one_minus_q = torch.where(safe, -torch.expm1(lq), 1.0 - q)
    g = torch.where(zero, t * c, one_minus_q / torch.where(zero, 1.0, lam))
    return q, g


def spectral_factor_table(lam: Tensor, c: float, steps: list[float] | tuple[float, ...], tol: float
                          ) -> tuple[Tensor, Tensor]:
    """:func:`spectral_factors` at each of ``steps``: (q, g), each (T, len(lam))."""
    rows = [spectral_factors(lam, c, float(s), tol) for s in steps]
    if not rows:
        empty = lam.new_empty(0, lam.shape[-1])
        return empty, empty.clone()
    return torch.stack([r[0] for r in rows]), torch.stack([r[1] for r in rows])
