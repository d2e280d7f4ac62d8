"""Every scalar of one NTK probe row from one kernel K, one matvec and three Frobenius norms.

The direct functions of :mod:`grokscope.diagnostics.kernels` each re-centre K ((n, n) temporaries:
K − column means, H K H); here the three alignments come from Z = K [1, Y, Y_c] (n, 1 + 2k) and
scalars, with r = K1 (row sums = column sums for symmetric K), m = r/n, s = 1ᵀr:

  ‖K − 1mᵀ‖_F² = ‖K‖_F² − n‖m‖²                         (one-sided centring, the authors' kalignment)
  ‖HKH‖_F²     = ‖K‖_F² − 2‖r‖²/n + s²/n²                 (double centring, CKA)
  y_cᵀ(K − 1mᵀ)y_c = y_cᵀKy_c − (1ᵀy_c)(mᵀy_c),  y_cᵀHKHy_c = y_cᵀKy_c − 2(1ᵀy_c)(mᵀy_c) + (s/n²)(1ᵀy_c)²
  (1ᵀy_c is rounding-small; kept so the numerators are those of the direct functions)

Both norm identities subtract: when the centred norm² falls below ``SAFE`` × ‖K‖_F² (a kernel dominated
by its constant mode) the direct centred computation is used instead, so the relative error stays
≲ 1e-13. The norms ‖K − K₀‖, ‖K − K_last‖ (which cancel) use the same entrywise differences as before,
summed in cache-sized row blocks (:func:`diff_norms`); ‖K₀‖, ‖K_last‖ are reused, not recomputed.
"""
from __future__ import annotations

import torch
from torch import Tensor

from grokscope.diagnostics import kernels as kr

SAFE = 1e-2  # centred ‖·‖² / ‖K‖² below this: compute the centred norm directly (cancellation)


def alignments(K: Tensor, y: Tensor, K_norm: Tensor | None = None) -> dict[str, Tensor]:
    """``ntk_alignment`` (one-sided centred), ``ntk_alignment_uncentred`` and ``ntk_cka`` of a symmetric
    K (n, n) with labels y (n,) or (n, k), as :func:`kr.alignment_onesided`, :func:`kr.alignment` and
    :func:`kr.cka_labels` (module docstring); ``K_norm`` = ‖K‖_F if already known. Scalars (0-dim).
    Computed in float64 (another dtype is converted first: in float32 the identities would cancel)."""
    if K.dtype != torch.float64:
        K, K_norm = K.to(torch.float64), None
    y = y.to(K.dtype)
    n = K.shape[0]
    Y = y.reshape(n, -1)
    k = Y.shape[1]
    Yc = Y - Y.mean(0, keepdim=True)
    ones = torch.ones(n, 1, dtype=K.dtype, device=K.device)
    Z = K @ torch.cat([ones, Y, Yc], 1)                      # one pass over K
    r, KY, KYc = Z[:, 0], Z[:, 1:1 + k], Z[:, 1 + k:]
    nK = torch.linalg.matrix_norm(K) if K_norm is None else K_norm
    nK2 = nK * nK
    m = r / n
    yKy, ycKyc = (Y * KY).sum(), (Yc * KYc).sum()
    sum_yc = Yc.sum(0)
    yc2 = (Yc * Yc).sum()

    one2 = nK2 - n * (m * m).sum()                         # ‖K − 1mᵀ‖²
    n_one = (one2.sqrt() if one2 >= SAFE * nK2 else
             torch.linalg.matrix_norm(K - K.mean(0, keepdim=True)))
    two2 = nK2 - 2.0 * (r * r).sum() / n + r.sum() ** 2 / n**2  # ‖HKH‖²
    n_two = two2.sqrt() if two2 >= SAFE * nK2 else torch.linalg.matrix_norm(kr._double_centre(K))
    mYc = m @ Yc
    one_num = ycKyc - (sum_yc * mYc).sum()
    two_num = ycKyc - 2.0 * (sum_yc * mYc).sum() + r.sum() / n**2 * (sum_yc * sum_yc).sum()
    return {"ntk_alignment": one_num / (n_one * yc2),
            "ntk_alignment_uncentred": yKy / (nK * (Y * Y).sum()),
            "ntk_cka": two_num / (n_two * torch.linalg.matrix_norm(Yc.T @ Yc))}


def diff_norms(K: Tensor, others: list[Tensor], rows: int = 64) -> list[Tensor]:
    """‖K − O‖_F for each O (n, n) in ``others`` (0-dim tensors). On CPU in blocks of ``rows`` rows, each
    block of K read once while it is in cache and no n×n temporary written: the entrywise differences
    are those of ``K − O``, only the order of the sum of squares differs (measured ≤ 1e-14 relative).
    Not CPU float64: ``matrix_norm(K − O)`` as before."""
    if K.device.type != "cpu" or K.dim() != 2 or K.dtype != torch.float64:
        return [torch.linalg.matrix_norm(K - O) for O in others]
    n = K.shape[0]
    buf = torch.empty(min(rows, n), K.shape[1], dtype=K.dtype)
    acc = [K.new_zeros(()) for _ in others]
    for i in range(0, n, rows):
        Kb = K[i:i + rows]
        d = buf[:Kb.shape[0]]
        for a, O in zip(acc, others):
            torch.sub(Kb, O[i:i + rows], out=d)
            flat = d.view(-1)
            a.add_(torch.dot(flat, flat))
    return [a.sqrt() for a in acc]
