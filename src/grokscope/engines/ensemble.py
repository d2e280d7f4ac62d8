"""Batched ensembles: E runs of one engine trained as one, with a leading member axis.

The members differ only in per-member scalars — α, ε, η (from ``optim.lr`` and the lr rule), the
init seed and scale σ — and share the data, the width N, the optimiser kind and the mini-batches.
Each ensemble is built from the members' own single-run engines (``NetworkEngine`` /
``ReducedEngine``, made by :func:`grokscope.training.loop.build`), so the initial state (θ₀, f̃₀, the
reduced factor U₀, offsets) is that of the single runs bit for bit. Their state is stacked along
axis 0 and each member engine's parameters are then re-pointed at its slice of the stack: the member
engines are the per-member *views*, and every read-out (``outputs``, ``quadratic_form``, ``ntk``,
``weight_norm``, ``param_change``) runs the single engine's own code on the member's slice.

``step()`` updates every member at once and returns the train losses before the update, (E,);
``keep(positions)`` drops the other members (stopped, diverged) from the stack, so they cost
nothing afterwards while their views keep their last state. The step is the single engine's update
with per-member scalars as (E, 1, …) tensors, batched matrix products (``torch.bmm``/``baddbmm``)
replacing the single products; rounding may differ by an ulp per operation, nothing else. The reduced
update itself is :class:`grokscope.theory.wm_step.FactorGDMembers` (theory/, next to the single one).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from grokscope.engines.network import NetworkEngine
from grokscope.engines.reduced import ReducedEngine
from grokscope.numerics.batching import EpochBatches
from grokscope.numerics.optim import make_optimiser
from grokscope.theory.wm_step import FactorGDMembers

__all__ = ["EnsembleNetwork", "EnsembleReduced", "StackedMembers", "take"]


def take(obj: Any, ix: Tensor, E: int) -> Any:
    """``obj`` with every tensor whose leading axis is the member axis (length E) indexed by ``ix``
    (dicts, lists and tuples walked recursively; everything else kept)."""
    if isinstance(obj, Tensor):
        return obj.index_select(0, ix) if obj.ndim and obj.shape[0] == E else obj
    if isinstance(obj, dict):
        return {k: take(v, ix, E) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(take(v, ix, E) for v in obj)
    return obj


def _col(values: Sequence[float], like: Tensor, ndim: int) -> Tensor:
    """Per-member scalars as an (E, 1, …, 1) tensor with ``ndim`` dimensions."""
    return torch.tensor([float(v) for v in values], dtype=like.dtype, device=like.device).reshape(
        (-1,) + (1,) * (ndim - 1))


class StackedMembers:
    """Bookkeeping shared by ensembles whose state is ``params`` (a dict of (E, …) tensors), ``f0``
    and the optimiser ``state``: the member views (``_bind``), the shared mini-batch
    (``_next_batch``) and dropping members (``keep``). A
    subclass lists its per-member scalar lists in ``_per_member`` and rebuilds their tensors (and
    ``eta``) in ``_scalars``."""

    _per_member: tuple[str, ...] = ("_alpha", "_eta")

    @property
    def E(self) -> int:
        return len(self.members)

    def _stack(self, members: list[NetworkEngine], etas: Sequence[float]) -> None:
        """Stack the members' parameters (and f̃₀ when centred; ``self.centre`` set first) and scalars."""
        self.members = list(members)
        self.trainable = tuple(members[0].model.trainable)
        self.params = {k: torch.stack([m.params[k] for m in members]) for k in members[0].params}
        self.f0 = torch.stack([m.f0["train"] for m in members]) if self.centre else None
        self._alpha = [float(m.alpha) for m in members]
        self._eta = [float(e) for e in etas]

    def _start(self, optim_cfg: Any, batch_size: int | None, generator: torch.Generator | None) -> None:
        """Per-member tensors, the optimiser over the stack (η per member), the shared batches, the views."""
        self._scalars()
        self.opt = make_optimiser(optim_cfg, self.eta)
        self.state = self.opt.init({k: self.params[k] for k in self.trainable})
        self._batches = EpochBatches(self.data.P, batch_size, generator, self.data.X_train.device)
        self._bind()

    def _bind(self) -> None:
        for i, m in enumerate(self.members):
            m.params = {k: v[i] for k, v in self.params.items()}

    def _next_batch(self) -> tuple[Tensor, Tensor, Tensor | None]:
        """(X, y, f0) of the next shared mini-batch (the whole train set for full batch); f0 (E, batch)."""
        X, y, f0 = self.data.X_train, self.data.y_train, self.f0
        idx = self._batches.next()
        if idx is not None:
            X, y = X[idx], y[idx]
            f0 = f0[:, idx] if f0 is not None else None
        return X, y, f0

    def keep(self, positions: Sequence[int]) -> None:
        """Keep only the members at ``positions`` (in the current order); the others' views keep
        their last state (the old stack is no longer written)."""
        E = self.E
        ix = torch.as_tensor(list(positions), dtype=torch.long, device=next(iter(self.params.values())).device)
        self.params = take(self.params, ix, E)
        self.f0 = take(self.f0, ix, E)
        self.state = take(self.state, ix, E)
        self.members = [self.members[i] for i in positions]
        for name in self._per_member:
            setattr(self, name, [getattr(self, name)[i] for i in positions])
        if self.members:
            self._scalars()
            self.opt.lr = self.eta
            self._bind()


