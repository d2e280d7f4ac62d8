"""Pure functions of kernel Gram matrices: alignment/CKA, distance, spectrum, kernel regression.

Shapes: K (n, n) symmetric (an NTK block), y (n,) or (n, k) labels; kernels are compared in the
dtype given, kernel regression is always solved in float64. Which "alignment" is which:

  alignment            yᵀKy / (‖K‖_F ‖y‖²)             the paper's printed "CKA" (uncentred)
  alignment_onesided   y_cᵀK_c y_c / (‖K_c‖_F ‖y_c‖²)  the authors' code ``kalignment``: y_c = y − ȳ,
                                                        K_c = K − column means; **the Fig 1 "NTK
                                                        alignment"** (test set, every 100 steps)
  cka, cka_labels      ⟨HKH, HLH⟩ / (‖HKH‖_F ‖HLH‖_F)  centred kernel alignment (Cortes et al. 2012),
                                                        H = I − 11ᵀ/n; cka_labels uses L = yyᵀ
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["IllConditionedKernel", "KernelFit", "alignment", "alignment_onesided", "cka", "cka_labels",
           "effective_rank", "kernel_distance", "kernel_regression", "kernel_velocity", "label_power",
           "spectrum"]


def _square(K: Tensor, name: str = "K") -> Tensor:
    if K.dim() != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"{name} must be a square matrix (n, n), got shape {tuple(K.shape)}")
    return K


def _labels(y: Tensor, n: int, name: str = "y") -> Tensor:
    """y (n,) or (n, k) → (n, k) in its own dtype."""
    if y.shape[0] != n or y.dim() > 2:
        raise ValueError(f"{name} must have shape ({n},) or ({n}, k), got {tuple(y.shape)}")
    return y.reshape(n, -1)


def _double_centre(K: Tensor) -> Tensor:
    """HKH = K − row means − column means + grand mean, H = I − 11ᵀ/n."""
    return K - K.mean(0, keepdim=True) - K.mean(1, keepdim=True) + K.mean()


# -- alignment -------------------------------------------------------------------------------------
def alignment(K: Tensor, y: Tensor) -> Tensor:
    """Uncentred kernel-target alignment tr(yᵀKy) / (‖K‖_F ‖y‖_F²), as printed in the paper (§5.3,
    with ‖y‖² for its typo ‖y‖). Invariant to K → cK (c > 0), y → cy, joint permutations. Scalar."""
    Y = _labels(y, _square(K).shape[0])
    return (Y * (K @ Y)).sum() / (torch.linalg.matrix_norm(K) * (Y * Y).sum())


def alignment_onesided(K: Tensor, y: Tensor) -> Tensor:
    """The authors' ``kalignment``: tr(y_cᵀ K_c y_c) / (‖K_c‖_F ‖y_c‖²), y_c = y − mean(y),
    K_c = K − K.mean(axis=0) (column means only, not double centring). Since 1ᵀy_c = 0 the numerator
    equals y_cᵀ K y_c = y_cᵀ HKH y_c; only the norm ‖K_c‖_F differs from :func:`cka_labels`.
    This is what Fig 1 plots as "NTK alignment" (test-set NTK K_t, every 100 steps). Scalar."""
    Y = _labels(y, _square(K).shape[0])
    Yc = Y - Y.mean(0, keepdim=True)
    Kc = K - K.mean(0, keepdim=True)
    return (Yc * (Kc @ Yc)).sum() / (torch.linalg.matrix_norm(Kc) * (Yc * Yc).sum())


def cka(K: Tensor, L: Tensor) -> Tensor:
    """Centred kernel alignment ⟨K_c, L_c⟩_F / (‖K_c‖_F ‖L_c‖_F), K_c = HKH (Cortes et al. 2012). Scalar."""
    Kc, Lc = _double_centre(_square(K)), _double_centre(_square(L, "L"))
    if Kc.shape != Lc.shape:
        raise ValueError(f"cka: K {tuple(K.shape)} and L {tuple(L.shape)} differ")
    return (Kc * Lc).sum() / (torch.linalg.matrix_norm(Kc) * torch.linalg.matrix_norm(Lc))


def cka_labels(K: Tensor, y: Tensor) -> Tensor:
    """cka(K, yyᵀ) without forming yyᵀ: tr(y_cᵀ HKH y_c) / (‖HKH‖_F ‖y_cᵀy_c‖_F). Scalar."""
    Y = _labels(y, _square(K).shape[0])
    Yc = Y - Y.mean(0, keepdim=True)
    Kc = _double_centre(K)
    return (Yc * (Kc @ Yc)).sum() / (torch.linalg.matrix_norm(Kc) * torch.linalg.matrix_norm(Yc.T @ Yc))


# -- movement and spectrum -------------------------------------------------------------------------
def kernel_distance(K_t: Tensor, K_0: Tensor) -> Tensor:
    """Relative kernel change ‖K_t − K₀‖_F / ‖K₀‖_F (0 in the lazy limit). Scalar."""
    return torch.linalg.matrix_norm(K_t - K_0) / torch.linalg.matrix_norm(K_0)


def kernel_velocity(K_a: Tensor, K_b: Tensor, dt: float) -> Tensor:
    """Relative rate of kernel change ‖K_b − K_a‖_F / (‖K_a‖_F · dt), per unit of dt (steps). Scalar."""
    return torch.linalg.matrix_norm(K_b - K_a) / (torch.linalg.matrix_norm(K_a) * dt)


def _eigh_desc(K: Tensor) -> tuple[Tensor, Tensor]:
    evals, evecs = torch.linalg.eigh(0.5 * (K + K.T))
    return evals.flip(0), evecs.flip(1)


def spectrum(K: Tensor) -> Tensor:
    """Eigenvalues of the symmetrised K, descending, shape (n,)."""
    return torch.linalg.eigvalsh(0.5 * (_square(K) + K.T)).flip(0)


def eigh_desc(K: Tensor) -> tuple[Tensor, Tensor]:
    """(eigenvalues descending (n,), eigenvectors as columns (n, n)) of the symmetrised K: compute
    once and pass as ``eig=`` to :func:`effective_rank` and :func:`label_power`."""
    return _eigh_desc(_square(K))


def effective_rank(K: Tensor, eig: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Entropy effective rank exp(−Σ_i p_i log p_i), p_i = λ_i⁺/Σ_j λ_j⁺ (Roy & Vetterli 2007),
    negative eigenvalues clipped to 0. Between 1 (rank one) and n (flat spectrum). Scalar."""
    lam = (spectrum(K) if eig is None else eig[0]).clamp_min(0)
    p = lam / lam.sum()
    p = p[p > 0]
    return torch.exp(-(p * p.log()).sum())


