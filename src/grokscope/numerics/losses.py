"""Losses with closed-form gradients: MSE, cross-entropy and StableMax cross-entropy.

Each loss is a frozen :class:`Loss` with ``value(pred, y)`` (scalar), ``grad(pred, y)`` (dL/dpred,
shape of ``pred``) and ``per_sample(pred, y)`` (shape (P,)). Shapes: ``pred`` is (P,) or (P, K);
P = number of samples, K = outputs/classes. Register a new loss with one line in :data:`LOSSES`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["LOSSES", "MSE", "CrossEntropy", "Loss", "Precision", "StableMaxCrossEntropy", "accuracy", "get_loss",
           "softmax_collapse_fraction", "with_precision", "zero_loss_fraction"]


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
    dL/dz = (softmax(z) − onehot(y)) / P."""

    name: str = "cross_entropy"

    @staticmethod
    def _check(pred: Tensor, y: Tensor) -> None:
        if pred.ndim != 2 or y.shape != pred.shape[:1] or y.dtype.is_floating_point:
            raise ValueError(f"cross_entropy expects logits (P, K) and integer labels (P,); "
                             f"got pred {tuple(pred.shape)}, y {tuple(y.shape)} {y.dtype}")

    def per_sample(self, pred: Tensor, y: Tensor) -> Tensor:
        self._check(pred, y)
        picked = pred.gather(1, y.long().unsqueeze(1)).squeeze(1)
        return torch.logsumexp(pred, dim=1) - picked

    def grad(self, pred: Tensor, y: Tensor) -> Tensor:
        self._check(pred, y)
        g = torch.softmax(pred, dim=1)
        g.scatter_add_(1, y.long().unsqueeze(1), torch.full_like(g[:, :1], -1.0))
        return g.div_(pred.shape[0])


def stablemax_s(z: Tensor) -> Tensor:
    """s(z) = z + 1 (z ≥ 0), 1/(1 − z) (z < 0): positive, monotone, C¹, linear (not exponential) growth.
    The negative branch is evaluated on min(z, 0) so autograd never sees 1/(1 − z) at z ≥ 1."""
    neg = torch.clamp(z, max=0.0)
    return torch.where(z >= 0, z + 1.0, 1.0 / (1.0 - neg))


