"""Adversarial robustness (Humayun et al. 2024's "delayed robustness"): accuracy under an L∞ attack of
radius ε, by projected gradient ascent on the cross-entropy (PGD, Madry et al. 2018).

``predict(X) -> logits (n, K)`` is any differentiable classifier; y (n,) int labels (or one-hot (n, K)).
All attacks stay in the box B_ε(x) = {x' : ‖x' − x‖_∞ ≤ ε} ∩ [lo, hi]^D (``lo``/``hi`` None: no clamp).

  FGSM   x' = Π(x + ε·sign ∇_x CE(predict(x), y))
  noise  x' = Π(x + U[−ε, ε]^D)
  PGD    x_0 = x (or x + U[−ε, ε]^D with ``random_start``), x_{t+1} = Π(x_t + s·sign ∇_x CE(predict(x_t), y)),
         s = 2.5ε/iters; a sample counts as robust only if it is classified correctly at x, at the FGSM
         point and at every iterate x_1..x_T (so PGD accuracy ≤ FGSM accuracy ≤ clean accuracy, and ε = 0
         gives the clean accuracy exactly).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Predict = Callable[[Tensor], Tensor]


def _labels(y: Tensor) -> Tensor:
    return y.argmax(dim=1) if y.ndim == 2 else y.long()


def _project(Xa: Tensor, X: Tensor, eps: float, lo: float | None, hi: float | None) -> Tensor:
    Xa = torch.maximum(torch.minimum(Xa, X + eps), X - eps)
    if lo is not None or hi is not None:
        Xa = Xa.clamp(min=lo, max=hi)
    return Xa


def correct(predict: Predict, X: Tensor, y: Tensor) -> Tensor:
    """Whether predict's argmax equals the label, per sample: bool (n,)."""
    with torch.no_grad():
        return predict(X).argmax(dim=1) == _labels(y)


def loss_sign_grad(predict: Predict, X: Tensor, y: Tensor) -> Tensor:
    """sign ∇_x Σ_μ CE(predict(x_μ), y_μ): (n, D), by autograd."""
    Xg = X.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = torch.nn.functional.cross_entropy(predict(Xg), _labels(y), reduction="sum")
        (g,) = torch.autograd.grad(loss, Xg)
    return g.sign()


def fgsm_correct(predict: Predict, X: Tensor, y: Tensor, eps: float, lo: float | None = None,
                 hi: float | None = None) -> Tensor:
    """Correct at the clean point and at the FGSM point: bool (n,)."""
    ok = correct(predict, X, y)
    if eps == 0:
        return ok
    return ok & correct(predict, _project(X + eps * loss_sign_grad(predict, X, y), X, eps, lo, hi), y)


def noise_correct(predict: Predict, X: Tensor, y: Tensor, eps: float, generator: torch.Generator,
                  lo: float | None = None, hi: float | None = None) -> Tensor:
    """Correct at the clean point and at one uniform random point of the box: bool (n,)."""
    U = (2 * torch.rand(X.shape, generator=generator, dtype=torch.float64) - 1).to(X.device, X.dtype)
    return correct(predict, X, y) & correct(predict, _project(X + eps * U, X, eps, lo, hi), y)


def pgd_correct(predict: Predict, X: Tensor, y: Tensor, eps: float, iters: int = 10, step: float | None = None,
                lo: float | None = None, hi: float | None = None, random_start: bool = False,
                generator: torch.Generator | None = None) -> Tensor:
    """Robust under PGD (module docstring): bool (n,)."""
    ok = fgsm_correct(predict, X, y, eps, lo, hi)
    if eps == 0:
        return ok
    s = 2.5 * eps / iters if step is None else step
    Xa = X.detach().clone()
    if random_start:
        U = (2 * torch.rand(X.shape, generator=generator, dtype=torch.float64) - 1).to(X.device, X.dtype)
        Xa = _project(X + eps * U, X, eps, lo, hi)
        ok &= correct(predict, Xa, y)
    for _ in range(iters):
        Xa = _project(Xa + s * loss_sign_grad(predict, Xa, y), X, eps, lo, hi)
        ok &= correct(predict, Xa, y)
    return ok


def linear_robust(W: Tensor, b: Tensor, X: Tensor, y: Tensor, eps: float) -> Tensor:
    """Exact L∞ robustness of a linear classifier z = X Wᵀ + b (W (K, D)) without clamping: x is robust iff
    every margin (w_y − w_j)·x + b_y − b_j − ε‖w_y − w_j‖₁ > 0, j ≠ y (each margin's minimum over the
    box is attained separately). bool (n,); the reference for :func:`pgd_correct`."""
    yl = _labels(y)
    dW = W[yl][:, None, :] - W[None, :, :]            # (n, K, D)
    m = (dW * X[:, None, :]).sum(-1) + (b[yl][:, None] - b[None, :]) - eps * dW.abs().sum(-1)
    m[torch.arange(X.shape[0]), yl] = torch.inf
    return (m > 0).all(dim=1)


def accuracy(ok: Tensor) -> float:
    """Mean of a bool (n,) tensor."""
    return float(ok.to(torch.float64).mean()) if ok.numel() else float("nan")