class EnsembleNetwork(StackedMembers):
    """The committee network engine (analytic gradients, MSE) for E members: W (E, N, D), a (E, N).

    Per-member α (E,), ε (E,) and η (E,); optimisers of :mod:`grokscope.numerics.optim` with η as a tensor
    (gd, sgd with the shared mini-batch sequence, momentum, adam, adamw). Forward for member e:
    H_e = X W_eᵀ (P, N), f_e = (1/N) φ_ε(H_e) a_e (for quadratic φ with unit readouts
    f_e = (X Σ_i w_i + (ε/2)|H_e|²)/N, as the single engine); f̃_e = α_e(f_e − f_e0);
    v_e = α_e ∂L/∂f̃_e; ∇W_e = (1/N) (a_e ⊙ φ'(H_e) ⊙ v_e)ᵀ X, ∇a_e = (1/N) φ(H_e)ᵀ v_e.
    """

    name = "network"
    _per_member = ("_alpha", "_eps", "_eta")

    def __init__(self, members: list[NetworkEngine], etas: Sequence[float], optim_cfg: Any, *,
                 batch_size: int | None = None, generator: torch.Generator | None = None):
        m0 = members[0]
        if m0.grad_mode != "analytic" or m0.loss.name != "mse":
            raise ValueError("EnsembleNetwork: needs train.grad = analytic and train.loss = mse")
        self.data, self.centre = m0.data, m0.centre
        self.N = m0.model.N
        self.quad = m0.model._quad_fixed(m0.params)
        self._eps = [m.model.eps for m in members]
        self._stack(members, etas)
        self._start(optim_cfg, batch_size, generator)

    def _scalars(self) -> None:
        W = self.params["W"]
        self.alpha = _col(self._alpha, W, 2)                  # (E, 1)
        self.half_eps = _col([0.5 * e for e in self._eps], W, 2)  # (E, 1): (ε/2), as the single engine
        self.eps3 = _col(self._eps, W, 3)                     # (E, 1, 1)
        self.eta = _col(self._eta, W, 1)                      # (E,)
        # the member model with ε as an (E, 1, 1) tensor: act/act_grad broadcast over (E, P, N)
        self.model = dataclasses.replace(self.members[0].model, eps=self.eps3)
        self._H: Tensor | None = None  # (E, batch, N) activations, reused: no page faults per step

    def step(self) -> Tensor:
        """One update of every member; returns the (batch) train losses before it, shape (E,)."""
        X, y, f0 = self._next_batch()
        W, a = self.params["W"], self.params["a"]
        Xe = X.expand(self.E, *X.shape)
        if self._H is None or self._H.shape[1] != X.shape[0]:
            E, Pb, D = self.E, X.shape[0], X.shape[1]
            kw = {"dtype": W.dtype, "device": W.device}
            self._H, self._Xv = torch.empty(E, Pb, self.N, **kw), torch.empty(E, Pb, D, **kw)
            self._G = torch.empty(E, self.N, D, **kw)
        H = torch.bmm(Xe, W.mT, out=self._H)                                   # (E, P, N)
        if self.quad:
            sq = torch.linalg.vector_norm(H, dim=2).square()
            f = (torch.bmm(Xe, W.sum(1).unsqueeze(-1)).squeeze(-1) + self.half_eps * sq) / self.N
        else:
            f = torch.bmm(self.model.act(H), a.unsqueeze(-1)).squeeze(-1) / self.N
        out = self.alpha * (f - f0) if f0 is not None else self.alpha * f      # (E, P)
        r = out - y
        value = r.square().mean(1)
        v = self.alpha * r.mul_(2.0 / r.shape[1])                              # α ∂L/∂f̃
        if self.quad:
            Xv = torch.mul(Xe, v.unsqueeze(-1), out=self._Xv)
            gW = torch.bmm(H.mT, Xv, out=self._G).mul_(self.eps3).add_(Xv.sum(1, keepdim=True)).div_(self.N)
        else:
            G = self.model.act_grad(H).mul_(v.unsqueeze(-1)).mul_(a.unsqueeze(1))
            gW = torch.bmm(G.mT, Xe).div_(self.N)
        grads = {"W": gW}
        if "a" in self.trainable:
            grads["a"] = torch.bmm(self.model.act(H).mT, v.unsqueeze(-1)).squeeze(-1).div_(self.N)
        self.opt.step({k: self.params[k] for k in self.trainable}, grads, self.state)
        return value


