"""Eigenvalues and top-k label power of a symmetric kernel from one tridiagonal reduction.

The ntk_spectrum probe needs every eigenvalue of the test NTK K (n, n) (effective rank) but only
the top k_max eigenvectors' overlaps with y (label power C(k) = Σ_{i≤k} (v_iᵀy)² / ‖y‖², k ≤ k_max).
A full ``eigh`` also back-transforms all n eigenvectors (≈ 2n³ flops more). Here, with LAPACK via
scipy and threadpoolctl (optional; ``None`` is returned without them):

  Ks = ½(K + Kᵀ) = Q T Qᵀ            dsytrd (T tridiagonal, Q as Householder reflectors)
  λ (all, ascending)                 dsterf on T
  s_i, i ≤ k_max (top)               dstein: eigenvectors of T by inverse iteration at those λ_i
  v_iᵀy = s_iᵀ(Qᵀy)                  dormqr applies Qᵀ to y only, O(n²)

Same numbers as :func:`grokscope.diagnostics.kernels.eigh_desc` + ``label_power`` to rounding
(measured ≤ 1e-13 relative at the Figure-1 size); CPU float64 only (else ``None``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def spectrum_label_power(K: Tensor, y: Tensor, ks: Sequence[int]) -> tuple[Tensor, Tensor] | None:
    """(eigenvalues of ½(K + Kᵀ), descending (n,); C(k) for each k in ``ks`` (len(ks),)), or None when
    this path does not apply (no scipy/threadpoolctl, not CPU float64, T splits, inverse iteration failed)."""
    if K.dtype != torch.float64 or K.device.type != "cpu" or K.shape[0] < 3:
        return None
    n = K.shape[0]
    k_max = max(ks)
    if min(ks) < 1 or k_max > n:
        raise ValueError(f"spectrum_label_power: ks must lie in 1..{n}, got {list(ks)}")
    try:
        from scipy.linalg import lapack
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    # scipy's OpenBLAS keeps its own thread pool: use torch's thread count, so that a run limited
    # to one thread (e.g. on a busy 2-core machine, where 2 LAPACK threads can be 10× slower) stays so
    with threadpool_limits(torch.get_num_threads(), user_api="blas"):
        return _tridiagonal(K, y, ks, lapack)


def _tridiagonal(K: Tensor, y: Tensor, ks: Sequence[int], lapack) -> tuple[Tensor, Tensor] | None:
    import numpy as np
    n, k_max = K.shape[0], max(ks)
    A = (0.5 * (K + K.T)).numpy().T      # bitwise symmetric, so its transpose: the same matrix, Fortran order
    lwork = int(lapack.dsytrd_lwork(n, lower=1)[0])
    a, d, e, tau, info = lapack.dsytrd(A, lower=1, lwork=lwork, overwrite_a=1)
    if info != 0 or not np.all(e != 0.0):  # a split T would need dstebz's block bookkeeping
        return None
    lam, info = lapack.dsterf(d, e)
    if info != 0:
        return None
    iblock = np.ones(n, dtype=np.int32)
    isplit = np.zeros(n, dtype=np.int32)
    isplit[0] = n
    S, info = lapack.dstein(d, e, lam[n - k_max:], iblock, isplit)
    if info != 0:
        return None
    Y = y.reshape(n, -1).to(torch.float64).numpy()
    QtY = Y.copy()   # Q = H(1)…H(n−1), reflector i stored below the subdiagonal of column i (uplo = L)
    QtY[1:], _, info = lapack.dormqr("L", "T", a[1:, : n - 1], tau[: n - 1], QtY[1:], max(1, 64 * Y.shape[1]))
    if info != 0:
        return None
    power = ((S.T @ QtY) ** 2).sum(1)[::-1]   # descending eigenvalue order
    C = np.cumsum(power) / float((Y * Y).sum())
    idx = np.asarray(list(ks)) - 1
    return torch.from_numpy(lam[::-1].copy()), torch.from_numpy(C[idx].copy())
