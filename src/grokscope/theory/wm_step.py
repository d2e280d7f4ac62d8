"""The exact GD map of the quadratic committee on its statistics (w̄, M), one copy (paper §2.2).

Committee f(x) = κ + (1/N) Σ_i φ(w_i·x), φ(h) = h + (ε/2)h², readouts fixed to 1, scaled output
f̃ = α(f − f₀) (or αf), loss L = mean over a measure ρ of (f̃ − y)², residual r = f̃ − y. With the
moments s = E_ρ[r x] (D,) and A = E_ρ[r x xᵀ] (D, D), neuron i's gradient is (2α/N)(s + εA w_i), so
one GD step with learning rate η and coupled weight decay λ is ONE affine map of ŵ_i = (w_i, 1):

    ŵ_i ← T̂ ŵ_i,   T̂ = I − c Ĝ − ηλ Π,   Ĝ = [[εA, s], [0, 0]]  ((D+1) × (D+1)),   c = 2ηα/N

(Π the projector on the first D coordinates), and Z = mean_i ŵ_iŵ_iᵀ = [[M, w̄], [w̄ᵀ, 1]] closes:

    Z ← T̂ Z T̂ᵀ                        (discrete GD: w̄ ← Tw̄ − cs, M ← TMTᵀ − c(Tw̄sᵀ + sw̄ᵀTᵀ) + c²ssᵀ)
    dZ/dt = −c (ĜZ + ZĜᵀ)              (its O(c) part: the gradient flow in step units)

Two representations of Z, two forms of the same map:

* dense (w̄, M) under any moments (train set or population): :func:`dense_step`,
  :func:`dense_velocity`, both from :func:`generator` — used by ``theory.closed.ClosedDynamics``
  (and through it the population recursion and the flow). Cost O(D³) per step plus the moments.
* factor Z = ÛÛᵀ, Û = [U; e₁ᵀ] ((D+1) × m): Û ← T̂Û, computed through the train samples without
  ever forming A (cost 4·P·D·m, no D³): with H = XU and R = r ⊙ (εH + 1e₁ᵀ) (P, m),
  XᵀR = P·(εAU + s e₁ᵀ) = P·(the top D rows of ĜÛ), so with k = 2α/(NP) (:func:`gain`, ηk = c/P):

      GD:        U ← (1 − ηλ) U − ηk XᵀR
      momentum:  V ← μV + k XᵀR + λU;  U ← U − ηV

  :class:`FactorGD` (one run, U (D, m): the reduced engine) and :class:`FactorGDMembers`
  (E runs, U (E, D, m): the batched ensemble) are that update.

Why two factor kernels. They are the same map, but each one's floating-point evaluation order is
pinned bit for bit by the regression pins (tests/test_pins.py: fig1-reduced, fig1-batched; the
events compare floats exactly): the single kernel works with r/√P and fused ``add(alpha=)``/
``addmm(beta, alpha)`` scalars, the batched one with unscaled r and per-member (E, 1, …) tensors.
Any common evaluation order changes one of them by an ulp per step, which fig1 grows to ~1e-12 in
2 000 steps. Their agreement (to 1e-12 over 200 steps) is tested in tests/test_ensemble.py and
tests/test_one_copy.py; the dense form's agreement with both in tests/test_one_copy.py.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

Tensor = torch.Tensor


def rate(eta: float, alpha: float, N: int) -> float:
    """c = 2ηα/N: the per-neuron GD rate on mean-normalised moments (paper rule: 2η₀/α)."""
    return 2.0 * eta * alpha / N


def gain(alpha: float, N: int, P: int) -> float:
    """k = 2α/(NP): the gradient's prefactor on sum moments (Σ_μ r_μ x_μ, Σ_μ r_μ x_μx_μᵀ); ηk = c/P."""
    return 2.0 * alpha / (N * P)


# -- dense form --------------------------------------------------------------------------------------
def generator(s: Tensor, A: Tensor, eps: float) -> Tensor:
    """Ĝ = [[εA, s], [0, 0]] ((D+1) × (D+1)) from s (D,), A (D, D): T̂ = I − cĜ, dZ/dt = −c(ĜZ + ZĜᵀ)."""
    D = s.shape[0]
    G = s.new_zeros(D + 1, D + 1)
    G[:D, :D] = eps * A
    G[:D, D] = s
    return G


