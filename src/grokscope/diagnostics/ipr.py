"""Per-neuron inverse participation ratio of Fourier weights (Doshi, Das, He & Gromov 2024, "To grok or
not to grok"): periodic (generalising) neurons against memorising ones, and pruning by it.

For a length-p weight vector u (one neuron's weights over the residues 0..p−1), ĉ = rfft(u) (p//2 + 1
coefficients, DC included) and

    IPR_r(u) = Σ_k (|ĉ_k| / ‖ĉ‖₂)^{2r},   r = 2 (the paper's choice).

IPR = 1 for a single frequency (a periodic neuron), ≈ 4/p for Gaussian noise (spread over all
frequencies). For the one-hidden-layer MLP on one-hot pairs [e_a, e_b] (W0 (N, 2p), W1 (p, N)) neuron n
has three such vectors: its a-weights W0[n, :p], its b-weights W0[n, p:] and its output weights W1[:, n];
its IPR is their mean. Shapes: W0 (N, 2p), W1 (p, N) → (N,).
"""
from __future__ import annotations

import torch
from torch import Tensor

R = 2               # the exponent r of the paper
PERIODIC = 0.5      # IPR ≥ this: the neuron is dominated by at most ~2 frequencies (counted as periodic)


def ipr(c: Tensor, r: int = R) -> Tensor:
    """Σ_k (|c_k|/‖c‖₂)^{2r} over the last axis of c (real or complex), shape c.shape[:-1]; 0 for c = 0."""
    a = c.abs().to(torch.float64)
    n2 = (a * a).sum(dim=-1, keepdim=True)
    q = (a * a) / n2.clamp_min(torch.finfo(torch.float64).tiny)  # |c_k|²/‖c‖² (sums to 1)
    return (q ** r).sum(dim=-1)


def fourier_ipr(u: Tensor, r: int = R) -> Tensor:
    """IPR of the rFFT of each row of u (..., p) over the residues: shape (...,)."""
    return ipr(torch.fft.rfft(u.to(torch.float64), dim=-1), r)


def neuron_ipr(W0: Tensor, W1: Tensor, p: int, r: int = R) -> Tensor:
    """Per-neuron IPR (N,) of the one-hidden-layer MLP on one-hot pairs: mean of the Fourier IPRs of the
    a-input weights W0[:, :p], the b-input weights W0[:, p:2p] and the output weights W1ᵀ (N, p)."""
    if W0.shape[1] != 2 * p or W1.shape[0] != p:
        raise ValueError(f"neuron_ipr: needs W0 (N, 2p) and W1 (p, N) with p = {p}; got {tuple(W0.shape)} "
                         f"and {tuple(W1.shape)}")
    return (fourier_ipr(W0[:, :p], r) + fourier_ipr(W0[:, p:], r) + fourier_ipr(W1.T, r)) / 3


def periodic_fraction(scores: Tensor, threshold: float = PERIODIC) -> float:
    """Fraction of neurons with IPR ≥ threshold."""
    return float((scores >= threshold).to(torch.float64).mean())


def prune_by_ipr(params: dict[str, Tensor], scores: Tensor, *, fraction: float | None = None,
                 threshold: float | None = None) -> tuple[dict[str, Tensor], Tensor]:
    """Remove neurons of the one-hidden-layer MLP (zero their row of W0, column of W1 and bias b0): the
    ``fraction`` of neurons with the lowest IPR, or every neuron with IPR < ``threshold`` (exactly one of
    the two). Returns (new params, kept mask (N,) bool); ``params`` are not modified."""
    if (fraction is None) == (threshold is None):
        raise ValueError("prune_by_ipr: give exactly one of fraction, threshold")
    N = scores.shape[0]
    if fraction is not None:
        if not 0 <= fraction <= 1:
            raise ValueError(f"prune_by_ipr: fraction = {fraction!r}; allowed 0 ≤ fraction ≤ 1")
        drop = torch.argsort(scores, stable=True)[:round(fraction * N)]
        keep = torch.ones(N, dtype=torch.bool, device=scores.device)
        keep[drop] = False
    else:
        keep = scores >= threshold
    out = dict(params)
    k = keep.to(params["W0"].dtype).to(params["W0"].device)
    out["W0"] = params["W0"] * k[:, None]
    out["W1"] = params["W1"] * k[None, :]
    if "b0" in params:
        out["b0"] = params["b0"] * k
    return out, keep
