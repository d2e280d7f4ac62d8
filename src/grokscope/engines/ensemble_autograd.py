"""Batched ensembles of any functional model trained by autograd: ``torch.func.vmap`` over a member axis.

The committee's ensembles (:mod:`grokscope.engines.ensemble`) hand-write the batched update; this one
needs nothing from the model but a functional ``apply(params, X)``, so any model that declares the
``batched`` capability without a hand-written gradient (the rate RNN) trains E members as one. The
members share the model (its sizes and hyper-parameters), the data, the loss, the optimiser kind and
the mini-batch sequence; they differ in their initial parameters θ₀ᵉ (seed, every ``init.*``
setting), α_e and η_e. For member e, on the shared batch (X, y):

    L_e(θ) = loss(f̃_e(X), y),   f̃_e = α_e (f(θ; X) − f(θ₀ᵉ; X)) (centred) or α_e f(θ; X),

and ``vmap(grad_and_value(L))`` gives every member's (∇L_e, L_e) at once from the stacked parameters
(E, …). The optimiser then updates the stack with per-member η (an (E,) tensor). This is the single
network engine's autograd step (:meth:`grokscope.engines.network.NetworkEngine._autograd`) with the
member axis added: matrix products become batched ones, so results agree with single runs to
rounding. The member engines stay the per-member views (their params re-pointed at slices of the
stack), so every probe and read-out runs the single engine's code.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from grokscope.engines.ensemble import StackedMembers, _col
from grokscope.engines.network import NetworkEngine
from grokscope.numerics.scaling import scaled_output

__all__ = ["EnsembleAutograd"]


class EnsembleAutograd(StackedMembers):
    """E :class:`NetworkEngine` members (equal models, autograd gradients, any loss) stepped together:
    params (E, …), per-member α (E,) and η (E,), one shared mini-batch per step."""

    name = "network"

    def __init__(self, members: list[NetworkEngine], etas: Sequence[float], optim_cfg: Any, *,
                 batch_size: int | None = None, generator: torch.Generator | None = None):
        m0 = members[0]
        for i, m in enumerate(members):
            if m.model != m0.model:
                raise ValueError(f"EnsembleAutograd: member {i}'s model {m.model!r} differs from member 0's "
                                 f"{m0.model!r}; the members must share the model's sizes and settings")
            if m.online is not None:
                raise ValueError("EnsembleAutograd: task.online draws fresh samples per member; train alone")
        self.model, self.data, self.loss, self.centre = m0.model, m0.data, m0.loss, m0.centre
        self._stack(members, etas)
        self._start(optim_cfg, batch_size, generator)

    def _scalars(self) -> None:
        like = self.params[self.trainable[0]]
        self.alpha = _col(self._alpha, like, 1)  # (E,)
        self.eta = _col(self._eta, like, 1)      # (E,)

    def _objective(self, tp: dict[str, Tensor], fixed: dict[str, Tensor], alpha: Tensor, f0: Tensor | None,
                   X: Tensor, y: Tensor) -> Tensor:
        """L_e for one member (inside vmap: tp, fixed, α, f0 are that member's slices)."""
        return self.loss.value(scaled_output(self.model.apply({**fixed, **tp}, X), f0, alpha), y)

    def step(self) -> Tensor:
        """One update of every member; returns the (batch) train losses before it, shape (E,)."""
        from torch.func import grad_and_value, vmap

        X, y, f0 = self._next_batch()
        tp = {k: self.params[k] for k in self.trainable}
        fixed = {k: v for k, v in self.params.items() if k not in self.trainable}
        batched = vmap(grad_and_value(self._objective), in_dims=(0, 0, 0, 0 if f0 is not None else None, None, None))
        grads, value = batched(tp, fixed, self.alpha, f0, X, y)
        self.opt.step(tp, grads, self.state)
        return value.detach()