def _z(wbar: Tensor, M: Tensor) -> Tensor:
    """Z = [[M, w̄], [w̄ᵀ, 1]] ((D+1) × (D+1))."""
    D = wbar.shape[0]
    Z = M.new_empty(D + 1, D + 1)
    Z[:D, :D], Z[:D, D], Z[D, :D], Z[D, D] = M, wbar, wbar, 1.0
    return Z


def dense_step(wbar: Tensor, M: Tensor, s: Tensor, A: Tensor, c: float, eps: float) -> tuple[Tensor, Tensor]:
    """One exact GD step Z ← T̂ZT̂ᵀ, T̂ = I − cĜ: returns (w̄ (D,), M (D, D), symmetrised)."""
    D = wbar.shape[0]
    T = torch.eye(D + 1, dtype=A.dtype, device=A.device) - c * generator(s, A, eps)
    Z = T @ _z(wbar, M) @ T.T
    M_new = Z[:D, :D]
    return Z[:D, D].clone(), 0.5 * (M_new + M_new.T)


def dense_velocity(wbar: Tensor, M: Tensor, s: Tensor, A: Tensor, c: float, eps: float
                   ) -> tuple[Tensor, Tensor]:
    """(dw̄/dt, dM/dt) = blocks of −c(ĜZ + ZĜᵀ): −c(s + εAw̄), −c(ε(AM + MA) + sw̄ᵀ + w̄sᵀ)."""
    D = wbar.shape[0]
    GZ = generator(s, A, eps) @ _z(wbar, M)
    dZ = -c * (GZ + GZ.T)
    return dZ[:D, D].clone(), dZ[:D, :D].clone()


# -- factor form ---------------------------------------------------------------------------------------
class FactorGD:
    """The factor-form step for one run: state U (D, m) (w̄ = U[:, 0], M = UUᵀ), velocity V or None.

    :meth:`init_factor_gd` sets the state, the scalars (α, ε, η, k, λ, μ, floats) and the reused
    buffers; :meth:`step` updates U in place and returns the train loss before it. Two GEMMs
    (2·P·D·m flops each), one row-norm and one row-scaling pass over one (P, m) buffer, and four
    O(P) ops: r̂ = (f̃ − y)/√P, L = |r̂|², R = ε√P·r̂ ⊙ (H + e₁ᵀ/ε) (ε = 0: R = √P·r̂e₁ᵀ) and the
    update (module docstring). ``neg_y0`` (P,) is the offset: r = αf_raw(X) + neg_y0.
    """

    U: Tensor
    V: Tensor | None
    alpha: float
    eps: float
    eta: float
    k: float
    lam: float
    mu: float

    def init_factor_gd(self, X: Tensor, U: Tensor, V: Tensor | None, neg_y0: Tensor, *, alpha: float,
                       eps: float, eta: float, k: float, lam: float, mu: float) -> None:
        P, m = X.shape[0], U.shape[1]
        self.U, self.V = U, V
        self.alpha, self.eps, self.eta, self.k = float(alpha), float(eps), float(eta), float(k)
        self.lam, self.mu = float(lam), float(mu)
        self._X = X
        self._H = torch.empty(P, m, dtype=U.dtype, device=U.device)
        self._q = torch.empty(P, dtype=U.dtype, device=U.device)
        self._r = torch.empty(P, dtype=U.dtype, device=U.device)
        # persistent views, so a step dispatches no select/transpose ops
        self._XT, self._H0, self._r_col = X.T, self._H[:, 0], self._r[:, None]
        # the step works with r̂ = r/√P (so L = |r̂|², no scaling op) and, for ε ≠ 0, with
        # R = ε√P·r̂ ⊙ (H + e₁ᵀ/ε) (the shift is one op on a column instead of ε·r on P rows)
        rs = 1.0 / math.sqrt(P)
        self._neg_y0_s, self._a_lin, self._a_quad = neg_y0 * rs, self.alpha * rs, 0.5 * self.alpha * self.eps * rs
        self._R_scale = (self.eps if self.eps else 1.0) * math.sqrt(P)   # XᵀR = _R_scale · XᵀH after step()

    def step(self) -> Tensor:
        """One full-batch update of U; returns the train loss before it (shape ())."""
        H, q, r = self._H, self._q, self._r
        torch.mm(self._X, self.U, out=H)                             # H = XU
        torch.linalg.vector_norm(H, dim=1, out=q)                    # √(xᵀMx)
        torch.add(self._neg_y0_s, self._H0, alpha=self._a_lin, out=r)
        r.addcmul_(q, q, value=self._a_quad)                         # r̂ = (f̃ − y)/√P
        loss = torch.dot(r, r)                                       # L = |r̂|²
        if self.eps:
            self._H0.add_(1.0 / self.eps)
            H.mul_(self._r_col)                                      # H ← R/(ε√P)
        else:
            H.zero_()
            self._H0.copy_(r)                                        # H ← R/√P
        g = self._R_scale * self.k                                   # k·XᵀR = g·XᵀH
        if self.V is None:
            self.U.addmm_(self._XT, H, beta=1.0 - self.eta * self.lam, alpha=-self.eta * g)
        else:
            self.V.addmm_(self._XT, H, beta=self.mu, alpha=g)
            if self.lam:
                self.V.add_(self.U, alpha=self.lam)
            self.U.add_(self.V, alpha=-self.eta)
        return loss


