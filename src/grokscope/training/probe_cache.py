"""What probes read, and the named cache they share within a run: the probe context, the initial kernel
K₀'s blocks, and the test-set NTK of the current step in the run's dtype and in float64 (computed once
per probe step, shared by the ntk, ntk_spectrum and kernel_alignment probes)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from grokscope.tasks.base import Dataset


@dataclass(frozen=True)
class KernelBlocks:
    """K₀ split into train (P, P), test×train (P_test, P) and test (P_test, P_test) blocks."""

    train: Tensor
    test_train: Tensor
    test: Tensor


@dataclass(frozen=True)
class AtStep:
    """A value computed at probe step ``step``."""

    step: int | None
    value: Any


@dataclass(frozen=True)
class NtkRow:
    """The ntk probe's read of step ``step``: the float64 test kernel K, ‖K‖, ‖K₀‖ and ‖K − K₀‖."""

    step: int
    K: Tensor
    norm: Tensor
    norm0: Tensor
    dist0: Tensor


@dataclass
class ProbeCache:
    """Named entries, each filled on first use: ``step`` (the step being probed), ``K0`` blocks,
    ``K0_test64`` and its norm, ``K_test`` (this step's test NTK), ``K_test64`` (its float64 copy,
    keyed by the tensor it came from), ``ntk_row`` (the ntk probe's latest row: kernel velocity and
    the kernel_alignment probe reuse it), ``decomp`` (this step's eq. 6 terms), ``progress_grid``."""

    step: int | None = None
    K0: KernelBlocks | None = None
    K0_test64: Tensor | None = None
    K0_test_norm: Tensor | None = None
    K_test: AtStep | None = None
    K_test64: tuple[Tensor, Tensor] | None = None
    ntk_row: NtkRow | None = None
    decomp: AtStep | None = None
    progress_grid: tuple[Tensor, ...] | None = None


@dataclass
class ProbeContext:
    """What probes read: the engine, the data, the loss, the model, the linearised twin, and the
    :class:`ProbeCache`. Probes never mutate the engine."""

    engine: Any
    data: Dataset
    loss: Any
    model: Any = None
    twin: Any = None
    cache: ProbeCache = field(default_factory=ProbeCache)


def initial_kernel(ctx: ProbeContext) -> KernelBlocks:
    """K₀ blocks (train, test×train, test) at θ₀, computed once per run."""
    if ctx.cache.K0 is None:
        d = ctx.data
        K = ctx.engine.ntk(torch.cat([d.X_train, d.X_test]))
        P = d.P
        ctx.cache.K0 = KernelBlocks(K[:P, :P].clone(), K[P:, :P].clone(), K[P:, P:].clone())
    return ctx.cache.K0


def K0_test64(ctx: ProbeContext) -> Tensor:
    """K₀ on the test set in float64, converted once."""
    if ctx.cache.K0_test64 is None:
        ctx.cache.K0_test64 = initial_kernel(ctx).test.to(torch.float64)
    return ctx.cache.K0_test64


def K0_test_norm(ctx: ProbeContext) -> Tensor:
    """‖K₀‖_F on the test set (float64), computed once."""
    if ctx.cache.K0_test_norm is None:
        ctx.cache.K0_test_norm = torch.linalg.matrix_norm(K0_test64(ctx))
    return ctx.cache.K0_test_norm


def test_kernel(ctx: ProbeContext) -> Tensor:
    """The current test-set NTK in the run's dtype, computed once per probe step."""
    hit = ctx.cache.K_test
    if hit is None or hit.step != ctx.cache.step:
        hit = ctx.cache.K_test = AtStep(ctx.cache.step, ctx.engine.ntk(ctx.data.X_test))
    return hit.value


def test_kernel64(ctx: ProbeContext) -> Tensor:
    """:func:`test_kernel` in float64 (one conversion per step for float32 runs). The read-outs of a
    float32 kernel then take the float64 one-matvec paths: about 3× faster than the direct float32
    functions, and exact in the kernel's entries instead of float32-rounded (the spectrum stays in the
    run's dtype: its eigh would cost twice as much in float64)."""
    K = test_kernel(ctx)
    if K.dtype == torch.float64:
        return K
    hit = ctx.cache.K_test64
    if hit is None or hit[0] is not K:
        hit = ctx.cache.K_test64 = (K, K.to(torch.float64))
    return hit[1]
