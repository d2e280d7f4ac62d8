"""Reduced engine: the exact sufficient-statistics dynamics of the quadratic committee machine.

Model f(x) = κ + (1/N) Σ_i [w_i·x + (ε/2)(w_i·x)²] = κ + w̄·x + (ε/2) xᵀMx (paper §1.1, readouts
fixed to 1; κ = −ε/2 for φ = h + (ε/2)He₂(h), else 0), f̃ = α(f − f₀) (centred) or αf, loss
L = (1/P) Σ_μ r_μ² with r_μ = f̃(x_μ) − y_μ. With k = 2α/(NP), s = Σ_μ r_μ x_μ, A = Σ_μ r_μ x_μx_μᵀ
the gradient of neuron i, plus weight decay λ, is one affine map shared by every neuron:

    d_i = ∇_{w_i}L + λw_i = Γ̂ ŵ_i,   ŵ_i = (w_i, 1) ∈ R^{D+1},   Γ̂ = [kεA + λI | k s]  (D × (D+1))

so GD (w ← w − ηd) and heavy ball (v ← μv + d; w ← w − ηv) move Z = mean_i ŵ_iŵ_iᵀ =
[[M, w̄], [w̄ᵀ, 1]] by a congruence Z ← T̂ZT̂ᵀ. For GD (λ = 0) this is paper §2.2, with c = ηk:
w̄ ← w̄ − c(s + εAw̄), M ← M − c(G + Gᵀ) + c²(s_a sᵀ + s s_aᵀ − s sᵀ + ε²AMA), G = s w̄ᵀ + εAM,
s_a = s + εAw̄. We propagate a factor Z = ÛÛᵀ, Û = [U; u₁ᵀ] ((D+1) × m, m = min(N, D+1)) — exact,
M stays PSD by construction, and a step costs 4·P·D·m flops (two GEMMs, no D³ term):

    H = X U                       (P, m)        w̄ = U u₁,  M = U Uᵀ
    f(x_μ) = κ + (H u₁)_μ + (ε/2) |H_μ|²
    R = r ⊙ (u₁ + εH)             (P, m)        Γ̂Û = k XᵀR + λU
    GD:       U ← (1 − ηλ) U − ηk XᵀR           (u₁ never changes: T̂'s last row is e_{D+1})
    momentum: V ← μV + k XᵀR + λU;  U ← U − ηV  (V: the velocity rows of the (w, v, 1) factor)

Û₀ is any factor of Z₀: Rᵀ from QR([W, 1]/√N) for a sampled W, diag(σ, …, σ, 1) in the
infinite-width limit (w̄ = 0, M = σ²I). Every neuron obeys ŵ_i(t) = Φ_t ŵ_i(0) for one map Φ_t,
so U_t = Φ_t Û₀ and mean_i |w_i(t) − w_i(0)|² = ‖U_t − U₀‖_F²: the parameter change needs no extra
state. N enters only through k and Z₀; with the paper's η = η₀N/α², ηk = 2η₀/(αP).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from grokscope.tasks.base import Dataset

REGRESSION_TASKS = ("polynomial",)  # tasks whose targets are scalar floats, shape (P,)
EXACT_OPTIMIZERS = ("gd", "sgd", "momentum")


def _factor_of(wbar: Tensor, M: Tensor) -> Tensor:
    """Û with ÛÛᵀ = [[M, w̄], [w̄ᵀ, 1]] ((D+1) × (D+1)); Cholesky, eigh if Z is only PSD."""
    D = wbar.shape[0]
    Z = torch.empty(D + 1, D + 1, dtype=M.dtype, device=M.device)
    Z[:D, :D], Z[:D, D], Z[D, :D], Z[D, D] = 0.5 * (M + M.T), wbar, wbar, 1.0
    L, info = torch.linalg.cholesky_ex(Z)
    if int(info) == 0:
        return L
    lam, Q = torch.linalg.eigh(Z)
    if float(lam.min()) < -1e-10 * float(lam.abs().max()):
        raise ValueError("M0 - wbar0 wbar0ᵀ must be positive semi-definite (a second moment)")
    return Q * lam.clamp_min(0).sqrt()


class ReducedEngine:
    """Exact (w̄, M) engine with the read-outs of :class:`~grokscope.engines.network.NetworkEngine`.

    Initial statistics: ``wbar0`` (D,) and ``M0`` (D, D), or ``factor`` Û₀ ((D+1), m) with
    Û₀Û₀ᵀ = Z₀. ``eta`` is the final η (lr rule applied by the caller). ``optimizer``: gd (= full-
    batch sgd) or momentum, with coupled ``weight_decay`` λ, as :mod:`grokscope.optim`.
    ``weight_norm`` and ``param_change`` are those of a width-``N`` network with these statistics
    (fixed readouts a = 1 included); for :meth:`infinite_width` they are √(N(Tr M + 1)) at the
    nominal N and the N → ∞ limit of ‖θ − θ₀‖/‖θ₀‖ (which does not depend on N).
    """

    name = "reduced"

    def __init__(self, data: Dataset, *, N: int, eps: float, alpha: float, eta: float, centre: bool,
                 wbar0: Tensor | None = None, M0: Tensor | None = None, factor: Tensor | None = None,
                 optimizer: str = "gd", momentum: float = 0.0, weight_decay: float = 0.0,
                 const: float = 0.0):
        if optimizer not in EXACT_OPTIMIZERS:
            raise ValueError(f"optimizer = {optimizer!r}: the reduced engine is exact for "
                             f"{', '.join(EXACT_OPTIMIZERS)} (full batch)")
        X = data.X_train
        dt, dev, D, P = X.dtype, X.device, data.D, data.P
        if factor is None:
            if wbar0 is None or M0 is None:
                raise ValueError("ReducedEngine: give wbar0 and M0, or factor")
            factor = _factor_of(wbar0.to(dev, dt), M0.to(dev, dt))
        factor = factor.to(dev, dt)
        if factor.ndim != 2 or factor.shape[0] != D + 1:
            raise ValueError(f"factor has shape {tuple(factor.shape)}, expected (D + 1, m) = ({D + 1}, m)")
        self.data, self.N, self.eps, self.alpha = data, int(N), float(eps), float(alpha)
        self.eta, self.centre, self.const = float(eta), bool(centre), float(const)
        self.use_v = optimizer == "momentum"
        self.mu = float(momentum) if self.use_v else 0.0
        self.lam = float(weight_decay)
        self.k = 2.0 * self.alpha / (self.N * P)
        self.U0 = factor[:D].clone()                         # (D, m)
        self.u1 = factor[D].clone()                          # (m,), invariant
        self.U = self.U0.clone()
        self.V = torch.zeros_like(self.U) if self.use_v else None
        m = self.U.shape[1]
        self._H = torch.empty(P, m, dtype=dt, device=dev)
        self._R = torch.empty(P, m, dtype=dt, device=dev)
        self._f = torch.empty(P, dtype=dt, device=dev)
        self._q = torch.empty(P, dtype=dt, device=dev)
        self._r = torch.empty(P, dtype=dt, device=dev)
        self.wbar0, self.M0 = self.U0 @ self.u1, self.U0 @ self.U0.T
        self.trM0 = float((self.U0 * self.U0).sum())
        # f̃ = α·f_raw + offset with f_raw = f − κ: offset = −α f_raw(θ₀) (centred) or ακ.
        self.offset = {}
        for split, Xs in (("train", X), ("test", data.X_test)):
            self.offset[split] = (-self.alpha * self._fraw(Xs) if self.centre else
                                  torch.full((Xs.shape[0],), self.alpha * self.const, dtype=dt, device=dev))
        self.neg_y0 = self.offset["train"] - data.y_train    # r = α f_raw − y0

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def from_params(cls, W: Tensor, data: Dataset, **kw: Any) -> "ReducedEngine":
        """Engine equal to the network with weights W (N, D) and readouts 1: Û₀ = Rᵀ from
        QR([W, 1]/√N) (m = min(N, D+1) columns; no squaring of W's condition number)."""
        X = data.X_train
        N = int(W.shape[0])
        ones = torch.ones(N, 1, dtype=X.dtype, device=X.device)
        R = torch.linalg.qr(torch.cat([W.to(X.device, X.dtype), ones], 1) / math.sqrt(N), mode="r")[1]
        return cls(data, N=N, factor=R.T, **kw)

    @classmethod
    def infinite_width(cls, data: Dataset, *, N: int, sigma: float = 1.0, **kw: Any) -> "ReducedEngine":
        """N → ∞ initial condition w̄ = 0, M = σ²I (Û₀ = diag(σ, …, σ, 1)); N only sets k = 2α/(NP)."""
        X = data.X_train
        d = torch.full((data.D + 1,), float(sigma), dtype=X.dtype, device=X.device)
        d[-1] = 1.0
        return cls(data, N=N, factor=torch.diag(d), **kw)

    # -- training ------------------------------------------------------------------------------
    def _fraw(self, X: Tensor) -> Tensor:
        """f − κ = x·w̄ + (ε/2)xᵀMx = (H u₁) + (ε/2)|H|² row-wise, H = XU; shape (n,)."""
        H = X @ self.U
        q = torch.linalg.vector_norm(H, dim=1)
        return torch.addcmul(H @ self.u1, q, q, value=0.5 * self.eps)

    def step(self) -> Tensor:
        """One full-batch update of the factor; returns the train loss before it (shape ())."""
        H, R, f, q, r = self._H, self._R, self._f, self._q, self._r
        X = self.data.X_train
        torch.mm(X, self.U, out=H)                                   # H = XU
        torch.mv(H, self.u1, out=f)                                  # x·w̄
        torch.linalg.vector_norm(H, dim=1, out=q)                    # √(xᵀMx)
        f.addcmul_(q, q, value=0.5 * self.eps)                       # f_raw
        torch.add(self.neg_y0, f, alpha=self.alpha, out=r)           # r = f̃ − y
        loss = torch.dot(r, r).div_(r.shape[0])
        torch.add(self.u1, H, alpha=self.eps, out=R).mul_(r[:, None])  # R = r ⊙ (u₁ + εH)
        if self.V is None:
            self.U.addmm_(X.T, R, beta=1.0 - self.eta * self.lam, alpha=-self.eta * self.k)
        else:
            self.V.addmm_(X.T, R, beta=self.mu, alpha=self.k)
            if self.lam:
                self.V.add_(self.U, alpha=self.lam)
            self.U.add_(self.V, alpha=-self.eta)
        return loss

    # -- read-outs shared by every engine ------------------------------------------------------
    @torch.no_grad()
    def outputs(self, split: str) -> Tensor:
        """f̃ = c + u·x + ½xᵀSx on the train or test set, shape (P,)."""
        X = self.data.X_train if split == "train" else self.data.X_test
        return self.alpha * self._fraw(X) + self.offset[split]

    def stats(self) -> tuple[Tensor, Tensor]:
        """(w̄ (D,), M (D, D)) = (U u₁, U Uᵀ), the paper's eq. 4 statistics of the current weights."""
        return self.U @ self.u1, self.U @ self.U.T

    def quadratic_form(self) -> tuple[Tensor, Tensor, Tensor]:
        """f̃(x) = c + u·x + ½xᵀSx: (ακ, αw̄, αεM), or (0, α(w̄ − w̄₀), αε(M − M₀)) when centred."""
        wbar, M = self.stats()
        c = torch.tensor(0.0 if self.centre else self.alpha * self.const, dtype=M.dtype, device=M.device)
        if self.centre:
            wbar, M = wbar - self.wbar0, M - self.M0
        return c, self.alpha * wbar, (self.alpha * self.eps) * M

    def weight_norm(self) -> float:
        """‖θ‖ = √(‖W‖_F² + ‖a‖²) = √(N (Tr M + 1)) (fixed readouts a = 1 included)."""
        return math.sqrt(self.N * (float((self.U * self.U).sum()) + 1.0))

    def param_change(self) -> float:
        """‖θ − θ₀‖/‖θ₀‖ = √(mean_i |w_i − w_i0|² / (Tr M₀ + 1)) = ‖U − U₀‖_F / √(Tr M₀ + 1)."""
        return float(torch.linalg.matrix_norm(self.U - self.U0)) / math.sqrt(self.trM0 + 1.0)


# -- config glue -------------------------------------------------------------------------------
def reduced_exact_for(cfg: Any) -> tuple[bool, str]:
    """Whether the reduced engine reproduces the network exactly for ``cfg`` (a Config), and why."""
    m, o, t = cfg.model, cfg.optim, cfg.task
    if m.name != "committee":
        return False, f"model.name = {m.name!r}: the reduced engine covers the committee machine only"
    if not (m.phi == "quadratic" or (m.phi == "hermite" and m.k == 2)):
        return False, (f"model.phi = {m.phi!r}" + (f" (k = {m.k})" if m.phi == "hermite" else "")
                       + ": needs a quadratic φ (quadratic, or hermite with k = 2)")
    if m.readouts != "fixed" or m.readout_init != "ones":
        return False, (f"model.readouts = {m.readouts!r}, readout_init = {m.readout_init!r}: needs "
                       "readouts fixed to 1 (then every neuron follows the same affine map)")
    if t.name not in REGRESSION_TASKS or cfg.train.loss != "mse":
        return False, (f"task.name = {t.name!r}, train.loss = {cfg.train.loss!r}: needs scalar "
                       f"regression targets ({', '.join(REGRESSION_TASKS)}) with the mse loss")
    if o.name not in EXACT_OPTIMIZERS:
        return False, (f"optim.name = {o.name!r}: needs gd, full-batch sgd or momentum (Adam's "
                       "per-coordinate scaling breaks the shared affine map)")
    if o.batch_size is not None:
        return False, f"optim.batch_size = {o.batch_size}: needs full-batch steps (mini-batches break it)"
    return True, (f"exact: quadratic φ, fixed unit readouts, mse, full-batch {o.name}"
                  + (" with weight decay" if o.weight_decay else "")
                  + ": the dynamics close in (w̄, M); cost O(P·D²) per step, independent of N")


def build_reduced(cfg: Any, data: Dataset, eta: float, W: Tensor | None = None,
                  init: str = "sampled") -> ReducedEngine:
    """The reduced engine for a config: ``init = "sampled"`` starts from the network's W (N, D);
    ``"infinite"`` from w̄ = 0, M = σ²I (``W`` unused). ``eta`` is the final learning rate."""
    m, o = cfg.model, cfg.optim
    kw = dict(eps=m.eps, alpha=cfg.scaling.alpha, eta=eta, centre=cfg.scaling.centre,
              optimizer="gd" if o.name == "sgd" else o.name, momentum=o.momentum,
              weight_decay=o.weight_decay, const=-0.5 * m.eps if m.phi == "hermite" else 0.0)
    if init == "sampled":
        if W is None:
            raise ValueError("build_reduced: init = 'sampled' needs the initial W (N, D)")
        return ReducedEngine.from_params(W, data, **kw)
    if init == "infinite":
        return ReducedEngine.infinite_width(data, N=m.N, sigma=m.sigma, **kw)
    raise ValueError(f"init = {init!r}: allowed are sampled, infinite")
