"""Deterministic equivalents for the initial-NTK Gram matrix of the wide committee at P/D = γ.

Pure numpy, float64, imports nothing from grokscope (derivation: docs/theory-asymptotic.md §3).

The centred wide-limit NTK Gram matrix on the train set, normalised by κ = α²/N (ηκ = η₀ under the paper's
lr rule), is K = XXᵀ + W₂ + b vvᵀ: the linear block XXᵀ (D modes of eigenvalue 1/D), the traceless-quadratic
block W₂ (D₂ = D(D+1)/2 − 1 modes of λ₂ = 2ε²σ²/D², trace λ_tr = D₂λ₂, c₂ = Pλ₂) and the radial mode |x|² ≈ 1,
a rank-one spike b vvᵀ with b = ε²σ²P/D, v = 1/√P.

  gram_stieltjes / gram_rule / gram_m0 — m(z) = (1/P)Tr(XXᵀ + W₂ − z)⁻¹ from Silverstein's equation
      m = 1/(−z + 1/(1 + γm) + λ_tr/(1 + c₂m)) (Gaussian equivalence for W₂); quadrature rules for the trace
      measure ν and its linear / traceless shares; the closed form of m(0).
  mp_stieltjes / mp_rule — the k = 1 limit (W₂ → λ_tr I): Marchenko–Pastur law ν_γ of XXᵀ (atom 1 − 1/γ at 0
      if γ > 1, density √((β₊ − λ)(λ − β₋))/(2πγλ) on [β₋, β₊], β± = (1 ± √γ)²).
  spike_rule — the spectral measure μ_v of v in XXᵀ + λ_tr I + b vvᵀ (Sherman–Morrison: s = m₀/(1 + b m₀),
      m₀(z) = m_ν(z − λ_tr)): bulk density Im s/π plus outliers at the roots of 1 + b m₀ = 0, weight 1/(b² m₀').
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


def gram_params(D: int, P: int, eps: float, sigma: float = 1.0) -> tuple[float, float, float]:
    """(γ, λ_tr, c₂) of the two-block Gram K₀ = XXᵀ + W₂: γ = P/D (linear block, D modes of 1/D),
    λ_tr = D₂λ₂ and c₂ = Pλ₂ (traceless block, D₂ = D(D+1)/2 − 1 modes of λ₂ = 2ε²σ²/D²; c₂/λ_tr = P/D₂)."""
    lam2 = 2.0 * eps * eps * sigma * sigma / D**2
    return P / D, (D * (D + 1) / 2 - 1) * lam2, P * lam2


def gram_stieltjes(z: np.ndarray, gamma: float, lam_tr: float, c2: float) -> np.ndarray:
    """m(z) = (1/P)Tr(K₀ − z)⁻¹ of K₀ = G Λ Gᵀ (Gaussian equivalence, Silverstein's equation)

        m = 1/(−z + 1/(1 + γm) + λ_tr/(1 + c₂m)),

    a cubic in m: −zγc₂m³ + (−z(γ + c₂) + c₂ + γλ_tr − γc₂)m² + (−z + 1 + λ_tr − γ − c₂)m − 1 = 0;
    the root with the largest Im m (Im z > 0) is returned. z: (n,) complex."""
    z = np.asarray(z, dtype=complex)
    c3 = -z * gamma * c2
    c2_ = -z * (gamma + c2) + c2 + gamma * lam_tr - gamma * c2
    c1 = -z + 1.0 + lam_tr - gamma - c2
    comp = np.zeros(z.shape + (3, 3), dtype=complex)          # companion matrices of m³ + p2 m² + p1 m + p0
    comp[..., 0, :] = -np.stack([c2_ / c3, c1 / c3, -1.0 / c3], -1)
    comp[..., 1, 0] = comp[..., 2, 1] = 1.0
    roots = np.linalg.eigvals(comp)
    pick = np.argmax(roots.imag, -1)
    return np.take_along_axis(roots, pick[..., None], -1)[..., 0]


def gram_rule(D: int, P: int, eps: float, sigma: float = 1.0, n: int = 3000
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Quadrature for the normalised trace measure ν of K₀ = XXᵀ + W₂ and its block shares:
    returns (x, w, w_lin, w_tr) with Σ w h(x) ≈ (1/P)Tr h(K₀), Σ w_lin h(x) ≈ (1/P)Tr[h(K₀)XXᵀ],
    Σ w_tr h(x) ≈ (1/P)Tr[h(K₀)W₂] (densities Im m/π, Im[m/(1 + γm)]/π, Im[λ_tr m/(1 + c₂m)]/π on a
    log-spaced midpoint grid covering the support; w_lin + w_tr = x·w up to the grid error)."""
    gamma, lam_tr, c2 = gram_params(D, P, eps, sigma)
    top = (1 + math.sqrt(gamma)) ** 2 + lam_tr * (1 + math.sqrt(c2 / lam_tr)) ** 2 + 1.0
    low = 1e-4 * min(lam_tr * (1 - math.sqrt(min(c2 / lam_tr, 0.999))) ** 2,
                     (1 - math.sqrt(gamma)) ** 2 + lam_tr if abs(gamma - 1) > 1e-3 else lam_tr)
    edges = np.geomspace(max(low, 1e-14), top, n + 1)
    x = np.sqrt(edges[1:] * edges[:-1])
    dx = np.diff(edges)
    m = gram_stieltjes(x + 1e-12j * x, gamma, lam_tr, c2)
    dens = np.clip(m.imag, 0, None) / math.pi
    lin = np.clip((m / (1 + gamma * m)).imag, 0, None) / math.pi
    tr = np.clip((lam_tr * m / (1 + c2 * m)).imag, 0, None) / math.pi
    keep = dens > 0
    return x[keep], (dens * dx)[keep], (lin * dx)[keep], (tr * dx)[keep]


def gram_m0(D: int, P: int, eps: float, sigma: float = 1.0) -> float:
    """m(0) = (1/P)Tr K₀⁻¹ in closed form: the positive root of (c₂ + γλ_tr − γc₂)m² + (1 + λ_tr − γ − c₂)m − 1 = 0
    (the cubic at z = 0); → (1 − 1/γ)/λ_tr + O(1) when P ≪ D² and γ > 1."""
    gamma, lam_tr, c2 = gram_params(D, P, eps, sigma)
    A, B = c2 + gamma * lam_tr - gamma * c2, 1 + lam_tr - gamma - c2
    return (-B + math.sqrt(B * B + 4 * A)) / (2 * A)
