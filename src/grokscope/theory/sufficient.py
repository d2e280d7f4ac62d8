"""Exact population loss of a quadratic-form predictor (paper eq. 6, generalised).

Predictor f̃(x) = c + u·x + ½ xᵀSx (S symmetric), target y = c0 + b·x + ½ xᵀBx + y⊥
(:class:`~grokscope.tasks.base.QuadraticTarget`), inputs x ~ N(0, I/D). With A = S − B,
using E[xᵀAx] = Tr A/D and E[(xᵀAx)²] = ((Tr A)² + 2‖A‖_F²)/D² (odd moments vanish, y⊥ ⟂ degree ≤ 2):

  E[(y − f̃)²] = (c − c0 + Tr A/(2D))²   variance
              + ‖A‖_F²/(2D²)            misalignment
              + |u − b|²/D              linear
              + orth_power              orthogonal (power of y⊥ no quadratic can fit)

For the paper's single-index committee machine f = α w̄·x + (αε/2) xᵀMx, i.e. c = 0, u = α w̄,
S = αεM, against y = ½(β·x)² (c0 = 0, b = 0, B = ββᵀ), the first three terms are exactly eq. 6's
"variance error" ¼(|β|²/D − αε Tr M/D)², "misalignment error" ‖αεM − ββᵀ‖_F²/(2D²) and
"power in linear modes" α²|w̄|²/D; the orthogonal term is 0.

Shapes: c (...), u (..., D), S (..., D, D) with any leading batch dims (broadcast together);
D is u.shape[-1]. Target tensors are moved to u's dtype and device.
"""
from __future__ import annotations

import torch

from grokscope.theory.targets import QuadraticTarget


def _as_tensor(c: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(c, dtype=like.dtype, device=like.device)


def decomposition(c: torch.Tensor | float, u: torch.Tensor, S: torch.Tensor,
                  target: QuadraticTarget) -> dict[str, torch.Tensor]:
    """The four terms of E[(y − f̃)²] (module docstring), each of shape broadcast(c, u[..., 0], S[..., 0, 0]).

    Keys: ``variance`` (c − c0 + Tr A/(2D))², ``misalignment`` ‖A‖_F²/(2D²), ``linear`` |u − b|²/D,
    ``orthogonal`` orth_power; A = S − B. They sum to :func:`population_loss`.
    """
    D = u.shape[-1]
    if S.shape[-2:] != (D, D):
        raise ValueError(f"decomposition: S has shape {tuple(S.shape)}, expected (..., {D}, {D}) with D = u.shape[-1]")
    c_t = _as_tensor(c, u)
    b = target.b.to(dtype=u.dtype, device=u.device)
    B = target.B.to(dtype=S.dtype, device=S.device)
    if b.shape != (D,) or B.shape != (D, D):
        raise ValueError(f"decomposition: target b {tuple(b.shape)}, B {tuple(B.shape)} do not match D = {D}")
    A = S - B
    trA = torch.diagonal(A, dim1=-2, dim2=-1).sum(-1)
    variance = (c_t - target.c0 + trA / (2 * D)) ** 2
    misalignment = (A * A).sum((-2, -1)) / (2 * D * D)
    linear = ((u - b) ** 2).sum(-1) / D
    shape = (variance + misalignment + linear).shape  # broadcast (torch.broadcast_shapes imports sympy)
    out = {
        "variance": variance.expand(shape),
        "misalignment": misalignment.expand(shape),
        "linear": linear.expand(shape),
        "orthogonal": torch.full(shape, float(target.orth_power), dtype=u.dtype, device=u.device),
    }
    return out


def population_loss(c: torch.Tensor | float, u: torch.Tensor, S: torch.Tensor,
                    target: QuadraticTarget) -> torch.Tensor:
    """E_x[(y(x) − f̃(x))²] for x ~ N(0, I/D); shape broadcast of the batch dims of c, u, S."""
    d = decomposition(c, u, S, target)
    return d["variance"] + d["misalignment"] + d["linear"] + d["orthogonal"]
