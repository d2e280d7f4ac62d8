"""Deterministic equivalents for the initial-NTK Gram matrix of the wide committee at P/D = γ.

Pure numpy, float64, imports nothing from grokscope (derivation: docs/theory-asymptotic.md §3).

In the proportional regime (D → ∞, P = γD) the centred wide-limit NTK Gram matrix on the train set,
normalised by κ = α²/N (so that ηκ = η₀ under the paper's lr rule), is

    K = XXᵀ + λ_tr I + b v vᵀ + o(1),   λ_tr = ε²σ²(1 + 1/D − 2/D²),   b = ε²σ² P/D,   v = 1/√P,

(XXᵀ: the linear block; λ_tr I: the D(D+1)/2 − 1 traceless-quadratic modes, eigenvalue 2ε²σ²/D² each,
whose P × P Gram concentrates on its trace; b vvᵀ: the radial mode |x|², a rank-one spike.)
The eigenvalues of XXᵀ follow ν_γ, the Marchenko–Pastur law of ratio γ (atom 1 − 1/γ at 0 if γ > 1,
density √((β₊ − λ)(λ − β₋))/(2πγλ) on [β₋, β₊], β± = (1 ± √γ)²).

Two spectral measures carry every train/test quantity (module asymptotic.py):
  ν  — the normalised trace measure of K on the label-noise sector: λ_K = λ + λ_tr, λ ~ ν_γ;
  μ_v — the measure of v in the eigenbasis of K (Stieltjes s = m₀/(1 + b m₀), m₀(z) = m_ν(z − λ_tr)):
        a bulk density Im s/π plus outlier atoms at the roots of 1 + b m₀(x) = 0 with weights
        1/(b² m₀'(x)).
Both are returned as quadrature rules (nodes λ_K, weights, and the XXᵀ eigenvalue λ_K − λ_tr).
"""
from __future__ import annotations

import math

import numpy as np


def mp_edges(gamma: float) -> tuple[float, float]:
    """Support [β₋, β₊] = [(1 − √γ)², (1 + √γ)²] of the continuous part of ν_γ."""
    s = math.sqrt(gamma)
    return (1.0 - s) ** 2, (1.0 + s) ** 2


def mp_stieltjes(z: np.ndarray | complex, gamma: float) -> np.ndarray:
    """m_ν(z) = ∫ dν_γ(λ)/(λ − z) (atom included), closed form
    m = (1 − γ − z + √((z − 1 − γ)² − 4γ))/(2γz), branch with m ~ −1/z at ∞ (Im m > 0 for Im z > 0).
    z: any shape, complex or real off the support (real z inside the support: use z + i0)."""
    z = np.asarray(z, dtype=complex)
    lo, hi = mp_edges(gamma)
    root = np.sqrt(z - lo) * np.sqrt(z - hi)        # product of principal roots: ~ z at ∞, cut on [lo, hi]
    return (1.0 - gamma - z + root) / (2.0 * gamma * z)


