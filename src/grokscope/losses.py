"""Losses with closed-form gradients: MSE and cross-entropy.

Each loss is a frozen :class:`Loss` with ``value(pred, y)`` (scalar), ``grad(pred, y)`` (dL/dpred,
shape of ``pred``) and ``per_sample(pred, y)`` (shape (P,)). Shapes: ``pred`` is (P,) or (P, K);
P = number of samples, K = outputs/classes. Register a new loss with one line in :data:`LOSSES`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["LOSSES", "MSE", "CrossEntropy", "Loss", "accuracy", "get_loss"]


@dataclass(frozen=True)
class Loss:
    """Base class: subclasses implement ``per_sample`` and ``grad``; ``value`` is their mean."""

    name: str = "loss"

    def per_sample(self, pred: Tensor, y: Tensor) -> Tensor:  # (P,)
        raise NotImplementedError

    def value(self, pred: Tensor, y: Tensor) -> Tensor:  # ()
        return self.per_sample(pred, y).mean()

    def grad(self, pred: Tensor, y: Tensor) -> Tensor:  # like pred
        raise NotImplementedError

    def __call__(self, pred: Tensor, y: Tensor) -> Tensor:
        return self.value(pred, y)


@dataclass(frozen=True)
class MSE(Loss):
    """L = mean over all elements of (pred − y)²  (no ½): (1/P) Σ_μ (f_μ − y_μ)² for (P,) outputs,
    (1/(PK)) Σ_{μ,k} (f_μk − y_μk)² for (P, K), as ``torch.nn.MSELoss``.
    dL/dpred = 2 (pred − y) / pred.numel()."""

    name: str = "mse"

    def per_sample(self, pred: Tensor, y: Tensor) -> Tensor:
        r2 = (pred - y).square()
        return r2 if r2.ndim == 1 else r2.flatten(1).mean(1)

    def value(self, pred: Tensor, y: Tensor) -> Tensor:
        return (pred - y).square().mean()

    def grad(self, pred: Tensor, y: Tensor) -> Tensor:
        return (pred - y).mul_(2.0 / pred.numel())


@dataclass(frozen=True)
class CrossEntropy(Loss):
    """L = (1/P) Σ_μ [logsumexp(z_μ) − z_μ,y_μ] for logits z (P, K), integer labels y (P,).
    dL/dz = (softmax(z) − onehot(y)) / P. The log-softmax is always taken in float64 (as the paper's
    Transformer code does); the loss is float64, the gradient has the dtype of z."""

    name: str = "cross_entropy"

    @staticmethod
    def _check(pred: Tensor, y: Tensor) -> None:
        if pred.ndim != 2 or y.shape != pred.shape[:1] or y.dtype.is_floating_point:
            raise ValueError(f"cross_entropy expects logits (P, K) and integer labels (P,); "
                             f"got pred {tuple(pred.shape)}, y {tuple(y.shape)} {y.dtype}")

    def per_sample(self, pred: Tensor, y: Tensor) -> Tensor:
        self._check(pred, y)
        z = pred.to(torch.float64)
        picked = z.gather(1, y.long().unsqueeze(1)).squeeze(1)
        return torch.logsumexp(z, dim=1) - picked

    def grad(self, pred: Tensor, y: Tensor) -> Tensor:
        self._check(pred, y)
        g = torch.softmax(pred.to(torch.float64), dim=1)
        g.scatter_add_(1, y.long().unsqueeze(1), torch.full_like(g[:, :1], -1.0))
        return g.div_(pred.shape[0]).to(pred.dtype)


LOSSES: dict[str, Loss] = {"mse": MSE(), "cross_entropy": CrossEntropy()}


def get_loss(name: str) -> Loss:
    """The registered loss called ``name``; a ``ValueError`` lists the allowed names otherwise."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"loss {name!r}: unknown; allowed are {', '.join(sorted(LOSSES))}") from None


def accuracy(pred: Tensor, y: Tensor) -> float | None:
    """Fraction of samples whose argmax class is right, or ``None`` for scalar regression.

    pred (P, K) logits with integer labels y (P,): mean(argmax pred == y);
    pred (P, K) with float/one-hot targets y (P, K): mean(argmax pred == argmax y);
    pred (P,) or (P, 1) with float targets: ``None`` (accuracy is not meaningful).
    """
    if pred.ndim < 2 or (pred.shape[-1] == 1 and y.dtype.is_floating_point):
        return None
    if not y.dtype.is_floating_point and y.shape == pred.shape[:-1]:
        hits = pred.argmax(-1) == y
    elif y.shape == pred.shape:
        hits = pred.argmax(-1) == y.argmax(-1)
    else:
        raise ValueError(f"accuracy: pred {tuple(pred.shape)} needs labels {tuple(pred.shape[:-1])} "
                         f"(integer) or targets {tuple(pred.shape)}; got y {tuple(y.shape)} {y.dtype}")
    return hits.double().mean().item()
