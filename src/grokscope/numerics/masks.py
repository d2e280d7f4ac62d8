"""Fixed weight masks: grokking tickets (Minegishi, Iwasawa & Matsuo 2023, "Bridging Lottery Ticket and
Grokking"). A mask m (bool, one per pruned tensor) is taken from a grokked run's *final* weights by
global magnitude pruning, applied to the new run's *initial* weights (θ₀ ← m ⊙ θ₀, "rewinding"), and kept
fixed while training: every step sees the gradient m ⊙ g and the weights are re-masked after the update
(so weight decay and Adam's moments never revive a pruned entry).

  magnitude_mask   keep the (1 − s)·n largest |θ_final| over all pruned tensors together (global scope,
                   the paper's; ties broken by position, so exactly round(s·n) entries are pruned), or the
                   (1 − s)·n_t largest of each tensor t (layer scope: layers of very different scales, such
                   as a readout 5× smaller than the first layer, are otherwise pruned whole)
  random_mask      the same number of kept entries per tensor as a given mask (or round((1 − s)·n_t) per
                   tensor without one), positions uniform at random: the control of equal sparsity
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from grokscope.numerics.optim import _Wrapper

Params = dict[str, Tensor]
Mask = dict[str, Tensor]


def prunable(params: Params, trainable: tuple[str, ...]) -> list[str]:
    """The tensors a ticket prunes: every trainable tensor with ndim ≥ 2 (weight matrices, embeddings)."""
    return [k for k in trainable if params[k].ndim >= 2]


def magnitude_mask(weights: Params, sparsity: float, names: list[str], scope: str = "global") -> Mask:
    """Magnitude pruning of the tensors ``names``: bool masks. global: exactly round(s·n) entries False
    over all n entries together; layer: round(s·n_t) in each tensor separately."""
    if not 0 <= sparsity < 1:
        raise ValueError(f"magnitude_mask: sparsity = {sparsity!r}; allowed 0 ≤ s < 1")
    if scope == "layer":
        out: Mask = {}
        for k in names:
            out.update(magnitude_mask(weights, sparsity, [k], "global"))
        return out
    if scope != "global":
        raise ValueError(f"magnitude_mask: scope = {scope!r}; allowed global, layer")
    flat = torch.cat([weights[k].detach().reshape(-1).abs().to(torch.float64).cpu() for k in names])
    n_prune = round(sparsity * flat.numel())
    keep = torch.ones(flat.numel(), dtype=torch.bool)
    keep[torch.argsort(flat, stable=True)[:n_prune]] = False
    out, i = {}, 0
    for k in names:
        n = weights[k].numel()
        out[k] = keep[i:i + n].reshape(weights[k].shape).to(weights[k].device)
        i += n
    return out


def random_mask(shapes: dict[str, tuple[int, ...]], generator: torch.Generator, *, like: Mask | None = None,
                sparsity: float | None = None) -> Mask:
    """Random bool masks: per tensor as many kept entries as ``like`` has (or round((1 − sparsity)·n_t))."""
    out = {}
    for k, shape in shapes.items():
        n = int(torch.Size(shape).numel())
        kept = int(like[k].sum()) if like is not None else round((1 - float(sparsity)) * n)
        m = torch.zeros(n, dtype=torch.bool)
        m[torch.randperm(n, generator=generator)[:kept]] = True
        out[k] = m.reshape(shape)
    return out


def sparsity(mask: Mask) -> float:
    """Fraction of entries pruned over all masked tensors."""
    total = sum(m.numel() for m in mask.values())
    return 1.0 - sum(int(m.sum()) for m in mask.values()) / total if total else 0.0


def apply_mask(params: Params, mask: Mask) -> Params:
    """New params with θ_k ← m_k ⊙ θ_k for the masked tensors."""
    return {k: (v * mask[k].to(v.dtype).to(v.device) if k in mask else v) for k, v in params.items()}


class Masked(_Wrapper):
    """Keeps a fixed mask through training: ``step`` gives the base optimiser m ⊙ g and re-applies
    θ ← m ⊙ θ after its update (in place). Other attributes read through to the base optimiser."""

    _own = ("base", "members", "mask")

    def __init__(self, base: Any, mask: Mask) -> None:
        self.base, self.members, self.mask = base, False, mask

    def init(self, params: Params) -> dict[str, Any]:
        return self.base.init(params)

    def step(self, params: Params, grads: Params, state: dict[str, Any]) -> None:
        mk = {k: m.to(device=params[k].device, dtype=params[k].dtype) for k, m in self.mask.items() if k in params}
        self.base.step(params, {k: (g * mk[k] if k in mk else g) for k, g in grads.items()}, state)
        for k, m in mk.items():
            params[k].mul_(m)
