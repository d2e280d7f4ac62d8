"""Kernel (lazy, α → ∞) limit: exact GD learning curves of a linear model in function space.

A model linear in its parameters with tangent Gram K (P, P) on the train set (the NTK of the
*scaled* output f̃, so for the committee K includes α²/N), trained by GD with learning rate η on
L = (1/P) Σ_μ (f̃_μ − y_μ)², moves its train residual r = f̃ − y as

    r_{t+1} = (I − (2η/P) K) r_t,     f̃_t(x) = f̃_0(x) − Σ_μ a_{t,μ} K(x, x_μ),
    a_t = (2η/P) Σ_{s<t} r_s.

With K = V diag(λ) Vᵀ, z = Vᵀ r_0, h = 2ηλ/P, q = 1 − h:

    r_t = V (qᵗ ∘ z),   a_t = V (g_t ∘ z),   g_t = (1 − qᵗ)/λ   (→ 2ηt/P as λ → 0),

so the train loss (1/P) Σ_k q_k^{2t} z_k² costs O(P) per step after one O(P³) eigendecomposition;
the test loss on a test block K_* (P_test, P) costs O(P·P_test) per step through Q = K_* V
(computed once, O(P_test P²)); the population loss E[(e_0 − Σ_μ a_μ K(·, x_μ))²] = e2 − 2a·l + aᵀGa
costs O(P²) per step given G = E[K(x,x_μ)K(x,x_ν)], l = E[e_0 K(x,x_μ)], e2 = E[e_0²], e_0 = f̃_0 − y
(:func:`quadratic_population_moments` gives them for the committee; cancellation limits its relative
accuracy to ~1e-16·e2/loss, harmless while the kernel cannot fit the target).
t = ∞ (``math.inf`` in ``steps``): q^∞ = 0 on modes with λ > rcond·λ_max, which is ridgeless
(pseudo-inverse) kernel regression a_∞ = K⁺ r_0; modes below the cut are frozen (their residual stays;
for a PSD Gram they carry no prediction off the train set). Divergence: GD is stable iff η < P/λ_max;
past it the divergent modes' factors are inf at t = ∞ (the factors: :mod:`grokscope.theory.kernel_gd`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from grokscope.theory.kernel_gd import gd_rate, spectral_factor_table
from grokscope.theory.ntk_closed_form import committee_kernel_forms, committee_ntk
from grokscope.theory.sufficient import population_loss
from grokscope.theory.targets import QuadraticTarget

Tensor = torch.Tensor
F64 = torch.float64
__all__ = ["KernelGD", "committee_kernel_forms", "committee_ntk", "kernel_regression",
           "quadratic_population_moments", "shifted_target"]


class KernelGD:
    """Exact GD curves for Gram ``K`` (P, P), labels ``y`` (P,), learning rate ``eta``, initial
    train outputs ``f0`` (P,) (default 0: the centred model)."""

    def __init__(self, K: Tensor, y: Tensor, eta: float, f0: Tensor | None = None,
                 rcond: float | None = None):
        K = K.to(F64)
        self.P = K.shape[0]
        self.eta = float(eta)
        lam, V = torch.linalg.eigh(0.5 * (K + K.T))
        self.lam, self.V = lam, V
        r0 = (f0.to(F64) if f0 is not None else torch.zeros_like(y, dtype=F64)) - y.to(F64)
        self.z = V.T @ r0
        self.rcond = rcond if rcond is not None else self.P * torch.finfo(F64).eps
        self.cut = self.rcond * float(lam.abs().max())

    @property
    def max_stable_eta(self) -> float:
        """GD on the train residual diverges for η ≥ P/λ_max."""
        return self.P / float(self.lam.max())

    def _factors(self, steps: Sequence[float]) -> tuple[Tensor, Tensor]:
        """(qᵗ, g_t), each (T, P): residual and coefficient factors per mode
        (:func:`grokscope.theory.kernel_gd.spectral_factors`, c = 2η/P, frozen below the rcond cut)."""
        return spectral_factor_table(self.lam, gd_rate(self.eta, self.P), list(steps), self.cut)

    def train_residual(self, steps: Sequence[float]) -> Tensor:
        """r_t = f̃_t − y on the train set, (T, P)."""
        qt, _ = self._factors(steps)
        return (qt * self.z) @ self.V.T

    def train_loss(self, steps: Sequence[float]) -> Tensor:
        """(1/P) Σ_k q_k^{2t} z_k², (T,)."""
        qt, _ = self._factors(steps)
        return ((qt * self.z) ** 2).sum(-1) / self.P

    def coefficients(self, steps: Sequence[float]) -> Tensor:
        """a_t (T, P) with f̃_t(x) = f̃_0(x) − Σ_μ a_{t,μ} K(x, x_μ)."""
        _, g = self._factors(steps)
        return (g * self.z) @ self.V.T

    def test_predictions(self, steps: Sequence[float], K_test: Tensor,
                         f0_test: Tensor | None = None) -> Tensor:
        """f̃_t on test points: f̃_0 − K_* a_t, (T, P_test); K_test (P_test, P)."""
        _, g = self._factors(steps)
        pred = -(g * self.z) @ (K_test.to(F64) @ self.V).T
        return pred + f0_test.to(F64) if f0_test is not None else pred

    def test_loss(self, steps: Sequence[float], K_test: Tensor, y_test: Tensor,
                  f0_test: Tensor | None = None) -> Tensor:
        """Mean squared test error (T,) at each step."""
        pred = self.test_predictions(steps, K_test, f0_test)
        return ((pred - y_test.to(F64)) ** 2).mean(-1)

    def population_loss(self, steps: Sequence[float], G: Tensor, l: Tensor, e2: float) -> Tensor:
        """E_x[(f̃_t − y)²] = e2 − 2a·l + aᵀGa (T,), moments as in the module docstring."""
        a = self.coefficients(steps)
        return e2 - 2.0 * a @ l + ((a @ G) * a).sum(-1)


def shifted_target(target: QuadraticTarget, c: Tensor | float, u: Tensor, S: Tensor) -> QuadraticTarget:
    """y − f̃_0 as a QuadraticTarget, for an uncentred start f̃_0 = c + u·x + ½xᵀSx."""
    return QuadraticTarget(float(target.c0 - float(c)), target.b.to(u) - u, target.B.to(S) - S,
                           target.orth_power)


def quadratic_population_moments(U: Tensor, S: Tensor, target: QuadraticTarget
                                 ) -> tuple[Tensor, Tensor, float]:
    """(G, l, e2) for basis functions g_μ = U_μ·x + ½xᵀS_μx, x ~ N(0, I/D), residual e_0 = −y:

    G_μν = U_μ·U_ν/D + (TrS_μ TrS_ν + 2⟨S_μ, S_ν⟩)/(4D²)
    l_μ  = −[b·U_μ/D + c0 TrS_μ/(2D) + (TrB TrS_μ + 2⟨B, S_μ⟩)/(4D²)],   e2 = E[y²].
    (Pass :func:`shifted_target` for an uncentred start.) U (P, D), S (P, D, D).
    """
    P, D = U.shape
    b, B = target.b.to(U), target.B.to(S)
    Sf = S.reshape(P, D * D)
    tr = torch.diagonal(S, dim1=-2, dim2=-1).sum(-1)
    G = U @ U.T / D + (torch.outer(tr, tr) + 2.0 * Sf @ Sf.T) / (4 * D * D)
    l = -(U @ b / D + target.c0 * tr / (2 * D)
          + (torch.trace(B) * tr + 2.0 * Sf @ B.reshape(-1)) / (4 * D * D))
    zero_u = torch.zeros(D, dtype=U.dtype)
    e2 = float(population_loss(0.0, zero_u, torch.zeros(D, D, dtype=U.dtype), target))
    return G, l, e2


def kernel_regression(K: Tensor, y: Tensor, K_test: Tensor, f0: Tensor | None = None,
                      f0_test: Tensor | None = None, rcond: float | None = None) -> Tensor:
    """Ridgeless (pseudo-inverse) kernel regression = the t → ∞ limit: f̃_0,* − K_* K⁺ (f̃_0 − y)."""
    kg = KernelGD(K, y, 1.0, f0, rcond)
    lam_max = float(kg.lam.max())
    kg.eta = 0.5 * kg.P / lam_max if lam_max > 0 else 1.0  # any stable η has this t = ∞ limit
    return kg.test_predictions([math.inf], K_test, f0_test)[0]