def label_power(K: Tensor, y: Tensor, ks: int | Sequence[int] | None = None,
                eig: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Cumulative fraction of ‖y‖² on the top-k eigenvectors of K: C(k) = Σ_{i≤k} ‖v_iᵀy‖² / ‖y‖²
    (eigenvalues descending; paper condition (1): a task is hard for the initial kernel when C(k)
    stays small until large k). ks: int, list of ints (1 ≤ k ≤ n), or None for all k = 1..n.
    Returns (len(ks),), or (n,) for None; C(n) = 1."""
    n = _square(K).shape[0]
    Y = _labels(y, n)
    _, V = _eigh_desc(K) if eig is None else eig
    C = ((V.T @ Y) ** 2).sum(1).cumsum(0) / (Y * Y).sum()
    if ks is None:
        return C
    idx = torch.as_tensor([ks] if isinstance(ks, int) else list(ks), dtype=torch.long)
    if idx.numel() and (idx.min() < 1 or idx.max() > n):
        raise ValueError(f"label_power: ks must lie in 1..{n}, got {idx.tolist()}")
    return C[idx.to(C.device) - 1]


# -- kernel regression -----------------------------------------------------------------------------
class IllConditionedKernel(RuntimeError):
    """Raised by :func:`kernel_regression` with ``on_ill="raise"`` when cond(K_train) > max_cond."""


@dataclass(frozen=True)
class KernelFit:
    """Kernel regression result. coef = K⁻¹y (n,) or (n, k); predictions K_·X coef.

    MSE = mean over all entries of (pred − y)² (no ½), as the training loss. ``cond`` = λ_max/λ_min of
    K_train + ridge·I (inf when not positive definite). ``method``: "cholesky" or "eigh" (pseudo-
    inverse keeping eigenvalues > λ_max/max_cond). ``ill_conditioned`` flags cond > max_cond; then
    ``warning`` is a one-line message for the run summary, and ``rank`` the eigenvalues kept.
    """

    coef: Tensor
    pred_train: Tensor
    pred_test: Tensor | None
    train_mse: float
    test_mse: float | None
    cond: float
    method: str
    ridge: float
    ill_conditioned: bool
    rank: int
    warning: str | None = None


def kernel_regression(K_train: Tensor, K_test_train: Tensor | None, y_train: Tensor,
                      y_test: Tensor | None = None, *, ridge: float = 0.0, max_cond: float = 1e12,
                      on_ill: str = "flag") -> KernelFit:
    """Kernel (ridge) regression ŷ(x*) = K(x*, X)(K(X, X) + ridge·I)⁻¹ y, solved in float64.

    K_train (n, n), K_test_train (m, n) or None, y_train (n,) or (n, k), y_test (m, ...) or None;
    ``ridge`` is absolute (the paper's ridgeless K₀ regression is ridge = 0; some appendix cells
    use 1e-6). Well-conditioned (cond ≤ max_cond and Cholesky succeeds): Cholesky solve. Otherwise
    the fit is NOT a silent inverse: with ``on_ill="flag"`` (default) it is the eigh pseudo-inverse
    with relative cutoff λ > λ_max/max_cond, returned with ``ill_conditioned=True``, the condition
    number and a ``warning`` string; with ``on_ill="raise"`` :class:`IllConditionedKernel` is raised.
    """
    if on_ill not in ("flag", "raise"):
        raise ValueError(f"kernel_regression: on_ill = {on_ill!r}; allowed are flag, raise")
    n = _square(K_train, "K_train").shape[0]
    f64 = torch.float64
    K = K_train.to(f64)
    K = 0.5 * (K + K.T)
    if ridge:
        K = K + ridge * torch.eye(n, dtype=f64, device=K.device)
    Y = _labels(y_train, n, "y_train").to(f64)
    lam = torch.linalg.eigvalsh(K)
    lmax, lmin = float(lam[-1]), float(lam[0])
    if not lmax > 0:
        raise ValueError(f"kernel_regression: K_train has no positive eigenvalue (λ_max = {lmax:.3g})")
    cond = lmax / lmin if lmin > 0 else math.inf
    ill, method, rank, warning = cond > max_cond, "cholesky", n, None
    coef = None
    if not ill:
        L, info = torch.linalg.cholesky_ex(K)
        if int(info) == 0:
            coef = torch.cholesky_solve(Y, L)
    if coef is None:
        if ill and on_ill == "raise":
            raise IllConditionedKernel(f"kernel_regression: cond(K_train + ridge·I) = {cond:.3g} > "
                                       f"max_cond = {max_cond:.3g}; use ridge > 0 or on_ill='flag'")
        lam, V = torch.linalg.eigh(K)
        keep = lam > lmax / max_cond
        rank, method = int(keep.sum()), "eigh"
        Vk = V[:, keep]
        coef = Vk @ ((Vk.T @ Y) / lam[keep, None])
        if ill:
            pd = "" if lmin > 0 else f", not positive definite (λ_min = {lmin:.3g})"
            warning = (f"K_train is ill-conditioned (cond = {cond:.3g} > {max_cond:.3g}{pd}): fitted with "
                       f"the eigh pseudo-inverse keeping {rank}/{n} eigenvalues > λ_max/{max_cond:.3g}; "
                       f"consider ridge > 0")
    shape = y_train.shape
    pred_train = (K_train.to(f64) @ coef).reshape(shape)
    train_mse = float(((pred_train - y_train.to(f64)) ** 2).mean())
    pred_test, test_mse = None, None
    if K_test_train is not None:
        if K_test_train.dim() != 2 or K_test_train.shape[1] != n:
            raise ValueError(f"kernel_regression: K_test_train must be (m, {n}), "
                             f"got {tuple(K_test_train.shape)}")
        pred_test = K_test_train.to(f64) @ coef
        pred_test = pred_test.reshape((K_test_train.shape[0],) + tuple(shape[1:]))
        if y_test is not None:
            test_mse = float(((pred_test - y_test.to(f64).reshape(pred_test.shape)) ** 2).mean())
    return KernelFit(coef.reshape((n,) + tuple(shape[1:])), pred_train, pred_test, train_mse, test_mse,
                     cond, method, float(ridge), ill, rank, warning)
