"""Kernel misalignment (Liu et al. 2024's laziness measure): 1 − KA with the tangent-kernel alignment

    KA(K₀, K_t) = ⟨K₀, K_t⟩_F / (‖K₀‖_F ‖K_t‖_F),   K (n, n) the NTK on the test points.

0 when the kernel only rescales (lazy in direction), up to 1 (orthogonal kernels). Unlike
``kernel_distance`` = ‖K_t − K₀‖_F/‖K₀‖_F it ignores the kernel's overall growth, which dominates the
latter when the weights grow.
"""
from __future__ import annotations

import torch
from torch import Tensor


def kernel_misalignment(K_t: Tensor, K_0: Tensor) -> float:
    """1 − ⟨K₀, K_t⟩_F / (‖K₀‖_F ‖K_t‖_F) for two (n, n) kernels, computed in float64."""
    A, B = K_0.to(torch.float64), K_t.to(torch.float64)
    return float(1.0 - (A * B).sum() / (torch.linalg.matrix_norm(A) * torch.linalg.matrix_norm(B)))


def probe(ctx) -> dict[str, float]:
    """The ``kernel_alignment`` probe: misalignment of the current test-set NTK with K₀ (shared caches)."""
    from grokscope.probes import _test_kernel, initial_kernel
    return {"kernel_misalignment": kernel_misalignment(_test_kernel(ctx), initial_kernel(ctx)["test"])}
