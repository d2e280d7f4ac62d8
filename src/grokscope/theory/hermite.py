"""Probabilists' Hermite polynomials He_k (the Hermite targets and the φ = z + (ε/2)He_k(z) activations)."""
from __future__ import annotations

import torch


def hermite_e(k: int, z: torch.Tensor) -> torch.Tensor:
    """Probabilists' Hermite He_k(z), elementwise: He_0 = 1, He_1 = z, He_{n+1} = z He_n − n He_{n−1}."""
    if k < 0:
        raise ValueError(f"hermite_e: degree k = {k} must be >= 0")
    prev, cur = torch.ones_like(z), z.clone()
    if k == 0:
        return prev
    for n in range(1, k):
        prev, cur = cur, z * cur - n * prev
    return cur
