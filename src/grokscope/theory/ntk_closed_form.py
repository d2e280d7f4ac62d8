"""The committee NTK in closed form (paper §3.1), one copy.

Committee f̃ = α(1/N) Σ_i a_i φ(w_i·x) (− centring) with φ' affine, φ'(h) = 1 + εh (quadratic φ,
Hermite k = 2). Its NTK w.r.t. W is

    K(x, x') = (α²/N²) Σ_i a_i² (x·x') φ'(w_i·x) φ'(w_i·x') = (x·x') zᵀ B z',   z = (1, x)

    B = (α²/N) [[ā₂, εw̄₂ᵀ], [εw̄₂, ε²M₂]]   ((D+1) × (D+1); ā₂ = mean a², w̄₂ = Wᵀa²/N, M₂ = Wᵀdiag(a²)W/N)

and for unit readouts (the paper's statistics w̄, M): K = (α²/N)(x·x')[1 + εw̄·(x + x') + ε²xᵀMx'].
Wide limit (w̄ = 0, M = I): (α²/N)(x·x')(1 + ε² x·x'). The same kernel in factor form, with
Z = [[M, w̄], [w̄ᵀ, 1]] = ÛÛᵀ (Û = [U; e₁ᵀ], the reduced engine's state): mean_i φ'(w_i·x)φ'(w_i·x')
= (Ûᵀẑ)·(Ûᵀẑ'), ẑ = (εx, 1), i.e. K = (α²/N)(X1X2ᵀ) ⊙ (G1G2ᵀ) with G = εXU + 1e₁ᵀ (n, m).

Both forms are "(X1X2ᵀ) ⊙ (F1F2ᵀ)" for features F: :func:`hadamard_kernel` is that product, used by
:func:`moment_kernel` (F1 = Z1B, F2 = Z2), :func:`factor_ntk` (F = G) and through them by the
network's structured NTK (:mod:`grokscope.diagnostics.ntk`), the reduced engine and the kernel-limit
theory. Shapes: X1 (n1, D), X2 (n2, D) or None (the symmetric block) → K (n1, n2).
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor


def hadamard_kernel(F1: Tensor, F2: Tensor, gram: Tensor, scale: float | None = None) -> Tensor:
    """(F1 F2ᵀ) ⊙ gram [× scale]: F1 (n1, k), F2 (n2, k), gram = X1X2ᵀ (n1, n2) → (n1, n2)."""
    K = (F1 @ F2.T).mul_(gram)
    return K if scale is None else K.mul_(scale)


def augment(X: Tensor) -> Tensor:
    """z = (1, x) row-wise: X (n, D) → (n, D+1)."""
    return torch.cat([torch.ones_like(X[:, :1]), X], dim=1)


def moment_kernel(B: Tensor, X1: Tensor, X2: Tensor | None = None) -> Tensor:
    """(X1X2ᵀ) ⊙ (Z1 B Z2ᵀ) with z = (1, x); B (D+1, D+1) (the prefactor folded into B)."""
    Z1 = augment(X1)
    Z2 = Z1 if X2 is None else augment(X2)
    X2_ = X1 if X2 is None else X2
    return hadamard_kernel(Z1 @ B, Z2, X1 @ X2_.T)


def moment_matrix(wbar: Tensor, M: Tensor, eps: float, scale: float = 1.0) -> Tensor:
    """B = scale·[[1, εw̄ᵀ], [εw̄, ε²M]] for unit readouts; w̄ (D,), M (D, D) → (D+1, D+1)."""
    D = wbar.shape[0]
    B = wbar.new_empty(D + 1, D + 1)
    B[0, 0] = 1.0
    B[0, 1:] = eps * wbar
    B[1:, 0] = eps * wbar
    B[1:, 1:] = eps * eps * M
    return B * scale


def weight_moment_matrix(W: Tensor, a: Tensor, eps: float, alpha: float, N: int) -> Tensor:
    """B = (α²/N)·[[ā₂, εw̄₂ᵀ], [εw̄₂, ε²M₂]] from the weights W (N, D) and readouts a (N,):
    Vᵀ diag(a² α²/N²) V with rows v_i = (1, εw_i)."""
    V = torch.cat([torch.ones_like(W[:, :1]), eps * W], dim=1)  # rows (1, ε w_i), (N, D+1)
    return (V.T * (a * a * (alpha**2 / N**2))) @ V


def closed_form_ntk(wbar: Tensor, M: Tensor, X1: Tensor, X2: Tensor | None = None, *, eps: float,
                    alpha: float, N: float) -> Tensor:
    """K(x, x') = (α²/N)(x·x')[1 + ε w̄·(x + x') + ε² xᵀMx'] from the statistics (unit readouts);
    w̄ (D,), M (D, D) → (n1, n2)."""
    return moment_kernel(moment_matrix(wbar, M, eps, alpha**2 / N), X1, X2)


def committee_ntk(X1: Tensor, X2: Tensor, eps: float, scale: float = 1.0, wbar: Tensor | None = None,
                  M: Tensor | None = None) -> Tensor:
    """scale·(x·x')[1 + ε w̄·(x + x') + ε² xᵀMx'], scale = α²/N; w̄ = 0 and M = I by default (the
    wide limit). X1 (n1, D), X2 (n2, D) → (n1, n2)."""
    D = X1.shape[1]
    wbar = torch.zeros(D, dtype=X1.dtype, device=X1.device) if wbar is None else wbar
    M = torch.eye(D, dtype=X1.dtype, device=X1.device) if M is None else M
    return moment_kernel(moment_matrix(wbar, M, eps, scale), X1, X2)


def factor_features(X: Tensor, U: Tensor, eps: float) -> Tensor:
    """G = εXU + 1e₁ᵀ (n, m) = rows Ûᵀẑ, ẑ = (εx, 1): mean_i φ'(w_i·x)φ'(w_i·x') = G1·G2."""
    G = torch.mm(X, U).mul_(eps)
    G[:, 0] += 1.0
    return G


def factor_ntk(U: Tensor, X1: Tensor, X2: Tensor, gram: Tensor, *, eps: float, scale: float) -> Tensor:
    """scale·(X1X2ᵀ) ⊙ (G1G2ᵀ) from the factor U (D, m) (M = UUᵀ, w̄ = U[:, 0]); ``gram`` = X1X2ᵀ
    (the caller may cache it); X2 may be X1 itself (then G is computed once)."""
    G1 = factor_features(X1, U, eps)
    G2 = G1 if X2 is X1 else factor_features(X2, U, eps)
    return hadamard_kernel(G1, G2, gram, scale)


def committee_kernel_forms(X: Tensor, eps: float, scale: float = 1.0, wbar: Tensor | None = None,
                           M: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """K(x, x_μ) as a quadratic form in x: U_μ·x + ½xᵀS_μx; returns U (P, D), S (P, D, D).

    U_μ = scale (1 + ε w̄·x_μ) x_μ,  S_μ = scale [ε(x_μw̄ᵀ + w̄x_μᵀ) + ε²(x_μ(Mx_μ)ᵀ + (Mx_μ)x_μᵀ)].
    """
    D = X.shape[1]
    wbar = torch.zeros(D, dtype=X.dtype) if wbar is None else wbar
    MX = X if M is None else X @ M  # rows M x_μ (M symmetric)
    U = scale * (1.0 + eps * (X @ wbar))[:, None] * X
    outer = X[:, :, None] * MX[:, None, :]
    xw = X[:, :, None] * wbar[None, None, :]
    S = scale * (eps * (xw + xw.transpose(1, 2)) + eps**2 * (outer + outer.transpose(1, 2)))
    return U, S
