"""Generic transforms of a model's initial weights (config section ``init``), for any model.

* Low-rank initialisation (Liu et al. 2024): W₀ = U S Vᵀ → W_r = U_{:r} S_{:r} V_{:r}ᵀ · ‖W₀‖_F/‖W_r‖_F,
  so only the structure changes, not the overall scale (variance matched).
* Init scale (Omnigrok, Liu et al. 2023): θ₀ ← s·θ₀ for every trainable tensor.
* ``init.recurrent`` (Liu et al. 2024): one named matrix drawn Gaussian, low rank, with a prescribed
  spectrum or effective rank, task-aligned low rank, or read from a file (:func:`apply_recurrent`).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from grokscope.config import ConfigError, Init

__all__ = ["apply_init", "apply_recurrent", "effective_rank", "low_rank"]


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


# -- init.recurrent: the initial connectivity of one named matrix (Liu et al. 2024) ----------------
def effective_rank(s: Tensor) -> float:
    """exp(−Σ p_i log p_i) with p = s/Σs over the singular values s (Roy & Vetterli 2007): 1 for a
    rank-1 matrix, n for n equal singular values."""
    p = s.to(torch.float64).clamp_min(0)
    p = p[p > 0] / p.sum()
    return float(torch.exp(-(p * p.log()).sum()))


def power_spectrum(n: int, decay: float) -> Tensor:
    """s_i = i^(−decay), i = 1 … n (float64)."""
    return torch.arange(1, n + 1, dtype=torch.float64) ** (-decay)


def decay_for_effective_rank(n: int, target: float, tol: float = 1e-12) -> float:
    """The decay whose power spectrum of n values has effective rank ``target`` (1 ≤ target ≤ n), by
    bisection: the effective rank falls monotonically from n (decay 0) toward 1."""
    if not 1 <= target <= n:
        raise ValueError(f"effective rank {target} outside 1..{n}")
    lo, hi = 0.0, 1.0
    while effective_rank(power_spectrum(n, hi)) > target and hi < 1e4:
        hi *= 2
    while hi - lo > tol * max(1.0, hi):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if effective_rank(power_spectrum(n, mid)) > target else (lo, mid)
    return 0.5 * (lo + hi)


def gaussian_matrix(m: int, n: int, gain: float, generator: torch.Generator) -> Tensor:
    """W = gain·N(0, 1)/√n, (m, n) float64 (the paper's W_rec with gain 1.25, m = n = N)."""
    return gain * torch.randn(m, n, generator=generator, dtype=torch.float64) / math.sqrt(n)


def with_spectrum(W: Tensor, s: Tensor) -> Tensor:
    """U diag(s) Vᵀ from W = U S Vᵀ (the leading len(s) pairs), rescaled to ‖W‖_F (float64)."""
    U, _, Vh = torch.linalg.svd(W.to(torch.float64), full_matrices=False)
    k = len(s)
    out = (U[:, :k] * s) @ Vh[:k]
    return out * (torch.linalg.matrix_norm(W.to(torch.float64)) / torch.linalg.matrix_norm(out))


def _basis(D: Tensor, r: int, generator: torch.Generator) -> Tensor:
    """(d, r) orthonormal columns whose leading ones span the columns of D (d, a) (its top-r left singular
    vectors if a ≥ r), completed by Gram–Schmidt of Gaussian draws."""
    d = D.shape[0]
    Ud, Sd, _ = torch.linalg.svd(D.to(torch.float64), full_matrices=False)
    lead = Ud[:, :min(r, int((Sd > Sd.max() * 1e-12).sum()))]
    fill = torch.randn(d, r - lead.shape[1], generator=generator, dtype=torch.float64)
    Q, R = torch.linalg.qr(torch.cat([lead, fill], dim=1))
    return Q * torch.sign(torch.diagonal(R)).where(torch.diagonal(R) != 0, torch.ones(1, dtype=torch.float64))


def aligned_low_rank(W: Tensor, r: int, out_dirs: Tensor, in_dirs: Tensor, generator: torch.Generator) -> Tensor:
    """Rank r, ‖·‖_F = ‖W‖_F: U_r diag(s_{:r}) V_rᵀ with W's top-r singular values s, U_r (m, r) led by
    the span of ``out_dirs`` (m, ·) and V_r (n, r) by the span of ``in_dirs`` (n, ·) (task-aligned)."""
    s = torch.linalg.svdvals(W.to(torch.float64))[:r]
    U, V = _basis(out_dirs, r, generator), _basis(in_dirs, r, generator)
    out = (U * s) @ V.T
    return out * (torch.linalg.matrix_norm(W.to(torch.float64)) / torch.linalg.matrix_norm(out))


def _matrix(params: dict[str, Tensor], name: str, trainable: tuple[str, ...], key: str) -> Tensor:
    if name not in trainable or params[name].ndim != 2:
        allowed = [k for k in trainable if params[k].ndim == 2]
        raise ConfigError(f"{key} = {name!r}: not a trainable weight matrix of this model; allowed: "
                          f"{', '.join(allowed) or 'none'}")
    return params[name]


def apply_recurrent(params: dict[str, Tensor], spec: Any, trainable: Iterable[str], seed: int) -> dict[str, Tensor]:
    """New params with ``spec.param`` (init.recurrent, config/core.py ``Recurrent``) drawn as ``spec.kind``
    says; the gaussian from a generator seeded with ``spec.seed`` (else ``seed``). Raises ConfigError for
    a name that is not a trainable matrix, a rank or effective rank above min(m, n), a wrong file shape."""
    trainable = tuple(trainable)
    W0 = _matrix(params, spec.param, trainable, "init.recurrent.param")
    m, n = W0.shape
    gen = torch.Generator().manual_seed(spec.seed if spec.seed is not None else seed)
    for key, v in (("rank", spec.rank), ("effective_rank", spec.effective_rank)):
        if v is not None and v > min(m, n):
            raise ConfigError(f"init.recurrent.{key} = {v!r}: larger than min(shape) = {min(m, n)} of "
                              f"{spec.param!r} {(m, n)}; allowed: 1..{min(m, n)}")
    if spec.kind == "file":
        from grokscope.config.arrays import load_array
        W = load_array(spec.path, "init.recurrent.path", (m, n), (f"rows of {spec.param}", f"columns of {spec.param}"))
    else:
        W = gaussian_matrix(m, n, spec.gain, gen)
        if spec.kind == "lowrank":
            W = low_rank(W, spec.rank)
        elif spec.kind == "spectrum":
            k = min(m, n)
            decay = spec.decay if spec.decay is not None else decay_for_effective_rank(k, spec.effective_rank)
            W = with_spectrum(W, power_spectrum(k, decay))
        elif spec.kind == "aligned":
            W_in = _matrix(params, spec.align_in, trainable, "init.recurrent.align_in")
            W_out = _matrix(params, spec.align_out, trainable, "init.recurrent.align_out")
            if W_in.shape[0] != n or W_out.shape[1] != m:
                raise ConfigError(f"init.recurrent.align_in / align_out: {spec.align_in} {tuple(W_in.shape)} needs "
                                  f"{n} rows and {spec.align_out} {tuple(W_out.shape)} {m} columns to align with "
                                  f"{spec.param} {(m, n)}")
            W = aligned_low_rank(W, spec.rank, W_out.T, W_in, gen)
    return {**params, spec.param: W.to(device=W0.device, dtype=W0.dtype)}
