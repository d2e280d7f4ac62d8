"""Reduced engine: the exact sufficient-statistics dynamics of the quadratic committee machine.

Model f(x) = κ + (1/N) Σ_i [w_i·x + (ε/2)(w_i·x)²] = κ + w̄·x + (ε/2) xᵀMx (paper §1.1, readouts
fixed to 1; κ = −ε/2 for φ = h + (ε/2)He₂(h), else 0), f̃ = α(f − f₀) (centred) or αf, loss
L = (1/P) Σ_μ r_μ² with r_μ = f̃(x_μ) − y_μ. With k = 2α/(NP), s = Σ_μ r_μ x_μ, A = Σ_μ r_μ x_μx_μᵀ
the gradient of neuron i, plus weight decay λ, is one affine map shared by every neuron:

    d_i = ∇_{w_i}L + λw_i = Γ̂ ŵ_i,   ŵ_i = (w_i, 1) ∈ R^{D+1},   Γ̂ = [kεA + λI | k s]  (D × (D+1))

so GD (w ← w − ηd) and heavy ball (v ← μv + d; w ← w − ηv) move Z = mean_i ŵ_iŵ_iᵀ =
[[M, w̄], [w̄ᵀ, 1]] by a congruence Z ← T̂ZT̂ᵀ. For GD (λ = 0) this is paper §2.2, with c = ηk:
w̄ ← w̄ − c(s + εAw̄), M ← M − c(G + Gᵀ) + c²(s_a sᵀ + s s_aᵀ − s sᵀ + ε²AMA), G = s w̄ᵀ + εAM,
s_a = s + εAw̄. We propagate a factor Z = ÛÛᵀ, Û = [U; u₁ᵀ] ((D+1) × m, m = min(N, D+1)), rotated
(Û ← ÛQ, Q orthogonal, leaves Z unchanged) so that u₁ = e₁; T̂'s last row is e_{D+1}, so u₁ never
changes. This is exact, keeps M PSD by construction and costs 4·P·D·m flops per step (no D³ term);
U is the weight matrix of an exact stand-in network of m "virtual neurons" (column 0 is w̄):

    H = X U                        (P, m)       w̄ = U e₁ = U[:, 0],  M = U Uᵀ
    f(x_μ) = κ + H_μ0 + (ε/2)|H_μ|²
    R = r ⊙ (εH + 1e₁ᵀ)            (P, m)       Γ̂Û = k XᵀR + λU
    GD:       U ← (1 − ηλ) U − ηk XᵀR
    momentum: V ← μV + k XᵀR + λU;  U ← U − ηV  (V: the velocity rows of the (w, v, 1) factor)

Û₀ is any factor of Z₀: from the QR of [W, 1]/√N for a sampled W, diag(σ, …, σ, 1) in the
infinite-width limit (w̄ = 0, M = σ²I). Every neuron obeys ŵ_i(t) = Φ_t ŵ_i(0) for one map Φ_t,
so U_t = Φ_t Û₀ and mean_i |w_i(t) − w_i(0)|² = ‖U_t − U₀‖_F²: the parameter change needs no extra
state. N enters only through k and Z₀; with the paper's η = η₀N/α², ηk = 2η₀/(αP).

The update and the NTK formula are theory's (one copy, shared with the ensemble and the dense
(w̄, M) recursion): :class:`grokscope.theory.wm_step.FactorGD` (the engine inherits its ``step``)
and :func:`grokscope.theory.ntk_closed_form.factor_ntk`. This module builds the state and reads it out.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from grokscope.engines.registry import EngineInputs, register_engine
from grokscope.models.registry import supports
from grokscope.tasks.base import Dataset, task_supports
from grokscope.theory.ntk_closed_form import factor_ntk
from grokscope.theory.wm_step import FactorGD, gain

EXACT_OPTIMISERS = ("gd", "sgd", "momentum")


def _factor_of(wbar: Tensor, M: Tensor) -> Tensor:
    """Û ((D+1) × (D+1)) with ÛÛᵀ = [[M, w̄], [w̄ᵀ, 1]]: Cholesky of [[1, w̄ᵀ], [w̄, M]] (its first
    row is e₁ᵀ, moved last), eigh if Z is only positive semi-definite."""
    D = wbar.shape[0]
    Z = torch.empty(D + 1, D + 1, dtype=M.dtype, device=M.device)
    Z[0, 0], Z[0, 1:], Z[1:, 0], Z[1:, 1:] = 1.0, wbar, wbar, 0.5 * (M + M.T)
    L, info = torch.linalg.cholesky_ex(Z)
    if int(info) != 0:
        lam, Q = torch.linalg.eigh(Z)
        if float(lam.min()) < -1e-10 * float(lam.abs().max()):
            raise ValueError("M0 - wbar0 wbar0ᵀ must be positive semi-definite (a second moment)")
        L = Q * lam.clamp_min(0).sqrt()
    return torch.cat([L[1:], L[:1]])


def _canonical(factor: Tensor) -> Tensor:
    """U (D × m) of the factor ÛQ whose last row is e₁ᵀ (Q a Householder reflection, then a sign
    flip of column 0), so ÛÛᵀ is unchanged and w̄ = U[:, 0]. Needs |u₁| = 1 (Z[D, D] = 1)."""
    F, u = factor[:-1], factor[-1]
    if abs(float(torch.linalg.vector_norm(u)) - 1.0) > 10 * math.sqrt(torch.finfo(u.dtype).eps):
        raise ValueError("factor: the last row must have norm 1 (it encodes Z[D, D] = mean_i 1·1 = 1)")
    sgn = 1.0 if float(u[0]) >= 0 else -1.0
    v = u.clone()
    v[0] += sgn                                                    # H = I − 2vvᵀ/vᵀv maps u → −sgn·e₁
    U = F - (2.0 / float(v @ v)) * torch.outer(F @ v, v)
    U[:, 0] *= -sgn
    return U.T.contiguous().T  # column-major: MKL's XᵀR update runs ~25 % faster into this layout


class ReducedEngine(FactorGD):
    """Exact (w̄, M) engine with the read-outs of :class:`~grokscope.engines.network.NetworkEngine`.

    Initial statistics: ``wbar0`` (D,) and ``M0`` (D, D), or ``factor`` Û₀ ((D+1), m) with
    Û₀Û₀ᵀ = Z₀. ``eta`` is the final η (lr rule applied by the caller). ``optimiser``: gd (= full-
    batch sgd) or momentum, with coupled ``weight_decay`` λ, as :mod:`grokscope.numerics.optim`.
    ``weight_norm`` and ``param_change`` are those of a width-``N`` network with these statistics
    (fixed readouts a = 1 included); for :meth:`infinite_width` they are √(N(Tr M + 1)) at the
    nominal N and the N → ∞ limit of ‖θ − θ₀‖/‖θ₀‖ (which does not depend on N).
    ``step()`` is :meth:`grokscope.theory.wm_step.FactorGD.step`, the factor form of the (w̄, M) map.
    """

    name = "reduced"

    def __init__(self, data: Dataset, *, N: int, eps: float, alpha: float, eta: float, centre: bool,
                 wbar0: Tensor | None = None, M0: Tensor | None = None, factor: Tensor | None = None,
                 optimiser: str = "gd", momentum: float = 0.0, weight_decay: float = 0.0,
                 const: float = 0.0):
        if optimiser not in EXACT_OPTIMISERS:
            raise ValueError(f"optimiser = {optimiser!r}: the reduced engine is exact for "
                             f"{', '.join(EXACT_OPTIMISERS)} (full batch)")
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
        self.use_v = optimiser == "momentum"
        self.U0 = _canonical(factor)                         # (D, m); w̄₀ = U0[:, 0]
        self.U = self.U0.clone()
        self.wbar0, self.M0 = self.U0[:, 0].clone(), self.U0 @ self.U0.T
        self.trM0 = float((self.U0 * self.U0).sum())
        self._grams: dict[tuple[int, int], tuple] = {}
        # f̃ = α·f_raw + offset with f_raw = f − κ: offset = −α f_raw(θ₀) (centred) or ακ.
        self.offset = {}
        for split, Xs in (("train", X), ("test", data.X_test)):
            self.offset[split] = (-self.alpha * self._fraw(Xs) if self.centre else
                                  torch.full((Xs.shape[0],), self.alpha * self.const, dtype=dt, device=dev))
        self.neg_y0 = self.offset["train"] - data.y_train    # r = α f_raw − y0
        self.init_factor_gd(X, self.U, torch.zeros_like(self.U) if self.use_v else None, self.neg_y0,
                            alpha=self.alpha, eps=self.eps, eta=self.eta, k=gain(self.alpha, self.N, P),
                            lam=weight_decay, mu=momentum if self.use_v else 0.0)

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def from_params(cls, W: Tensor, data: Dataset, **kw: Any) -> ReducedEngine:
        """Engine equal to the network with weights W (N, D) and readouts 1: Û₀ from R of
        QR([1, W]/√N) (m = min(N, D+1) columns; no squaring of W's condition number)."""
        X = data.X_train
        N = int(W.shape[0])
        ones = torch.ones(N, 1, dtype=X.dtype, device=X.device)
        R = torch.linalg.qr(torch.cat([ones, W.to(X.device, X.dtype)], 1) / math.sqrt(N), mode="r")[1]
        return cls(data, N=N, factor=torch.cat([R.T[1:], R.T[:1]]), **kw)

    @classmethod
    def infinite_width(cls, data: Dataset, *, N: int, sigma: float = 1.0, **kw: Any) -> ReducedEngine:
        """N → ∞ initial condition w̄ = 0, M = σ²I (U₀ = [0 | σI], u₁ = e₁); N only sets k = 2α/(NP)."""
        X, D = data.X_train, data.D
        factor = torch.zeros(D + 1, D + 1, dtype=X.dtype, device=X.device)
        factor[:D, 1:] = float(sigma) * torch.eye(D, dtype=X.dtype, device=X.device)
        factor[D, 0] = 1.0
        return cls(data, N=N, factor=factor, **kw)

    # -- training ------------------------------------------------------------------------------
    def _fraw(self, X: Tensor) -> Tensor:
        """f − κ = x·w̄ + (ε/2)xᵀMx = H[:, 0] + (ε/2)|H|² row-wise, H = XU; shape (n,)."""
        H = X @ self.U
        q = torch.linalg.vector_norm(H, dim=1)
        return torch.addcmul(H[:, 0], q, q, value=0.5 * self.eps)

    # -- read-outs shared by every engine ------------------------------------------------------
    @torch.no_grad()
    def outputs(self, split: str) -> Tensor:
        """f̃ = c + u·x + ½xᵀSx on the train or test set, shape (P,)."""
        X = self.data.X_train if split == "train" else self.data.X_test
        return self.alpha * self._fraw(X) + self.offset[split]

    def stats(self) -> tuple[Tensor, Tensor]:
        """(w̄ (D,), M (D, D)) = (U[:, 0], U Uᵀ), the paper's eq. 4 statistics of the current weights."""
        return self.U[:, 0].clone(), self.U @ self.U.T

    def quadratic_form(self) -> tuple[Tensor, Tensor, Tensor]:
        """f̃(x) = c + u·x + ½xᵀSx: (ακ, αw̄, αεM), or (0, α(w̄ − w̄₀), αε(M − M₀)) when centred."""
        wbar, M = self.stats()
        c = torch.tensor(0.0 if self.centre else self.alpha * self.const, dtype=M.dtype, device=M.device)
        if self.centre:
            wbar, M = wbar - self.wbar0, M - self.M0
        return c, self.alpha * wbar, (self.alpha * self.eps) * M

    def ntk(self, X1: Tensor, X2: Tensor | None = None) -> Tensor:
        """Empirical NTK of f̃ w.r.t. W, (n1, n2): (α²/N)(x·x')·mean_i φ'(w_i·x)φ'(w_i·x')
        = (α²/N)(X1X2ᵀ) ⊙ (G1G2ᵀ) with G = εXU + 1e₁ᵀ, because mean_i (1 + εw_i·x)(1 + εw_i·x')
        = (Ûᵀẑ)·(Ûᵀẑ'), ẑ = (εx, 1). Equals the network's NTK (W trained, readouts fixed); for
        :meth:`infinite_width` N is the nominal width (the α²/N prefactor cancels in alignments).
        The formula: :func:`grokscope.theory.ntk_closed_form.factor_ntk`."""
        X2 = X1 if X2 is None else X2
        return factor_ntk(self.U, X1, X2, self._input_gram(X1, X2), eps=self.eps, scale=self.alpha**2 / self.N)

    def _input_gram(self, X1: Tensor, X2: Tensor) -> Tensor:
        """X1X2ᵀ, cached for the data tensors probes ask about again and again (≤ 4·10⁶ entries).
        The cache holds the tensors themselves (so their ids stay theirs) and their version counters
        (so an in-place change invalidates the entry)."""
        key = (id(X1), id(X2))
        hit = self._grams.get(key)
        if hit is not None and hit[0] is X1 and hit[1] is X2 and hit[2] == (X1._version, X2._version):
            return hit[3]
        G = X1 @ X2.T
        if G.numel() <= 4_000_000:
            self._grams[key] = (X1, X2, (X1._version, X2._version), G)
        return G

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
    if not supports(m, "quadratic_form"):
        phi = f", model.phi = {m.phi!r}" if hasattr(m, "phi") else ""
        return False, (f"model.name = {m.name!r}{phi}: the reduced engine needs the committee machine with a "
                       "quadratic φ (quadratic, or hermite with k = 2)")
    if not supports(m, "reduced"):
        return False, (f"model.readouts = {m.readouts!r}, readout_init = {m.readout_init!r}: needs "
                       "readouts fixed to 1 (then every neuron follows the same affine map)")
    if not task_supports(t, "scalar_regression") or cfg.train.loss != "mse":
        return False, (f"task.name = {t.name!r}, train.loss = {cfg.train.loss!r}: needs scalar "
                       "regression targets (the polynomial task) with the mse loss")
    if o.name not in EXACT_OPTIMISERS:
        return False, (f"optim.name = {o.name!r}: needs gd, full-batch sgd or momentum (Adam's "
                       "per-coordinate scaling breaks the shared affine map)")
    if o.batch_size is not None:
        return False, f"optim.batch_size = {o.batch_size}: needs full-batch steps (mini-batches break it)"
    if getattr(t, "online", False):
        return False, "task.online = true: fresh samples every step, no fixed train set to reduce"
    why = _neighbour_reason(cfg)
    if why:
        return False, why
    return True, (f"exact: quadratic φ, fixed unit readouts, mse, full-batch {o.name}"
                  + (" with weight decay" if o.weight_decay else "")
                  + ": the dynamics close in (w̄, M); cost O(P·D²) per step, independent of N")


def _neighbour_reason(cfg: Any) -> str | None:
    """Why ⊥Grad, a fixed weight norm, decoupled decay or a changed working precision rule out the
    reduced engine (None when none is set): they act on θ or the loss, not on the closed (w̄, M) map."""
    o, t = cfg.optim, cfg.train
    if o.orthogonal:
        return "optim.orthogonal = true: ⊥Grad projects per weight tensor, which the (w̄, M) map does not close"
    if o.fixed_norm is not None:
        return f"optim.fixed_norm = {o.fixed_norm!r}: the network engine rescales the weights"
    if o.weight_decay and o.weight_decay_mode == "decoupled":
        return "optim.weight_decay_mode = 'decoupled': the reduced engine implements coupled (l2) decay"
    if t.logits_dtype not in ("auto", t.dtype) or t.loss_dtype not in ("auto", t.dtype):
        return (f"train.logits_dtype = {t.logits_dtype!r}, train.loss_dtype = {t.loss_dtype!r}: a working "
                f"precision other than train.dtype runs on the network engine")
    return None


def build_reduced(inp: EngineInputs) -> ReducedEngine:
    """The reduced engine for a config: ``model.init = sampled`` starts from the network's W (N, D),
    ``infinite`` from w̄ = 0, M = σ²I. ``inp.eta`` is the final learning rate."""
    cfg, model = inp.cfg, inp.model
    m, o = cfg.model, cfg.optim
    ok, why = reduced_exact_for(cfg)
    if not ok:
        raise ValueError(f"the reduced engine is not exact for this config: {why}")
    kw = {"eps": m.eps, "alpha": cfg.scaling.alpha, "eta": inp.eta, "centre": cfg.scaling.centre,
          "optimiser": "gd" if o.name == "sgd" else o.name, "momentum": o.momentum,
          "weight_decay": o.weight_decay, "const": model.const}
    if m.init == "infinite":
        return ReducedEngine.infinite_width(inp.data, N=m.N, sigma=m.sigma, **kw)
    return ReducedEngine.from_params(inp.params0["W"], inp.data, **kw)


register_engine("reduced", reduced_exact_for, build_reduced, priority=10, infinite_width=True)
