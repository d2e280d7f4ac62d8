"""Reduced engine: the exact sufficient-statistics dynamics of the quadratic committee machine.

Model f(x) = κ + (1/N) Σ_i [w_i·x + (ε/2)(w_i·x)²] = κ + w̄·x + (ε/2) xᵀMx (paper §1.1, readouts
fixed to 1; κ = −ε/2 for φ = h + (ε/2)He₂(h), else 0), f̃ = α(f − f₀) (centred) or αf, loss
L = (1/P) Σ_μ r_μ² with r_μ = f̃(x_μ) − y_μ. With k = 2α/(NP), s = Σ_μ r_μ x_μ, A = Σ_μ r_μ x_μx_μᵀ
the gradient of neuron i, plus weight decay λ, is the same affine map for every neuron:

    d_i = ∇_{w_i}L + λw_i = Γ̂ ŵ_i,   ŵ_i = (w_i, 1) ∈ R^{D+1},   Γ̂ = [kεA + λI | k s]  (D × (D+1))

so GD (w ← w − ηd) and heavy ball (v ← μv + d; w ← w − ηv) move the second moment
Z = mean_i ŵ_iŵ_iᵀ = [[M, w̄], [w̄ᵀ, 1]] by a congruence Z ← T̂ZT̂ᵀ (paper §2.2 expands it for GD:
w̄ ← w̄ − c(s + εAw̄), M ← M − c(G + Gᵀ) + c²(s_a sᵀ + s s_aᵀ − s sᵀ + ε²AMA), c = ηk; see
:func:`gd_stats_step`). We propagate a factor Z = ÛÛᵀ, Û = [U; u₁ᵀ] ((D+1) × m, m = min(N, D+1)),
which is exact, keeps M PSD and costs 4·P·D·m flops per step (no D³ term):

    H = X U                      (P, m)      w̄ = U u₁,  M = U Uᵀ
    f(x_μ) = κ + Σ_j H_μj (u₁_j + (ε/2) H_μj)
    R = r ⊙ (u₁ + εH)            (P, m)      Γ̂Û = k XᵀR + λU
    GD:       U ← (1 − ηλ) U − ηk XᵀR                       (u₁ never changes)
    momentum: V ← μV + k XᵀR + λU;  U ← U − ηV              (V = mean v_i ŵ_iᵀ factor, (D, m))

Û starts as any factor of Z₀: Rᵀ from the QR of [W, 1]/√N for a sampled W, diag(σ…σ, 1) for the
infinite-width limit (w̄ = 0, M = σ²I). Since every neuron obeys ŵ_i(t) = Φ_t ŵ_i(0) with one map
Φ_t, U_t = Φ_t Û₀ and mean_i |w_i − w_i(0)|² = ‖U_t − U₀‖_F²: the parameter change needs no
extra state. N enters only through k (and Z₀); with η = η₀N/α², ηk = 2η₀/(αP).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from grokscope.tasks.base import Dataset

REGRESSION_TASKS = ("polynomial",)  # tasks with scalar float targets (P,)


class ReducedEngine:
    """Exact (w̄, M) engine; same read-outs as :class:`~grokscope.engines.network.NetworkEngine`.

    Give the initial statistics as ``wbar0`` (D,) and ``M0`` (D, D) (factored by Cholesky, eigh as
    fallback) or directly as ``factor`` Û₀ ((D+1), m) with Û₀Û₀ᵀ = Z₀. ``eta`` is the final η.
    ``weight_norm``/``param_change`` are those of the width-``N`` network with these statistics
    (readouts a = 1 included); for :meth:`infinite_width` they are the N → ∞ limits of
    ‖θ‖/√N·√N (i.e. √(N(Tr M + 1)) at the nominal N) and of ‖θ − θ₀‖/‖θ₀‖ (N-independent).
    """

    name = "reduced"

    def __init__(self, data: Dataset, *, N: int, eps: float, alpha: float, eta: float, centre: bool,
                 wbar0: Tensor | None = None, M0: Tensor | None = None, factor: Tensor | None = None,
                 optimizer: str = "gd", momentum: float = 0.0, weight_decay: float = 0.0,
                 const: float = 0.0):
        if optimizer not in ("gd", "sgd", "momentum"):
            raise ValueError(f"optimizer = {optimizer!r}: the reduced engine is exact for gd and momentum")
        X = data.X_train
        dt, dev, D, P = X.dtype, X.device, data.D, data.P
        if factor is None:
            if wbar0 is None or M0 is None:
                raise ValueError("ReducedEngine: give wbar0 and M0, or factor")
            factor = _factor_of(wbar0.to(dev, dt), M0.to(dev, dt))
        factor = factor.to(dev, dt)
        if factor.shape[0] != D + 1:
            raise ValueError(f"factor has {factor.shape[0]} rows, expected D + 1 = {D + 1}")
        self.data, self.N, self.eps, self.alpha, self.eta = data, int(N), float(eps), float(alpha), float(eta)
        self.centre, self.const = bool(centre), float(const)
        self.mu = float(momentum) if optimizer == "momentum" else 0.0
        self.use_v = optimizer == "momentum"
        self.lam = float(weight_decay)
        self.k = 2.0 * self.alpha / (self.N * P)
        self.U0 = factor[:D].clone()                    # (D, m)
        self.u1 = factor[D].clone()                     # (m,), invariant
        self.U = self.U0.clone()
        self.V = torch.zeros_like(self.U) if self.use_v else None
        self.XT = X.T                                   # view; BLAS reads it transposed
        m = self.U.shape[1]
        self._H = torch.empty(P, m, dtype=dt, device=dev)
        self._R = torch.empty(P, m, dtype=dt, device=dev)
        self._f = torch.empty(P, dtype=dt, device=dev)
        self._r = torch.empty(P, dtype=dt, device=dev)
        self.wbar0, self.M0 = self.U0 @ self.u1, self.U0 @ self.U0.T
        self.trM0 = float((self.U0 * self.U0).sum())
        # f̃ = α·f_raw + offset, f_raw = Σ_j H(u₁ + (ε/2)H); offset = −α f_raw(θ₀) (centred) or ακ.
        self.offset = {s: (-self.alpha * self._fraw(Xs) if self.centre
                           else torch.full((Xs.shape[0],), self.alpha * self.const, dtype=dt, device=dev))
                       for s, Xs in (("train", X), ("test", data.X_test))}
        self.y0 = data.y_train - self.offset["train"]   # r = α f_raw − y0

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def from_params(cls, W: Tensor, data: Dataset, **kw: Any) -> "ReducedEngine":
        """Engine equivalent to the network with weights W (N, D) and readouts 1: Û₀ = Rᵀ from
        QR([W, 1]/√N) (m = min(N, D+1) columns, no squaring of W's condition number)."""
        X = data.X_train
        N = W.shape[0]
        Wh = torch.cat([W.to(X.device, X.dtype), torch.ones(N, 1, dtype=X.dtype, device=X.device)], 1)
        R = torch.linalg.qr(Wh / math.sqrt(N), mode="r")[1]
        return cls(data, N=N, factor=R.T, **kw)

    @classmethod
    def infinite_width(cls, data: Dataset, *, N: int, sigma: float = 1.0, **kw: Any) -> "ReducedEngine":
        """N → ∞ initial condition w̄ = 0, M = σ²I (Û₀ = diag(σ, …, σ, 1)); N only sets k = 2α/(NP)."""
        X = data.X_train
        diag = torch.full((data.D + 1,), float(sigma), dtype=X.dtype, device=X.device)
        diag[-1] = 1.0
        return cls(data, N=N, factor=torch.diag(diag), **kw)

    # -- training ------------------------------------------------------------------------------
    def _fraw(self, X: Tensor, H: Tensor | None = None) -> Tensor:
        """f − κ = w̄·x + (ε/2)xᵀMx = Σ_j H_μj (u₁_j + (ε/2)H_μj), H = XU; shape (n,)."""
        H = X @ self.U if H is None else H
        return torch.linalg.vecdot(H, torch.add(self.u1, H, alpha=0.5 * self.eps))

    def step(self) -> Tensor:
        """One GD/momentum update of Û; returns the train loss before it (2 GEMMs of 2PDm flops)."""
        H, R, r = self._H, self._R, self._r
        torch.mm(self.data.X_train, self.U, out=H)
        torch.add(self.u1, H, alpha=self.eps, out=R)                    # u₁ + εH
        # f_raw = Σ_j H(u₁ + εH/2) = ½ Σ_j H(u₁ + εH) + ½ H u₁
        torch.mv(H, self.u1, out=self._f)
        torch.addcmul(self._f, H, R).sum(1)  # placeholder replaced below
        return self._finish(H, R, r)

    def _finish(self, H: Tensor, R: Tensor, r: Tensor) -> Tensor:
        raise NotImplementedError
