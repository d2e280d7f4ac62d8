"""Alignment/CKA variants, kernel movement and spectrum, and kernel regression."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grokscope.diagnostics.kernels import (
    IllConditionedKernel,
    alignment,
    alignment_onesided,
    cka,
    cka_labels,
    effective_rank,
    kernel_distance,
    kernel_regression,
    kernel_velocity,
    label_power,
    spectrum,
)

F64 = torch.float64
ALIGNMENTS = [alignment, alignment_onesided, cka_labels]


def _spd(n: int, p: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    Phi = torch.randn(n, p, generator=g, dtype=F64)
    return Phi @ Phi.T, Phi


def _close(a, b, tol=1e-12) -> bool:
    return abs(float(a) - float(b)) <= tol * max(1.0, abs(float(b)))


def test_alignment_hand_computed_2x2():
    K = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=F64)
    y = torch.tensor([1.0, 1.0], dtype=F64)
    assert _close(alignment(K, y), 6 / (2 * math.sqrt(10)))
    # one-sided: a=3, b=1, c=2, y = (1, −1): numerator a + c − 2b = 3, ‖K_c‖_F = √(((a−b)² + (c−b)²)/2)
    K = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=F64)
    y = torch.tensor([1.0, -1.0], dtype=F64)
    assert _close(alignment_onesided(K, y), 3 / (2 * math.sqrt(2.5)))
    # n = 2: HKH ∝ [[1, −1], [−1, 1]], so every CKA with a + c > 2b is 1
    assert _close(cka_labels(K, y), 1.0)
    assert _close(cka(K, torch.tensor([[5.0, 0.0], [0.0, 1.0]], dtype=F64)), 1.0)


def test_cka_hand_computed_3x3():
    y = torch.tensor([1.0, 0.0, -1.0], dtype=F64)
    I3 = torch.eye(3, dtype=F64)
    # HIH = H, ⟨H, yyᵀ⟩ = |y|² = 2, ‖H‖_F = √2, ‖yyᵀ‖_F = 2
    assert _close(cka(I3, torch.outer(y, y)), 1 / math.sqrt(2))
    assert _close(cka_labels(I3, y), 1 / math.sqrt(2))
    assert _close(alignment(I3, y), 2 / (math.sqrt(3) * 2))


def test_onesided_matches_the_authors_numpy_code():
    K, _ = _spd(7, 3, seed=1)
    y = torch.randn(7, generator=torch.Generator().manual_seed(2), dtype=F64)
    Kn, yn = K.numpy(), y.numpy()[:, None]  # labels as a column, as in the notebook
    yc = yn - yn.mean()
    Kc = Kn - Kn.mean(axis=0)
    ref = np.trace(yc.T @ Kc @ yc) / (np.linalg.norm(Kc) * np.linalg.norm(yc) ** 2)
    assert _close(alignment_onesided(K, y), ref)


def test_cka_labels_equals_cka_with_yyT_and_self_cka_is_one():
    K, _ = _spd(9, 4, seed=3)
    g = torch.Generator().manual_seed(4)
    y, Y = torch.randn(9, generator=g, dtype=F64), torch.randn(9, 3, generator=g, dtype=F64)
    assert _close(cka_labels(K, y), cka(K, torch.outer(y, y)))
    assert _close(cka_labels(K, Y), cka(K, Y @ Y.T))
    assert _close(cka(K, K), 1.0)
    L, _ = _spd(9, 2, seed=5)
    assert _close(cka(K, L), cka(L, K))


@pytest.mark.parametrize("fn", ALIGNMENTS)
def test_alignments_scale_and_permutation_invariant(fn):
    K, _ = _spd(10, 4, seed=6)
    y = torch.randn(10, generator=torch.Generator().manual_seed(7), dtype=F64) + 0.5
    ref = fn(K, y)
    assert _close(fn(3.7 * K, -2.0 * y), ref)
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(8))
    assert _close(fn(K[perm][:, perm], y[perm]), ref)
    assert -1.0 - 1e-12 <= float(ref) <= 1.0 + 1e-12


def test_cka_scale_and_permutation_invariant():
    K, _ = _spd(8, 3, seed=9)
    L, _ = _spd(8, 5, seed=10)
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(11))
    assert _close(cka(2 * K, 0.1 * L), cka(K, L))
    assert _close(cka(K[perm][:, perm], L[perm][:, perm]), cka(K, L))


def test_distance_velocity_spectrum_effective_rank():
    K, _ = _spd(6, 6, seed=12)
    assert _close(kernel_distance(1.5 * K, K), 0.5)
    assert _close(kernel_velocity(K, 1.2 * K, dt=100.0), 0.2 / 100)
    lam = spectrum(K)
    assert torch.all(lam[:-1] >= lam[1:])
    assert torch.allclose(lam, torch.linalg.eigvalsh(K).flip(0), rtol=0, atol=1e-12)
    assert _close(effective_rank(torch.eye(5, dtype=F64)), 5.0)
    v = torch.arange(1.0, 5.0, dtype=F64)
    assert _close(effective_rank(torch.outer(v, v)), 1.0, tol=1e-10)


def test_label_power():
    K, _ = _spd(8, 8, seed=13)
    y = torch.randn(8, generator=torch.Generator().manual_seed(14), dtype=F64)
    C = label_power(K, y)
    assert C.shape == (8,) and _close(C[-1], 1.0) and torch.all(C[1:] >= C[:-1] - 1e-15)
    assert _close(label_power(K, y, 8)[0], 1.0)
    assert torch.allclose(label_power(K, y, [1, 4, 8]), C[[0, 3, 7]])
    _, V = torch.linalg.eigh(K)
    C3 = label_power(K, 2 * V[:, -3])  # third-largest eigenvector: power arrives at k = 3
    assert torch.allclose(C3, torch.tensor([0, 0, 1, 1, 1, 1, 1, 1], dtype=F64), atol=1e-12)
    with pytest.raises(ValueError, match="ks"):
        label_power(K, y, [0])


def test_kernel_regression_matches_direct_solve():
    n, m = 40, 15
    g = torch.Generator().manual_seed(15)
    Phi = torch.randn(n + m, 80, generator=g, dtype=F64)
    K_all = Phi @ Phi.T
    Ktr, Kte = K_all[:n, :n], K_all[n:, :n]
    y, yte = torch.randn(n, generator=g, dtype=F64), torch.randn(m, generator=g, dtype=F64)
    fit = kernel_regression(Ktr, Kte, y, yte)
    coef = torch.linalg.solve(Ktr, y)
    assert fit.method == "cholesky" and not fit.ill_conditioned and fit.warning is None and fit.rank == n
    assert float(torch.linalg.vector_norm(fit.coef - coef) / torch.linalg.vector_norm(coef)) <= 1e-10
    assert float(torch.linalg.vector_norm(fit.pred_test - Kte @ coef)
                 / torch.linalg.vector_norm(Kte @ coef)) <= 1e-10
    assert fit.train_mse <= 1e-20 and _close(fit.test_mse, float(((Kte @ coef - yte) ** 2).mean()), 1e-9)
    ev = torch.linalg.eigvalsh(Ktr)
    assert _close(fit.cond, ev[-1] / ev[0], 1e-8)
    # ridge: (K + λI)⁻¹ y; multi-output labels
    Y = torch.stack([y, 2 * y + 1], 1)
    fr = kernel_regression(Ktr, Kte, Y, ridge=0.5)
    cr = torch.linalg.solve(Ktr + 0.5 * torch.eye(n, dtype=F64), Y)
    assert fr.coef.shape == (n, 2) and fr.pred_test.shape == (m, 2) and fr.test_mse is None
    assert float(torch.linalg.matrix_norm(fr.coef - cr) / torch.linalg.matrix_norm(cr)) <= 1e-10
    assert _close(fr.train_mse, float(((Ktr @ cr - Y) ** 2).mean()), 1e-9)


def test_kernel_regression_flags_ill_conditioned():
    K, Phi = _spd(30, 5, seed=16)  # rank 5 of 30
    y = torch.randn(30, generator=torch.Generator().manual_seed(17), dtype=F64)
    fit = kernel_regression(K, K[:7], y)
    assert fit.ill_conditioned and fit.method == "eigh" and fit.rank == 5
    assert "ill-conditioned" in fit.warning and fit.cond > 1e12
    proj = Phi @ torch.linalg.lstsq(Phi, y[:, None]).solution[:, 0]  # the min-norm fit projects y
    assert float(torch.linalg.vector_norm(fit.pred_train - proj) / torch.linalg.vector_norm(proj)) <= 1e-8
    with pytest.raises(IllConditionedKernel, match="cond"):
        kernel_regression(K, None, y, on_ill="raise")
    # a ridge makes it well posed again
    assert not kernel_regression(K, None, y, ridge=1e-3).ill_conditioned
    # indefinite: flagged, "not positive definite"
    bad = kernel_regression(torch.diag(torch.tensor([2.0, 1.0, -1e-3], dtype=F64)), None,
                            torch.ones(3, dtype=F64))
    assert bad.ill_conditioned and "not positive definite" in bad.warning and bad.rank == 2


def test_committee_K0_regression_end_to_end():
    from grokscope.diagnostics.ntk import ntk_blocks
    from grokscope.models.committee import Committee

    D, N, P, m = 8, 60, 30, 50
    g = torch.Generator().manual_seed(18)
    model = Committee(N, D, "quadratic", eps=0.25)
    params = model.init(g)
    X = torch.randn(P + m, D, generator=g, dtype=F64) / math.sqrt(D)
    beta = torch.randn(D, generator=g, dtype=F64)
    y = 0.5 * (X @ beta) ** 2
    B = ntk_blocks(model, params, X[:P], X[P:], alpha=1.0)
    fit = kernel_regression(B.train, B.test_train, y[:P], y[P:])
    assert not fit.ill_conditioned and fit.train_mse < 1e-16
    assert 0 < fit.test_mse < float((y[P:] ** 2).mean())  # learns the |x|² part at least
    assert 0 < float(alignment_onesided(B.test, y[P:])) < 1