def mp_rule(gamma: float, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature for ν_γ: nodes λ (n or n + 1 with the atom at 0) and weights summing to 1.

    Chebyshev-II substitution λ = m + h cos θ (θ midpoints), ∫ f dν = Σ w_j f(λ_j); exact to
    machine precision for polynomials of degree < 2n − 2 (times the 1/λ of the density)."""
    lo, hi = mp_edges(gamma)
    m, h = 0.5 * (lo + hi), 0.5 * (hi - lo)
    th = (np.arange(n) + 0.5) * math.pi / n
    lam = m + h * np.cos(th)
    w = (h * h * np.sin(th) ** 2) / (2.0 * math.pi * gamma * lam) * (math.pi / n)
    if gamma > 1.0:
        lam, w = np.concatenate([[0.0], lam]), np.concatenate([[1.0 - 1.0 / gamma], w])
    return lam, w


def _m0_real(x: float, gamma: float, lam_tr: float) -> float:
    """m₀(x) = m_ν(x − λ_tr) for real x off the support of ν shifted by λ_tr."""
    return float(mp_stieltjes(complex(x - lam_tr, 0.0), gamma).real)


def _bisect(f, a: float, b: float, it: int = 200) -> float:
    fa = f(a)
    for _ in range(it):
        c = 0.5 * (a + b)
        fc = f(c)
        if (fc > 0) == (fa > 0):
            a, fa = c, fc
        else:
            b = c
        if b - a <= 1e-15 * max(1.0, abs(b)):
            break
    return 0.5 * (a + b)


def spike_rule(gamma: float, lam_tr: float, b: float, n: int = 400
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quadrature for μ_v, the spectral measure of v = 1/√P in K = XXᵀ + λ_tr I + b vvᵀ.

    Returns (nodes λ_K, weights (sum 1), linear-block value ℓ_j = vᵀ-weighted XXᵀ eigenvalue, i.e.
    λ_K − λ_tr for bulk nodes). The bulk density is Im s(x + i0)/π with s = m₀/(1 + b m₀); the outliers
    are the roots of 1 + b m₀ = 0 below, between and above the pieces of the support, weight 1/(b² m₀')."""
    lo, hi = mp_edges(gamma)
    m, h = 0.5 * (lo + hi), 0.5 * (hi - lo)
    th = (np.arange(n) + 0.5) * math.pi / n
    lam = m + h * np.cos(th)
    x = lam + lam_tr
    lo_b, hi_b = mp_edges(gamma)
    dens = np.sqrt(np.clip((hi_b - lam) * (lam - lo_b), 0, None)) / (2 * math.pi * gamma * lam)
    re = (1.0 - gamma - lam) / (2.0 * gamma * lam)             # principal value on the bulk
    m0 = re + 1j * math.pi * dens
    s_im = m0.imag / np.abs(1.0 + b * m0) ** 2
    w = s_im / math.pi * (h * math.pi / n) * np.sin(th)        # dλ = h sin θ dθ
    nodes, weights = [x], [w]
    if b > 0:
        f = lambda y: 1.0 + b * _m0_real(y, gamma, lam_tr)   # noqa: E731
        gaps = []
        top = lam_tr + hi
        gaps.append((top * (1 + 1e-12) + 1e-300, top + b + 10.0 * (hi + 1.0)))   # above the bulk
        if gamma > 1.0:
            gaps.append((lam_tr * (1 + 1e-13) + 1e-300, lam_tr + lo * (1 - 1e-12)))  # atom .. bulk
        for a_, b_ in gaps:
            if not a_ < b_:
                continue
            if (f(a_) > 0) != (f(b_) > 0):
                r = _bisect(f, a_, b_)
                d = max(1e-7 * (abs(r) + 1e-3), 1e-12)
                mp_ = (_m0_real(r + d, gamma, lam_tr) - _m0_real(r - d, gamma, lam_tr)) / (2 * d)
                nodes.append(np.array([r]))
                weights.append(np.array([1.0 / (b * b * mp_)]))
    xs, ws = np.concatenate(nodes), np.concatenate(weights)
    return xs, ws, xs - lam_tr


def block_constants(D: int, eps: float, sigma: float = 1.0) -> dict[str, float]:
    """Finite-D constants of the normalised initial NTK (κ = α²/N removed): the traceless block's trace
    λ_tr = (D(D+1)/2 − 1)·2ε²σ²/D², its per-mode eigenvalue 2ε²σ²/D², the radial eigenvalue
    ε²σ²(D+2)/D² and the linear one 1/D (the Mercer blocks of theory/spectrum.py)."""
    e2 = eps * eps * sigma * sigma
    return {"lam_tr": (D * (D + 1) / 2 - 1) * 2 * e2 / D**2, "traceless": 2 * e2 / D**2,
            "radial": e2 * (D + 2) / D**2, "linear": 1.0 / D}
