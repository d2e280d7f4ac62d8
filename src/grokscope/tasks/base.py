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
TASK_CAPABILITIES: dict[str, str] = {
    "regression": "float targets (MSE only)",
    "scalar_regression": "one float target per sample, shape (P,)",
    "quadratic_target": "Gaussian inputs and a known target of degree ≤ 2 (+ an orthogonal part): exact loss",
    "classes": "integer class labels (cross-entropy, StableMax, accuracy)",
    "modular_addition": "a + b mod p (Fourier progress measures)",
    "threshold_accuracy": "accuracy as per-sample MSE below a threshold (teacher–student)",
    "labels_from_kernel": "labels made from the initial NTK, handed to the task after the model is built",
}
_CAPS: dict[str, Callable[[Any], frozenset[str]]] = {}
Memory = Callable[[Any], "tuple[int, str] | None"]  # Config -> (bytes, what to reduce) or None
MEMORY: dict[str, Memory] = {}


def register_task(name: str, section: type, capabilities: Callable[[Any], frozenset[str]],
                  memory: Memory | None = None) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Decorator on ``build(cfg) -> Dataset``: registers the task family ``name``, its config section
    class, the capabilities it declares (a function of its section; keys of TASK_CAPABILITIES) and,
    optionally, its peak-memory estimate ``memory(cfg) -> (bytes, message) | None``."""
    from grokscope.config.extend import register_section

    def deco(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        register_section("task", name, section)
        TASKS[name], _CAPS[name] = fn, capabilities
        if memory is not None:
            MEMORY[name] = memory
        return fn

    return deco


def task_supports(section: Any, capability: str) -> bool:
    """Whether the task of ``section`` (``cfg.task``) declares ``capability``."""
    if capability not in TASK_CAPABILITIES:
        raise ValueError(f"task capability {capability!r}: unknown; known are {', '.join(TASK_CAPABILITIES)}")
    return capability in _CAPS[section.name](section)


def onehot_targets(data: Dataset) -> Dataset:
    """Integer class labels y (P,) → one-hot float64 targets (P, classes), for the MSE loss on
    per-class outputs (paper §5.1); datasets without classes or with float targets are unchanged."""
    if data.classes is None or data.y_train.is_floating_point():
        return data

    def hot(y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(y.long(), data.classes).to(torch.float64)

    return Dataset(data.X_train, hot(data.y_train), data.X_test, hot(data.y_test), data.target,
                   data.classes, dict(data.meta))
