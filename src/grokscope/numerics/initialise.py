"""Generic transforms of a model's initial weights (config section ``init``), for any model.

* Low-rank initialisation (Liu et al. 2024): W₀ = U S Vᵀ → W_r = U_{:r} S_{:r} V_{:r}ᵀ · ‖W₀‖_F/‖W_r‖_F,
  so only the structure changes, not the overall scale (variance matched).
* Init scale (Omnigrok, Liu et al. 2023): θ₀ ← s·θ₀ for every trainable tensor.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from grokscope.config import ConfigError, Init

__all__ = ["apply_init", "low_rank"]


def low_rank(W: Tensor, r: int) -> Tensor:
    """W (..., m, n) truncated to rank r by SVD over the last two axes (leading axes batched) and
    rescaled to each matrix's full-rank Frobenius norm. Computed in float64, returned in W's dtype.
    r ≥ min(m, n) returns W unchanged (in value); r < 1 raises ``ValueError``."""
    if W.ndim < 2:
        raise ValueError(f"low_rank needs a matrix (ndim ≥ 2); got shape {tuple(W.shape)}")
    if r < 1:
        raise ValueError(f"low_rank: rank {r} must be ≥ 1")
    W64 = W.to(torch.float64)
    U, S, Vh = torch.linalg.svd(W64, full_matrices=False)
    k = min(r, S.shape[-1])
    Wr = (U[..., :, :k] * S[..., None, :k]) @ Vh[..., :k, :]
    norm0 = torch.linalg.matrix_norm(W64, keepdim=True)
    normr = torch.linalg.matrix_norm(Wr, keepdim=True)
    return (Wr * (norm0 / normr.clamp_min(torch.finfo(torch.float64).tiny))).to(W.dtype)


def apply_init(params: dict[str, Tensor], cfg: Init, trainable: Iterable[str]) -> dict[str, Tensor]:
    """New params with ``cfg.rank`` (low-rank truncation of each selected matrix) and ``cfg.scale``
    (every trainable tensor × scale) applied; untouched tensors are returned as they are.

    Selected matrices: ``cfg.params`` if given, else every trainable tensor with ndim ≥ 2. Raises
    :class:`ConfigError` for a name that is not a trainable tensor or a rank above min(m, n)."""
    trainable = tuple(trainable)
    out = dict(params)
    if cfg.rank is not None:
        if cfg.params is not None:
            for name in cfg.params:
                if name not in trainable or params[name].ndim < 2:
                    allowed = [k for k in trainable if params[k].ndim >= 2]
                    raise ConfigError(f"init.params contains {name!r}: not a trainable weight matrix of this "
                                      f"model; allowed: {', '.join(allowed) or 'none'}")
            names = list(cfg.params)
        else:
            names = [k for k in trainable if params[k].ndim >= 2]
        if not names:
            raise ConfigError(f"init.rank = {cfg.rank}: this model has no trainable weight matrix "
                              f"(trainable: {', '.join(trainable)})")
        for name in names:
            m, n = params[name].shape[-2:]
            if cfg.rank > min(m, n):
                raise ConfigError(f"init.rank = {cfg.rank}: larger than min(shape) = {min(m, n)} of the "
                                  f"weight {name!r} {tuple(params[name].shape)}; allowed: 1..{min(m, n)}")
            out[name] = low_rank(params[name], cfg.rank)
    if cfg.scale != 1.0:
        for name in trainable:
            out[name] = out[name] * cfg.scale
    return out
