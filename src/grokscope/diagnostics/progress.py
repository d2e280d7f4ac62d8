"""Progress measures for modular arithmetic (Nanda et al. 2023), as pure functions of tensors.

Conventions: p is the modulus; w_k = 2πk/p; inputs over all p² pairs are ordered row-major,
row index a·p + b (``pair_grid``); logits over them have shape (p², C) (C = p classes; slice off
extra tokens such as '=' first); an embedding W_E has shape (p, d), row x = token x.

* Fourier basis of Z_p (``fourier_basis``): orthonormal rows [1/√p, √(2/p)cos(w_k x), √(2/p)sin(w_k x),
  k = 1..⌊(p−1)/2⌋] (+ the alternating row (−1)^x/√p when p is even), as the reference ``helpers.py``.
* Neuron frequencies (the paper's key frequencies): for each neuron's activations over all p² pairs,
  centred, the 2-D Fourier coefficients C = F A Fᵀ (p, p); the fraction of Σ C² on the rows/columns
  {const, cos k, sin k} × {const, cos k, sin k} (linear and quadratic terms of frequency k); the
  neuron's frequency is the k with the largest fraction (``neuron_frequencies``).
* Embedding spectrum: energy of W_E per frequency, E_k = ‖C_cos k‖² + ‖C_sin k‖² with C = F W_E (p, d);
  fractions E_k/Σ E. Key frequencies: the k ≥ 1 with the largest E_k (the paper picks key frequencies
  from MLP-neuron spectra; on a grokked network the embedding's largest norms give the same set).
* Restricted loss: each logit column projected onto span{cos(w_k(a+b)), sin(w_k(a+b)) : k ∈ K}
  (unit p²-vectors), then the bias correction of the reference code (add mean over pairs of original −
  projected logits), cross-entropy on the chosen pairs.
* Excluded loss: the logits minus those key-frequency components, cross-entropy on the chosen pairs
  (the paper evaluates it on the training pairs: pass ``mask`` = the train mask).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from grokscope.numerics.losses import CrossEntropy, Loss

__all__ = ["embedding_spectrum", "excluded_logits", "excluded_loss", "fourier_basis", "fourier_norms", "gini",
           "key_frequencies", "logit_coefficients", "neuron_frequencies", "pair_directions", "pair_grid",
           "restricted_logits", "restricted_loss"]


def pair_grid(p: int) -> tuple[Tensor, Tensor]:
    """(a, b), each (p²,) int64, row-major: pair i = (i // p, i % p)."""
    i = torch.arange(p * p)
    return i // p, i % p


def fourier_basis(p: int, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor, list[str]]:
    """(F (p, p) with orthonormal rows, freq (p,) int64 frequency of each row, names such as 'cos 3')."""
    if p < 2:
        raise ValueError(f"fourier_basis: p = {p} must be ≥ 2")
    x = torch.arange(p, dtype=torch.float64)
    rows, freq, names = [torch.full((p,), 1.0 / math.sqrt(p), dtype=torch.float64)], [0], ["const"]
    for k in range(1, (p - 1) // 2 + 1):
        w = 2 * math.pi * k / p
        rows += [torch.cos(w * x) * math.sqrt(2.0 / p), torch.sin(w * x) * math.sqrt(2.0 / p)]
        freq += [k, k]
        names += [f"cos {k}", f"sin {k}"]
    if p % 2 == 0:
        rows.append(torch.cos(math.pi * x) / math.sqrt(p))
        freq.append(p // 2)
        names.append(f"cos {p // 2}")
    return torch.stack(rows).to(dtype), torch.tensor(freq), names


def fourier_norms(W_E: Tensor) -> Tensor:
    """‖(F W_E)_i‖ for each basis row i (p,): the reference 'norms of W_E in the Fourier basis'."""
    F, _, _ = fourier_basis(W_E.shape[0], W_E.dtype)
    return torch.linalg.vector_norm(F.to(W_E.device) @ W_E, dim=1)


def embedding_spectrum(W_E: Tensor) -> Tensor:
    """Energy fraction per frequency k = 0..⌊p/2⌋ (shape (⌊p/2⌋ + 1,), sums to 1): E_k/Σ_j E_j with
    E_k = Σ over basis rows of frequency k of ‖(F W_E)_row‖² (Σ_k E_k = ‖W_E‖²_F by orthonormality)."""
    if W_E.ndim != 2:
        raise ValueError(f"embedding_spectrum needs W_E (p, d); got shape {tuple(W_E.shape)}")
    p = W_E.shape[0]
    _, freq, _ = fourier_basis(p)
    e = fourier_norms(W_E).square()
    E = torch.zeros(p // 2 + 1, dtype=e.dtype, device=e.device).index_add_(0, freq.to(e.device), e)
    return E / E.sum()


def key_frequencies(W_E: Tensor, n: int | None = None, threshold: float | None = None) -> list[int]:
    """Frequencies k ≥ 1 of W_E by decreasing energy: the top ``n``, or every k whose energy fraction is
    ≥ ``threshold`` (give exactly one of the two)."""
    if (n is None) == (threshold is None):
        raise ValueError("key_frequencies: give exactly one of n or threshold")
    frac = embedding_spectrum(W_E)[1:]
    order = torch.argsort(frac, descending=True, stable=True)
    if n is not None:
        if not 1 <= n <= frac.numel():
            raise ValueError(f"key_frequencies: n = {n} must be in 1..{frac.numel()}")
        return [int(k) + 1 for k in order[:n]]
    return [int(k) + 1 for k in order if frac[k] >= threshold]


def gini(x: Tensor) -> float:
    """Gini coefficient of non-negative values x (n,): Σ_ij |x_i − x_j| / (2n Σ_i x_i); 0 = equal,
    (n − 1)/n = all mass on one entry. The paper tracks it for the Fourier norms of W_E and W_L."""
    x = x.reshape(-1).to(torch.float64)
    n, s = x.numel(), x.sum()
    if n == 0 or s <= 0:
        raise ValueError("gini needs at least one positive value")
    return float((x[:, None] - x[None, :]).abs().sum() / (2 * n * s))


def pair_directions(p: int, freqs: Sequence[int], dtype: torch.dtype = torch.float64) -> Tensor:
    """Unit p²-vectors cos(w_k(a+b)), sin(w_k(a+b)) for k in ``freqs`` (1 ≤ k ≤ ⌊p/2⌋), as columns
    (p², 2|K|) (the all-zero sin(π(a+b)) column of k = p/2 is dropped); mutually orthogonal."""
    a, b = pair_grid(p)
    s = (a + b).to(torch.float64)
    cols = []
    for k in sorted({int(k) for k in freqs}):
        if not 1 <= k <= p // 2:
            raise ValueError(f"frequency {k}: must be in 1..{p // 2} for p = {p}")
        for v in (torch.cos(2 * math.pi * k * s / p), torch.sin(2 * math.pi * k * s / p)):
            nrm = torch.linalg.vector_norm(v)
            if nrm > 1e-8 * p:
                cols.append(v / nrm)
    return torch.stack(cols, 1).to(dtype)


def _check_logits(logits: Tensor, p: int) -> None:
    if logits.ndim != 2 or logits.shape[0] != p * p:
        raise ValueError(f"logits over all pairs must have shape (p², C) = ({p * p}, C); got {tuple(logits.shape)}")


def restricted_logits(logits: Tensor, p: int, freqs: Sequence[int]) -> Tensor:
    """R = U Uᵀ L + mean_pairs(L − U Uᵀ L), U = ``pair_directions`` (p², 2|K|), L (p², C)."""
    _check_logits(logits, p)
    U = pair_directions(p, freqs, logits.dtype).to(logits.device)
    R = U @ (U.T @ logits)
    return R + (logits - R).mean(0, keepdim=True)


def excluded_logits(logits: Tensor, p: int, freqs: Sequence[int]) -> Tensor:
    """L − U Uᵀ L: the logits with the key-frequency (a+b) components removed."""
    _check_logits(logits, p)
    U = pair_directions(p, freqs, logits.dtype).to(logits.device)
    return logits - U @ (U.T @ logits)


def _masked_loss(logits: Tensor, labels: Tensor, mask: Tensor | None, loss: Loss | None) -> float:
    loss = loss or CrossEntropy()
    if mask is not None:
        logits, labels = logits[mask], labels[mask]
    return float(loss.value(logits, labels))


def restricted_loss(logits: Tensor, labels: Tensor, p: int, freqs: Sequence[int],
                    mask: Tensor | None = None, loss: Loss | None = None) -> float:
    """Loss (default cross-entropy) of :func:`restricted_logits` on the pairs where ``mask`` (p²,) bool
    is true (all pairs when None); labels (p²,) int64."""
    return _masked_loss(restricted_logits(logits, p, freqs), labels, mask, loss)


def excluded_loss(logits: Tensor, labels: Tensor, p: int, freqs: Sequence[int],
                  mask: Tensor | None = None, loss: Loss | None = None) -> float:
    """Loss of :func:`excluded_logits` on the masked pairs (the paper: the training pairs)."""
    return _masked_loss(excluded_logits(logits, p, freqs), labels, mask, loss)


def logit_coefficients(logits: Tensor, p: int) -> Tensor:
    """⟨L, v_k⟩ for the unit p³-vectors v_k ∝ cos(w_k(a + b − c)), k = 1..⌊p/2⌋; L (p², p) with the class
    c on the last axis. The reference code's 'coefficients' progress measure. Shape (⌊p/2⌋,)."""
    _check_logits(logits, p)
    if logits.shape[1] != p:
        raise ValueError(f"logit_coefficients needs p = {p} classes; got {logits.shape[1]}")
    a, b = pair_grid(p)
    c = torch.arange(p)
    s = (a + b)[:, None] - c[None, :]
    out = []
    for k in range(1, p // 2 + 1):
        v = torch.cos(2 * math.pi * k * s.to(torch.float64) / p).to(logits.dtype).to(logits.device)
        out.append((logits * v).sum() / torch.linalg.vector_norm(v))
    return torch.stack(out)


def neuron_frequencies(acts: Tensor, p: int) -> tuple[Tensor, Tensor]:
    """Each neuron's dominant frequency and the fraction of its variance that frequency explains.

    acts (p², n): activations over all pairs (row-major). Per neuron, A (p, p) centred over pairs,
    C = F A Fᵀ; frac_k = Σ_{i,j ∈ {const, cos k, sin k}} C_ij² / Σ C² for k = 1..⌊p/2⌋. Returns
    (freq (n,) int64, frac (n,)); the paper's key frequencies are the distinct ``freq`` of neurons
    with a high ``frac``. A neuron with zero variance gets freq 0, frac 0."""
    _check_logits(acts, p)
    Fb, freq, _ = fourier_basis(p, acts.dtype)
    Fb, freq = Fb.to(acts.device), freq.to(acts.device)
    A = (acts - acts.mean(0, keepdim=True)).reshape(p, p, -1)
    C2 = torch.einsum("ia,abn,jb->ijn", Fb, A, Fb).square()  # (p, p, n)
    total = C2.sum((0, 1))
    fracs = []
    for k in range(1, p // 2 + 1):
        idx = torch.nonzero((freq == k) | (freq == 0)).reshape(-1)
        fracs.append(C2[idx][:, idx].sum((0, 1)))
    frac = torch.stack(fracs) / torch.where(total > 0, total, torch.ones_like(total))  # (⌊p/2⌋, n)
    best, arg = frac.max(0)
    return torch.where(total > 0, arg + 1, torch.zeros_like(arg)), best
