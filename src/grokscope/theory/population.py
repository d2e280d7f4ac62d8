"""Population (P = ∞, online) gradient descent of the quadratic committee, exactly, on (w̄, M).

GD on the population loss L = E_x[(f̃(x) − y(x))²], x ~ N(0, I/D), with f̃ = u·x + ½xᵀSx,
u = α(w̄ − w̄₀), S = αε(M − M₀) (centred; uncentred drops w̄₀, M₀). L is
diagnostics.sufficient.population_loss(0, u, S, target):

    L = v² + ‖S − B‖_F²/(2D²) + |u − b|²/D + orth_power,   v = −c0 + Tr(S − B)/(2D).

Since u = (α/N) Σ_i w_i and S = (αε/N) Σ_i w_i w_iᵀ, the gradient for neuron i is

    ∇_{w_i} L = (α/N) ∇_u L + (2αε/N) ∇_S L · w_i = (2α/N)(s + εA w_i),
    s = ½∇_u L = (u − b)/D,   A = ∇_S L = v I/D + (S − B)/D²,

i.e. the finite-P rule with the sample means replaced by Gaussian expectations (s = E[r x],
A = E[r x xᵀ]). It is affine in w_i, so with c = 2ηα/N, T = I − cεA:

    w̄ ← T w̄ − c s,   M ← T M Tᵀ − c(T w̄ sᵀ + s w̄ᵀTᵀ) + c² s sᵀ              (exact).

Wide-limit reduction (:func:`wide_population`): from w̄ = 0, M = I with b = 0, s stays 0 and M
stays diagonal in the eigenbasis of B = Σ_k b_k v_k v_kᵀ, so the whole dynamics is G scalars
(one per distinct eigenvalue b_g, multiplicity n_g):  m_g ← (1 − cεA_g)² m_g,
A_g = v/D + (S_g − b_g)/D², S_g = αε(m_g − 1) (centred) or αε m_g, v = −c0 + Σ_g n_g(S_g − b_g)/(2D).
"""
from __future__ import annotations

import math

import torch

from grokscope.theory.closed import ClosedDynamics, iterate, loss_fns, population_moments, rate
from grokscope.theory.sufficient import decomposition
from grokscope.theory.targets import QuadraticTarget

Tensor = torch.Tensor
F64 = torch.float64


def population_dynamics(target: QuadraticTarget, alpha: float, eps: float, eta: float, N: int,
                        wbar0: Tensor, M0: Tensor, centre: bool = True) -> ClosedDynamics:
    """The exact population-GD map on (w̄, M); wbar0 (D,), M0 (D, D) are the initial statistics."""
    tg = QuadraticTarget(target.c0, target.b.to(wbar0), target.B.to(M0), target.orth_power)
    return ClosedDynamics(population_moments(tg), alpha, eps, rate(eta, alpha, N), wbar0, M0, centre)


def population_trajectory(target: QuadraticTarget, alpha: float, eps: float, eta: float, N: int,
                          wbar0: Tensor, M0: Tensor, steps: int | list[int], centre: bool = True,
                          terms: bool = False) -> dict[str, object]:
    """Exact population-loss trajectory of GD at the given ``steps`` (int T → 0..T).

    Returns {"step", "test_loss_exact", [variance, misalignment, linear, orthogonal if ``terms``],
    "wbar", "M"}. Cost O(T D³).
    """
    dyn = population_dynamics(target, alpha, eps, eta, N, wbar0, M0, centre)
    tg = QuadraticTarget(target.c0, target.b.to(wbar0), target.B.to(M0), target.orth_power)
    base = loss_fns(dyn, target=tg)

    def losses(wbar: Tensor, M: Tensor) -> dict[str, float]:
        out = base(wbar, M)
        if terms:
            out.update({k: float(v) for k, v in decomposition(*dyn.form(wbar, M), tg).items()})
        return out

    return iterate(dyn, steps, losses)


def eigen_groups(B: Tensor, rtol: float = 1e-9) -> tuple[list[float], list[int]]:
    """Distinct eigenvalues of symmetric B (D, D) and their multiplicities (ascending)."""
    ev = torch.linalg.eigvalsh(B.to(F64)).tolist()
    scale = max(1.0, max(abs(e) for e in ev))
    vals: list[float] = []
    mult: list[int] = []
    for e in ev:
        if vals and abs(e - vals[-1]) <= rtol * scale:
            vals[-1] = (vals[-1] * mult[-1] + e) / (mult[-1] + 1)
            mult[-1] += 1
        else:
            vals.append(e)
            mult.append(1)
    return vals, mult


def wide_population(target: QuadraticTarget, alpha: float, eps: float, c: float, max_steps: int,
                    centre: bool = True, record: list[int] | None = None,
                    stop_fraction: float | None = None, stop_at_half: bool = False) -> dict[str, object]:
    """Exact population GD in the wide limit (w̄₀ = 0, M₀ = I) via the G-scalar reduction.

    c = 2ηα/N (the paper's rule gives 2η₀/α). Requires target.b = 0 (else s ≠ 0 and M leaves the
    eigenbasis of B). Iterates up to ``max_steps`` (pure-Python scalars, ~µs per step); records the
    population loss and its terms at ``record`` steps; with ``stop_fraction`` stops at the first step
    where the loss is ≤ stop_fraction × its initial value; with ``stop_at_half`` stops once the
    misalignment term ‖S − B‖_F²/(2D²) has halved.

    Returns {"step", "loss", "variance", "misalignment", "t_half_misalignment", "t_stop",
    "groups": (b_g, n_g), "m": final m_g}; t_* are None when not reached.
    """
    if float(target.b.abs().max()) > 0:
        raise ValueError("wide_population: target has a linear part b ≠ 0; use population_trajectory")
    D = target.B.shape[0]
    bs, ns = eigen_groups(target.B)
    G = len(bs)
    m = [1.0] * G
    ae = alpha * eps
    off = 1.0 if centre else 0.0
    orth = float(target.orth_power)
    rec = set(record or [])
    out: dict[str, list] = {"step": [], "loss": [], "variance": [], "misalignment": []}
    mis0 = None
    loss0 = None
    t_half = t_stop = None
    for t in range(max_steps + 1):
        d = [ae * (m[g] - off) - bs[g] for g in range(G)]
        v = -target.c0 + sum(ns[g] * d[g] for g in range(G)) / (2 * D)
        mis = sum(ns[g] * d[g] * d[g] for g in range(G)) / (2 * D * D)
        loss = v * v + mis + orth
        if t == 0:
            mis0, loss0 = mis, loss
        if t_half is None and mis <= 0.5 * mis0:
            t_half = t
        if t in rec:
            for k, val in (("step", t), ("loss", loss), ("variance", v * v), ("misalignment", mis)):
                out[k].append(val)
        if stop_fraction is not None and loss <= stop_fraction * loss0:
            t_stop = t
            break
        if stop_at_half and t_half is not None:
            break
        if not math.isfinite(loss):
            break
        if t < max_steps:
            k = c * eps
            m = [(1.0 - k * (v / D + d[g] / (D * D))) ** 2 * m[g] for g in range(G)]
    return {**out, "t_half_misalignment": t_half, "t_stop": t_stop, "groups": (bs, ns), "m": m,
            "loss0": loss0, "misalignment0": mis0}
