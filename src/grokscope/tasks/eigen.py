"""Eigenvector labels (paper §6.1, Fig 5; reference §5.2): how NTK alignment sets the delay.

Inputs x ~ N(0, I/D) (the package's convention; the same distribution of w·x as the paper's x ~ N(0, I)
with h = w·x/√D): P + P_test points from ``data_seed``. The labels depend on the model, so the task
leaves them empty, and the run's build hands :func:`eigen_labels` the initial NTK once the model is
initialised (the hook ``meta["labels_from_kernel"]``; this task never imports the NTK code): with K₀
the initial NTK Gram matrix over all n = P + P_test points (train first, then test),

    K_c = K₀ − mean(K₀)  (the global mean of all entries, as the authors' code),  K_c = V Λ Vᵀ,
    y = V[:, j − 1]  (λ sorted descending, j = 1 the top), unit norm over the n points,

signed so that its largest-magnitude entry is positive; y[:P] trains, y[P:] tests.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from grokscope.config import EigenTask
from grokscope.tasks.base import Dataset, register_task
from grokscope.tasks.polynomial import gaussian_inputs

LABELS_FROM_KERNEL = "labels_from_kernel"  # meta key: the labelling function, until labels are made


def _memory(cfg: Any) -> tuple[int, tuple[str, str]]:
    """X, and the (P + P_test)² initial kernel with its eigendecomposition (≈ 4 such matrices, float64)."""
    t = cfg.task
    n = t.P + t.P_test
    return 8 * (n * t.D + 4 * n * n), (f"task.P = {t.P}, task.P_test = {t.P_test} (eigen labels: an "
                                       f"{n}×{n} kernel):", "reduce task.P or P_test")


@register_task("eigen", EigenTask, memory=_memory,
               capabilities=lambda cfg: frozenset({"regression", "labels_from_kernel"}))
def build_eigen(cfg: EigenTask) -> Dataset:
    """Inputs only; y_train/y_test are NaN until :func:`eigen_labels` fills them."""
    X = gaussian_inputs(cfg.P + cfg.P_test, cfg.D, cfg.data_seed)
    nan = torch.full((cfg.P + cfg.P_test,), float("nan"), dtype=torch.float64)
    return Dataset(X[:cfg.P].clone(), nan[:cfg.P].clone(), X[cfg.P:].clone(), nan[cfg.P:].clone(),
                   meta={LABELS_FROM_KERNEL: eigen_labels, "j": cfg.j})


def eigenvector_of(K: Tensor, j: int) -> tuple[Tensor, Tensor]:
    """(j-th eigenvector of K − mean(K) in descending order (n,), all eigenvalues descending (n,))."""
    Kc = K - K.mean()
    lam, V = torch.linalg.eigh(0.5 * (Kc + Kc.T))
    lam, V = lam.flip(0), V.flip(1)
    v = V[:, j - 1]
    if v[v.abs().argmax()] < 0:
        v = -v
    return v, lam


def eigen_labels(data: Dataset, K: Tensor) -> Dataset:
    """``data`` with labels from the j-th eigenvector of ``K`` (n, n), the initial NTK over
    cat(X_train, X_test) (module docstring); α² does not change V. Labelled data is returned as is."""
    if data.meta.get(LABELS_FROM_KERNEL) is None:
        return data
    v, lam = eigenvector_of(K.to(torch.float64), int(data.meta["j"]))
    v = v.to(data.X_train.dtype)
    P = data.P
    meta = {**data.meta, LABELS_FROM_KERNEL: None, "eigenvalue": float(lam[int(data.meta["j"]) - 1]),
            "eigenvalues_top": [float(x) for x in lam[:5]]}
    return replace(data, y_train=v[:P].clone(), y_test=v[P:].clone(), meta=meta)
