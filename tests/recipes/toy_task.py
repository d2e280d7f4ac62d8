"""Recipe: a new task family in one file. ``import toy_task`` is the one registration line.

y = sin(3 v·x) for x ~ U(−1, 1)^D, v a fixed unit vector: a scalar regression task."""
from __future__ import annotations

from typing import Literal

import torch

from grokscope.config.sections import _Section
from grokscope.tasks.base import Dataset, register_task


class SineTask(_Section):
    """The config section: ``task: {name: sine, D: 8, P: 64, P_test: 64, seed: 0}``."""

    name: Literal["sine"] = "sine"
    D: int = 8
    P: int = 64
    P_test: int = 64
    seed: int = 0


@register_task("sine", SineTask, capabilities=lambda cfg: frozenset({"regression", "scalar_regression"}))
def build_sine(cfg: SineTask) -> Dataset:
    gen = torch.Generator().manual_seed(cfg.seed)
    X = 2 * torch.rand(cfg.P + cfg.P_test, cfg.D, generator=gen, dtype=torch.float64) - 1
    v = torch.randn(cfg.D, generator=gen, dtype=torch.float64)
    y = torch.sin(3 * X @ (v / v.norm()))
    return Dataset(X[:cfg.P], y[:cfg.P], X[cfg.P:], y[cfg.P:])
