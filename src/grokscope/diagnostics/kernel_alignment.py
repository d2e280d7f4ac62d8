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
    """The ``kernel_alignment`` probe: misalignment of the current test-set NTK with K₀ (shared caches;
    ‖K_t‖ and ‖K₀‖ from the ntk probe of the same step when it ran, the same numbers)."""
    from grokscope.probes import _test_kernel, initial_kernel
    K_t, K_0 = _test_kernel(ctx), initial_kernel(ctx)["test"]
    hit = ctx.cache.get("ntk_norms")
    if hit is not None and hit[0] == ctx.cache.get("step") and hit[1] is K_t and K_t.dtype == torch.float64 \
            and K_0.dtype == torch.float64:
        return {"kernel_misalignment": float(1.0 - (K_0 * K_t).sum() / (hit[3] * hit[2]))}
    return {"kernel_misalignment": kernel_misalignment(K_t, K_0)}
