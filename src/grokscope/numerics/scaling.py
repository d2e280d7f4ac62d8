"""Laziness scaling: output scale α, centring, and the learning-rate rules.

f̃(x) = α·(f(θ, x) − f(θ₀, x)) when centred (paper eq. 7), else α·f(θ, x).
"""
from __future__ import annotations

import torch

LR_RULES = ("paper", "inv_alpha2", "plain")


def learning_rate(rule: str, lr: float, alpha: float, N: int) -> float:
    """η from η₀ = lr: paper η = η₀·N/α² (keeps df̃/dt at t = 0 independent of α and N);
    inv_alpha2 η = η₀/α²; plain η = η₀."""
    if rule == "paper":
        return lr * N / alpha**2
    if rule == "inv_alpha2":
        return lr / alpha**2
    if rule == "plain":
        return lr
    raise ValueError(f"scaling.lr_rule = {rule!r}: allowed are {', '.join(LR_RULES)}")


def scaled_output(f: torch.Tensor, f0: torch.Tensor | None, alpha: float) -> torch.Tensor:
    """f̃ = α(f − f₀) (centred, f0 given) or αf (f0 None). Shapes: f, f0 (P,) or (P, K)."""
    return alpha * (f - f0) if f0 is not None else alpha * f
