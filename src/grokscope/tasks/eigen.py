"""Eigenvector labels (paper §6.1, Fig 5; reference §5.2): how NTK alignment sets the delay.

Inputs x ~ N(0, I/D) (the package's convention; the same distribution of w·x as the paper's x ~ N(0, I)
with h = w·x/√D): P + P_test points from ``data_seed``. The labels depend on the model, so the task
leaves them empty and :func:`eigen_labels` fills them once the model is initialised (the one hook, in
``train.build``): with K₀ the initial NTK Gram matrix over all n = P + P_test points,

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

LABELS_FROM_MODEL = "labels_from_model"


@register_task("eigen")
def build_eigen(cfg: EigenTask) -> Dataset:
    """Inputs only; y_train/y_test are NaN until :func:`eigen_labels` fills them."""
    X = gaussian_inputs(cfg.P + cfg.P_test, cfg.D, cfg.data_seed)
    nan = torch.full((cfg.P + cfg.P_test,), float("nan"), dtype=torch.float64)
    return Dataset(X[:cfg.P].clone(), nan[:cfg.P].clone(), X[cfg.P:].clone(), nan[cfg.P:].clone(),
                   meta={LABELS_FROM_MODEL: "eigen", "j": cfg.j})


def eigenvector_of(K: Tensor, j: int) -> tuple[Tensor, Tensor]:
    """(j-th eigenvector of K − mean(K) in descending order (n,), all eigenvalues descending (n,))."""
    Kc = K - K.mean()
    lam, V = torch.linalg.eigh(0.5 * (Kc + Kc.T))
    lam, V = lam.flip(0), V.flip(1)
    v = V[:, j - 1]
    if v[v.abs().argmax()] < 0:
        v = -v
    return v, lam


def eigen_labels(data: Dataset, model: Any, params0: dict[str, Tensor], alpha: float) -> Dataset:
    """``data`` with labels from the initial NTK's j-th eigenvector (module docstring). The NTK is the
    model's (diagnostics.ntk: structured where available, else torch.func); α² does not change V."""
    from grokscope.diagnostics.ntk import ntk
    if data.meta.get(LABELS_FROM_MODEL) != "eigen":
        return data
    X = torch.cat([data.X_train, data.X_test])
    with torch.no_grad():
        K = ntk(model, params0, X, alpha=alpha)
    v, lam = eigenvector_of(K.to(torch.float64), int(data.meta["j"]))
    v = v.to(data.X_train.dtype)
    P = data.P
    meta = {**data.meta, LABELS_FROM_MODEL: None, "eigenvalue": float(lam[int(data.meta["j"]) - 1]),
            "eigenvalues_top": [float(x) for x in lam[:5]]}
    return replace(data, y_train=v[:P].clone(), y_test=v[P:].clone(), meta=meta)