@dataclass(frozen=True)
class StableMaxCrossEntropy(Loss):
    """StableMax cross-entropy (Prieto et al. 2025): p_k = s(z_k)/Σ_j s(z_j), L = (1/P) Σ_μ −log p_{y_μ},
    logits z (P, K), integer labels y (P,). Evaluated as −log p_y = log1p(R/s(z_y)), R = Σ_{j≠y} s(z_j)
    summed directly, so a confident sample's small loss keeps full relative precision (the reference's
    −log(s_y/S) loses it to cancellation).
    dL/dz_k = (1/P) s'(z_k)/S for k ≠ y and −(1/P) s'(z_y) R/(S s(z_y)) for k = y, with S = s(z_y) + R and
    s'(z) = 1 (z ≥ 0), 1/(1 − z)² (z < 0). The reference adds 1e-30 to 1 − z; we do not (1 − z ≥ 1 on
    that branch, so it changes nothing above 1e-30 relative)."""

    name: str = "stablemax"

    @staticmethod
    def _parts(pred: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(s (P, K), s(z_y) (P, 1), R (P, 1), one-hot of y (P, K) bool)."""
        CrossEntropy._check(pred, y)
        s = stablemax_s(pred)
        hot = torch.zeros_like(pred, dtype=torch.bool).scatter_(1, y.long().unsqueeze(1), True)
        picked = s.gather(1, y.long().unsqueeze(1))
        rest = torch.where(hot, torch.zeros_like(s), s).sum(1, keepdim=True)
        return s, picked, rest, hot

    def per_sample(self, pred: Tensor, y: Tensor) -> Tensor:
        _, picked, rest, _ = self._parts(pred, y)
        return torch.log1p(rest / picked).squeeze(1)

    def grad(self, pred: Tensor, y: Tensor) -> Tensor:
        _, picked, rest, hot = self._parts(pred, y)
        neg = torch.clamp(pred, max=0.0)
        ds = torch.where(pred >= 0, torch.ones_like(pred), 1.0 / (1.0 - neg).square())  # s'(z)
        S = picked + rest
        g = torch.where(hot, -ds * rest / (S * picked), ds / S)
        return g.div_(pred.shape[0])


LOSSES: dict[str, Loss] = {"mse": MSE(), "cross_entropy": CrossEntropy(), "stablemax": StableMaxCrossEntropy()}


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


# -- working precision and softmax collapse (Prieto et al. 2025) --------------------------------
DTYPE_NAMES: dict[str, torch.dtype] = {"float16": torch.float16, "float32": torch.float32,
                                       "float64": torch.float64}


@dataclass(frozen=True)
class Precision(Loss):
    """``base`` evaluated in a chosen working precision: the model output f̃ is rounded to
    ``logits_dtype``, then the loss (and its gradient) is computed in ``loss_dtype``; float targets are
    cast to ``loss_dtype`` too. Values and gradients come back in the caller's dtype (exact up-casts,
    so a loss that is exactly 0 in the working precision stays 0). Differentiable (``.to`` is), so the
    autograd path sees the same rounding."""

    base: Loss = None  # type: ignore[assignment]
    logits_dtype: torch.dtype = torch.float64
    loss_dtype: torch.dtype = torch.float64
    name: str = "precision"

    def _cast(self, pred: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        z = pred.to(self.logits_dtype).to(self.loss_dtype)
        return z, (y.to(self.loss_dtype) if y.dtype.is_floating_point else y)

    def per_sample(self, pred: Tensor, y: Tensor) -> Tensor:
        return self.base.per_sample(*self._cast(pred, y)).to(pred.dtype)

    def value(self, pred: Tensor, y: Tensor) -> Tensor:
        return self.base.value(*self._cast(pred, y)).to(pred.dtype)

    def grad(self, pred: Tensor, y: Tensor) -> Tensor:
        """The base gradient in ``loss_dtype``, passed back through ``logits_dtype`` to pred's dtype
        (the same chain of roundings autograd applies to the casts)."""
        return self.base.grad(*self._cast(pred, y)).to(self.logits_dtype).to(pred.dtype)


def with_precision(loss: Loss, logits_dtype: str, loss_dtype: str, dtype: torch.dtype) -> Loss:
    """``loss`` wrapped in :class:`Precision` unless both working dtypes equal the run's ``dtype``.
    ``logits_dtype``: auto (= ``dtype``) or a name of :data:`DTYPE_NAMES`; ``loss_dtype``: auto (= the
    logits dtype) or a name."""
    zt = dtype if logits_dtype == "auto" else DTYPE_NAMES[logits_dtype]
    lt = zt if loss_dtype == "auto" else DTYPE_NAMES[loss_dtype]
    if zt == dtype and lt == dtype:
        return loss
    return Precision(base=loss, logits_dtype=zt, loss_dtype=lt, name=loss.name)


def working_dtypes(loss: Loss, pred: Tensor) -> tuple[torch.dtype, torch.dtype]:
    """(logits dtype, loss dtype) in which ``loss`` evaluates ``pred``."""
    if isinstance(loss, Precision):
        return loss.logits_dtype, loss.loss_dtype
    return pred.dtype, pred.dtype


def softmax_collapse_fraction(z: Tensor, logits_dtype: torch.dtype | None = None,
                              loss_dtype: torch.dtype | None = None, stablemax: bool = False) -> float:
    """Fraction of samples in Softmax Collapse: with z (P, K) rounded to ``logits_dtype`` and the
    softmax evaluated in ``loss_dtype`` (both default to z's dtype), fl(Σ_j exp(z_j − max_k z_k)) == 1
    exactly, i.e. every non-maximal term was lost (underflowed or absorbed in the rounding of the sum
    as ``torch.sum`` computes it). This is the reference code's SC metric (its 'softmax precision').
    ``stablemax``: the same test for StableMax's own normaliser, fl(Σ_j s(z_j)/s(max_k z_k)) == 1."""
    if z.ndim != 2:
        raise ValueError(f"softmax collapse needs logits (P, K); got shape {tuple(z.shape)}")
    zl = z.to(logits_dtype or z.dtype).to(loss_dtype or logits_dtype or z.dtype)
    top = zl.max(1, keepdim=True).values
    terms = stablemax_s(zl) / stablemax_s(top) if stablemax else torch.exp(zl - top)
    return (terms.sum(1) == 1).double().mean().item()


def zero_loss_fraction(loss: Loss, pred: Tensor, y: Tensor) -> float:
    """Fraction of samples whose per-sample ``loss`` (in its working precision) is exactly 0."""
    return (loss.per_sample(pred, y) == 0).double().mean().item()