class EnsembleReduced(FactorGDMembers):
    """The exact reduced (w̄, M) engine for E members: U (E, D, m), M_e = U_e U_eᵀ, w̄_e = U_e[:, 0].

    Per-member α, ε, η and k = 2α/(NP); shared N, P, momentum μ and weight decay λ. ``step()`` is
    :meth:`grokscope.theory.wm_step.FactorGDMembers.step`, the factor form of the (w̄, M) map with
    the scalars as (E, 1, …) tensors.
    """

    name = "reduced"

    def __init__(self, members: list[ReducedEngine]):
        m0 = members[0]
        self.data, self.members = m0.data, list(members)
        self.use_v = m0.use_v
        U = torch.stack([m.U for m in members])                                # (E, D, m)
        V = torch.stack([m.V for m in members]) if self.use_v else None
        self._s = {k: [getattr(m, k) for m in members] for k in ("alpha", "eps", "eta", "k")}
        self._scalars(U, V, torch.stack([m.neg_y0 for m in members]), m0.lam, m0.mu)
        self._bind()

    @property
    def E(self) -> int:
        return len(self.members)

    def _scalars(self, U: Tensor, V: Tensor | None, neg_y0: Tensor, lam: float, mu: float) -> None:
        self.init_factor_gd(self.data.X_train, U, V, neg_y0, **self._s, lam=lam, mu=mu)

    def _bind(self) -> None:
        for i, m in enumerate(self.members):
            m.U = self.U[i]
            if self.use_v:
                m.V = self.V[i]

    def keep(self, positions: Sequence[int]) -> None:
        """Keep only the members at ``positions``; the others' views keep their last U."""
        E = self.E
        ix = torch.as_tensor(list(positions), dtype=torch.long, device=self.U.device)
        U, V, neg_y0 = take((self.U, self.V, self.neg_y0), ix, E)
        self.members = [self.members[i] for i in positions]
        self._s = {k: [v[i] for i in positions] for k, v in self._s.items()}
        self.U, self.V, self.neg_y0 = U, V, neg_y0
        if self.members:
            self._scalars(U, V, neg_y0, self.lam, self.mu)
            self._bind()