def _column(values: Sequence[float], like: Tensor, ndim: int) -> Tensor:
    """Per-member scalars as an (E, 1, …, 1) tensor with ``ndim`` dimensions."""
    return torch.tensor([float(v) for v in values], dtype=like.dtype, device=like.device).reshape(
        (-1,) + (1,) * (ndim - 1))


class FactorGDMembers:
    """The factor-form step for E runs at once: U (E, D, m), V (E, D, m) or None, neg_y0 (E, P);
    per-member α, ε, η, k (sequences of E floats), shared λ, μ and train inputs X (P, D).

    H = XU_e; r = α_e H[:, 0] + (α_eε_e/2)|H|² + neg_y0_e; R = r ⊙ (ε_e H + 1e₁ᵀ);
    GD: U_e ← (1 − η_eλ)U_e − η_e k_e XᵀR;  momentum: V_e ← μV_e + k_e XᵀR + λU_e; U_e ← U_e − η_e V_e
    (batched products ``bmm``/``baddbmm``; :meth:`step` returns the losses before it, (E,)).
    """

    U: Tensor
    V: Tensor | None
    neg_y0: Tensor

    def init_factor_gd(self, X: Tensor, U: Tensor, V: Tensor | None, neg_y0: Tensor, *,
                       alpha: Sequence[float], eps: Sequence[float], eta: Sequence[float],
                       k: Sequence[float], lam: float, mu: float) -> None:
        E, P = U.shape[0], X.shape[0]
        self.U, self.V, self.neg_y0 = U, V, neg_y0
        self.lam, self.mu = float(lam), float(mu)
        self._alpha = _column(alpha, U, 2)                                          # (E, 1)
        self._c = _column([0.5 * a * e for a, e in zip(alpha, eps)], U, 2)           # αε/2, (E, 1)
        self._eps = _column(eps, U, 2)
        coef = k if V is not None else [-e * kk for e, kk in zip(eta, k)]
        self._coef = _column(coef, U, 2)                                # −η k (GD) or k (momentum)
        self._decay = _column([1.0 - e * self.lam for e in eta], U, 3)
        self._neg_eta = _column([-e for e in eta], U, 3)
        self._XTe = X.T.expand(E, -1, -1)
        self._Xe = X.expand(E, -1, -1)
        self._inv_P = 1.0 / P
        self._H = torch.empty(E, P, U.shape[2], dtype=U.dtype, device=U.device)  # reused buffer

    def step(self) -> Tensor:
        """One full-batch update of every member; returns the train losses before it, (E,)."""
        H = torch.bmm(self._Xe, self.U, out=self._H)                            # (E, P, m)
        q = torch.linalg.vector_norm(H, dim=2)                                  # √(xᵀMx)
        H0 = H[:, :, 0]
        r = torch.addcmul(self.neg_y0, H0, self._alpha)                         # α x·w̄ − y0
        r.addcmul_(q.mul_(q), self._c)                                          # r = f̃ − y
        loss = (r * r).sum(1).mul_(self._inv_P)
        s = r.mul_(self._coef)                                                  # coef · r
        H.mul_((s * self._eps).unsqueeze(-1))
        H0.add_(s)                                                              # H ← coef · R
        if self.V is None:
            if self.lam:
                self.U.mul_(self._decay)
            self.U.baddbmm_(self._XTe, H)
        else:
            self.V.mul_(self.mu).baddbmm_(self._XTe, H)
            if self.lam:
                self.V.add_(self.U, alpha=self.lam)
            self.U.addcmul_(self.V, self._neg_eta)
        return loss
