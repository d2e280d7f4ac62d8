"""The known polynomial target of a task, in the form the exact population loss needs."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class QuadraticTarget:
    """Target y(x) = c0 + b·x + ½ xᵀBx + y⊥(x), for x ~ N(0, I/D).

    y⊥ is orthogonal (in L²) to every polynomial of degree ≤ 2 and has power ``orth_power``
    = E[y⊥²] (e.g. He_k(z) for k ≥ 3 has power k!). Shapes: b (D,), B (D, D) symmetric.
    """

    c0: float
    b: torch.Tensor
    B: torch.Tensor
    orth_power: float = 0.0
