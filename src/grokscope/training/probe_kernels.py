"""Kernel misalignment (Liu et al. 2024's laziness measure): 1 − KA with the tangent-kernel alignment

    KA(K₀, K_t) = ⟨K₀, K_t⟩_F / (‖K₀‖_F ‖K_t‖_F),   K (n, n) the NTK on the test points.

0 when the kernel only rescales (lazy in direction), up to 1 (orthogonal kernels). Unlike
``kernel_distance`` = ‖K_t − K₀‖_F/‖K₀‖_F it ignores the kernel's overall growth, which dominates the
latter when the weights grow.
"""
from __future__ import annotations

import torch
from torch import Tensor

from grokscope.training.probe_cache import K0_test64, test_kernel64


def kernel_misalignment(K_t: Tensor, K_0: Tensor) -> float:
    """1 − ⟨K₀, K_t⟩_F / (‖K₀‖_F ‖K_t‖_F) = ½‖K_t/‖K_t‖ − K₀/‖K₀‖‖_F² for two (n, n) kernels, in float64.
    The second form does not cancel: exactly 0 for K_t = cK₀ (c > 0), accurate to rounding relative
    to its value when the kernels are nearly aligned (the lazy regime)."""
    A, B = K_0.to(torch.float64), K_t.to(torch.float64)
    D = B / torch.linalg.matrix_norm(B) - A / torch.linalg.matrix_norm(A)
    return float(0.5 * (D * D).sum())


def from_norms(d: Tensor, nK: Tensor, nK0: Tensor) -> float:
    """The misalignment from ‖K_t − K₀‖ = d, ‖K_t‖, ‖K₀‖ with no pass over the kernels:
    ½‖K_t/‖K_t‖ − K₀/‖K₀‖‖² = (d² − (‖K_t‖ − ‖K₀‖)²) / (2‖K_t‖‖K₀‖). The subtraction only cancels when
    the kernel grows much more in norm than it turns (relative error ≈ ε·(Δ‖K‖/‖K‖)²/value)."""
    dn = nK - nK0
    return float((d - dn) * (d + dn) / (2.0 * nK * nK0))


def probe(ctx) -> dict[str, float]:
    """The ``kernel_alignment`` probe: misalignment of the current test-set NTK with K₀. After an ntk
    row of the same step, from its ‖K_t − K₀‖, ‖K_t‖, ‖K₀‖ (:func:`from_norms`, no pass over K);
    otherwise :func:`kernel_misalignment` directly."""
    K_t = test_kernel64(ctx)
    row = ctx.cache.ntk_row
    if row is not None and row.step == ctx.cache.step and row.K is K_t:
        return {"kernel_misalignment": from_norms(row.dist0, row.norm, row.norm0)}
    return {"kernel_misalignment": kernel_misalignment(K_t, K0_test64(ctx))}
