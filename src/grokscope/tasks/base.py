"""The dataset every task returns, and the task registry.

A task turns its config section into a :class:`Dataset`: train/test tensors plus, where the
target is a known polynomial of Gaussian inputs, a :class:`QuadraticTarget` that lets probes
compute the exact population test loss (no test-set noise).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from grokscope.theory.targets import QuadraticTarget


@dataclass(frozen=True)
class Dataset:
    """Train/test tensors for one task.

    X_train (P, D), y_train (P,) or (P, K); X_test (P_test, D), y_test likewise.
    ``target`` is set when the exact population loss exists (Gaussian inputs, polynomial target).
    ``classes`` is the number of classes for classification targets (accuracy is meaningful).
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    target: QuadraticTarget | None = None
    classes: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def P(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def D(self) -> int:
        return int(self.X_train.shape[1])

    def to(self, device: torch.device | str, dtype: torch.dtype) -> Dataset:
        """Same dataset on ``device``; float tensors cast to ``dtype`` (integer labels kept)."""

        def cast(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)

        target = None
        if self.target is not None:
            tg = self.target
            target = QuadraticTarget(tg.c0, cast(tg.b), cast(tg.B), tg.orth_power)
        return Dataset(cast(self.X_train), cast(self.y_train), cast(self.X_test), cast(self.y_test),
                       target, self.classes, dict(self.meta))


TASKS: dict[str, Callable[..., Dataset]] = {}


def register_task(name: str) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Decorator: ``@register_task("polynomial")`` on ``build(cfg, dtype) -> Dataset``."""

    def deco(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        TASKS[name] = fn
        return fn

    return deco


def onehot_targets(data: Dataset) -> Dataset:
    """Integer class labels y (P,) → one-hot float64 targets (P, classes), for the MSE loss on
    per-class outputs (paper §5.1); datasets without classes or with float targets are unchanged."""
    if data.classes is None or data.y_train.is_floating_point():
        return data

    def hot(y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(y.long(), data.classes).to(torch.float64)

    return Dataset(data.X_train, hot(data.y_train), data.X_test, hot(data.y_test), data.target,
                   data.classes, dict(data.meta))
