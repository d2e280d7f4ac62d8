"""Mercer spectrum of the committee's initial NTK in the wide limit, and what it predicts.

At init with N → ∞ (w̄ = 0, M = I) the NTK of f̃ is K(x, x') = κ[(x·x') + ε²(x·x')²], κ = α²/N.
Its integral operator (T g)(x) = E_{x'}[K(x, x') g(x')] under x' ~ N(0, I/D) (Isserlis:
E[x'x'ᵀ (x'ᵀQx')] = (Tr Q I + 2Q)/D²) acts as

    a·x    ↦ κ (a·x)/D                                       linear:    λ = κ/D,             D modes
    xᵀQx   ↦ κε² [2 xᵀQx + Tr Q |x|²]/D²                     traceless: λ = 2κε²/D²,  D(D+1)/2 − 1 modes
    |x|²   ↦ κε² (D + 2)/D² |x|²                             radial:    λ = κε²(1/D)(1 + 2/D), 1 mode
    1      ↦ κε² |x|²/D,  so e₀ = |x|² − (D+2)/D ↦ 0            null: e₀ and every degree ≥ 3 function.

(paper.md §3.1; the paper's main text and its eq. 17 print the traceless eigenvalue as 2ε/D²; the
derivation, and the Monte Carlo check in tests/test_theory.py, give 2ε²/D². The radial eigenvalue
carries the same ε² factor.) Target y = c0 + b·x + ½xᵀBx + y⊥ splits orthogonally into
linear |b|²/D, traceless ‖B₀‖_F²/(2D²) with B₀ = B − (Tr B/D) I, and the constant-plus-radial part
g = c0 + k|x|² (k = Tr B/(2D)) whose projection on |x|² has power (c0 + k(D+2)/D)² D/(D+2), the rest
(e₀ direction) plus orth_power being null (no kernel can learn them).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from grokscope.theory.kernel_gd import gd_rate, spectral_factor_table
from grokscope.theory.sufficient import population_loss
from grokscope.theory.targets import QuadraticTarget

F64 = torch.float64
GROUPS = ("linear", "radial", "traceless", "null")


@dataclass(frozen=True)
class ModeGroup:
    """A degenerate Mercer eigenspace: eigenvalue λ (with the κ factor), multiplicity, target power."""

    name: str
    eigenvalue: float
    multiplicity: int
    power: float = 0.0


def init_ntk_spectrum(D: int, eps: float, scale: float = 1.0,
                      target: QuadraticTarget | None = None) -> list[ModeGroup]:
    """The four groups (module docstring); ``scale`` = κ = α²/N; powers filled from ``target``.

    The null group's multiplicity is reported as 0 (it is infinite; it never enters sums over λ > 0).
    """
    pw = target_powers(target) if target is not None else dict.fromkeys(GROUPS, 0.0)
    return [
        ModeGroup("linear", scale / D, D, pw["linear"]),
        ModeGroup("radial", scale * eps**2 * (D + 2) / D**2, 1, pw["radial"]),
        ModeGroup("traceless", scale * 2 * eps**2 / D**2, D * (D + 1) // 2 - 1, pw["traceless"]),
        ModeGroup("null", 0.0, 0, pw["null"]),
    ]


def target_powers(target: QuadraticTarget) -> dict[str, float]:
    """Power E[y_g²] of the target in each eigenspace; they sum to E[y²] (key ``total``)."""
    b, B = target.b.to(F64), target.B.to(F64)
    D = b.shape[0]
    k = float(torch.trace(B)) / (2 * D)
    c0 = float(target.c0)
    m4 = (D + 2) / D  # E|x|⁴
    radial = (c0 + k * m4) ** 2 / m4
    g2 = c0**2 + 2 * c0 * k + k * k * m4  # E[(c0 + k|x|²)²]
    B0 = B - (torch.trace(B) / D) * torch.eye(D, dtype=F64)
    out = {
        "linear": float(b @ b) / D,
        "radial": radial,
        "traceless": float((B0 * B0).sum()) / (2 * D * D),
        "null": max(g2 - radial, 0.0) + float(target.orth_power),
    }
    out["total"] = float(population_loss(0.0, torch.zeros(D, dtype=F64), torch.zeros(D, D, dtype=F64),
                                         target))
    return out


def eigenlearning(groups: Sequence[ModeGroup], P: int, ridge: float = 0.0) -> dict[str, object]:
    """Omniscient-risk prediction of kernel (ridge) regression from P samples (Simon et al. 2023;
    Canatar, Bordelon & Pehlevan 2021), asymptotic in P and the mode counts:

        Σ_k λ_k/(λ_k + κ) + ridge/κ = P,   L_k = λ_k/(λ_k + κ),   E₀ = P/(P − Σ_k L_k²),
        test MSE = E₀ Σ_k (1 − L_k)² v_k²,   train MSE = (ridge/(Pκ))² test MSE.

    (v_k² = group power; null power enters with L = 0.) Ridgeless with P ≥ rank (Σ of the λ > 0
    multiplicities): κ = 0, every λ > 0 mode learned, E₀ = P/(P − rank).
    Returns {kappa, learnability: {group: L}, E0, test_mse, train_mse, rank}.
    """
    live = [g for g in groups if g.eigenvalue > 0 and g.multiplicity > 0]
    rank = sum(g.multiplicity for g in live)

    def count(kappa: float) -> float:
        return sum(g.multiplicity * g.eigenvalue / (g.eigenvalue + kappa) for g in live) + (
            ridge / kappa if kappa > 0 else (math.inf if ridge > 0 else 0.0))

    if ridge == 0 and P >= rank:
        kappa = 0.0
    else:
        lo, hi = 1e-300, max(g.eigenvalue for g in live) * (rank + 1) + ridge
        for _ in range(400):  # bisection in log space on the decreasing count(κ)
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if count(mid) > P else (lo, mid)
            if hi / lo < 1 + 1e-13:
                break
        kappa = math.sqrt(lo * hi)
    learn = {g.name: (g.eigenvalue / (g.eigenvalue + kappa) if g.eigenvalue > 0 else 0.0) for g in groups}
    sum_l2 = sum(g.multiplicity * learn[g.name] ** 2 for g in live)
    E0 = P / (P - sum_l2) if P > sum_l2 else math.inf
    bias = sum((1 - learn[g.name]) ** 2 * g.power for g in groups)
    test = E0 * bias if bias > 0 else 0.0
    train = (ridge / (P * kappa)) ** 2 * test if kappa > 0 else 0.0
    return {"kappa": kappa, "learnability": learn, "E0": E0, "test_mse": test, "train_mse": train,
            "rank": rank}


def population_kernel_curve(groups: Sequence[ModeGroup], eta: float, steps: Sequence[float]) -> torch.Tensor:
    """Population (P = ∞) kernel-GD loss from f̃₀ = 0: L(t) = Σ_g v_g² q_g(t)², q = (1 − 2ηλ_g)^t
    (:func:`grokscope.theory.kernel_gd.spectral_factors` with c = 2η), (T,).

    η is the raw learning rate (λ carries κ = α²/N; under the paper rule ηκ = η₀).
    """
    lam = torch.tensor([g.eigenvalue for g in groups], dtype=F64)
    power = torch.tensor([g.power for g in groups], dtype=F64)
    q, _ = spectral_factor_table(lam, gd_rate(eta, 1), [float(s) for s in steps], 0.0)
    return (q * q * power).sum(-1)


def kernel_timescales(groups: Sequence[ModeGroup], eta: float) -> dict[str, float]:
    """e-folding time (steps) of the residual in each group under population kernel GD: 1/(2ηλ_g)
    (equivalently P/(2ηλ_Gram) with Gram eigenvalue λ_Gram ≈ Pλ_g); inf for the null group."""
    return {g.name: (1.0 / (2.0 * eta * g.eigenvalue) if g.eigenvalue > 0 else math.inf) for g in groups}
