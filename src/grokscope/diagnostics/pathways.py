"""Pathway metrics of training samples (Li, Fan & Zhou 2025; reference neighbors.md §10), pure functions.

A layer's *routing weights* g (M, E) ≥ 0 say how much sample i uses unit/expert k (an MLP's hidden unit
weighted by |activation|, an MoE's router probabilities). The sample's pathway at that layer keeps the
experts in decreasing weight until their cumulative share of Σ_k g reaches ``mass`` (0.7 in the paper),
or the ``top_k`` largest; the pathway is the sequence of kept expert IDs, layer after layer, each ID
offset by the widths of the earlier layers so that tokens of different layers never match.

  edit distance     d(i, j) = Levenshtein distance between two pathways (unit-ID tokens); normalised
                    by max(len_i, len_j)
  Jaccard distance  1 − |S_i ∩ S_j| / |S_i ∪ S_j| of the kept-unit sets (one-layer committee)
  consistency       e_{iℓ} = routing embedding of sample i at layer ℓ in a space that layers ℓ, ℓ+1 share;
                    c_{iℓ} = cos(e_{iℓ}, e'_{i,ℓ+1}); C_i = 1 − mean_ℓ c_{iℓ} / max_ℓ c_{iℓ}; C = mean_i C_i
  memorised         sample i memorised from checkpoint t*_i when ℓ_i(t) ≤ ε and |ℓ_i(t) − ℓ_i(T)| ≤ δ
                    for every t ≥ t*_i (T the last checkpoint)
  effective dim.    d_eff(λ) = Tr(K (K + λI)⁻¹) = Σ_j κ_j / (κ_j + λ) of a PSD Gram matrix K (P, P)
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

MASS = 0.7  # the paper's cumulative routing weight


def kept_counts(g: Tensor, mass: float = MASS, top_k: int | None = None) -> tuple[Tensor, Tensor]:
    """(order (M, E): expert IDs by decreasing weight, n_kept (M,)): the shortest prefix of ``order``
    whose weights sum to ≥ mass·Σ_k g_ik (ties broken by lower ID), or ``top_k`` experts. Rows with
    Σ g = 0 keep nothing."""
    if g.ndim != 2 or bool((g < 0).any()):
        raise ValueError(f"routing weights must be a non-negative (M, E) matrix; got shape {tuple(g.shape)}")
    M, E = g.shape
    # stable sort on −g keeps lower IDs first among equal weights
    w, order = torch.sort(-g, dim=1, stable=True)
    w = -w
    total = g.sum(1)
    if top_k is not None:
        n = torch.full((M,), min(int(top_k), E), dtype=torch.int64, device=g.device)
    else:
        before = torch.cumsum(w, 1) - w  # weight of the experts ahead of each one
        n = (before < mass * total[:, None] * (1 - 1e-12)).sum(1)
    n = torch.where(total > 0, n, torch.zeros_like(n))
    return order, n


def pathways(layers: Sequence[Tensor], mass: float = MASS, top_k: int | None = None) -> list[list[int]]:
    """Each sample's pathway: kept expert IDs of layer 0 (by decreasing weight), then of layer 1 offset by
    E_0, and so on. ``layers``: routing weights per layer, each (M, E_ℓ)."""
    out: list[list[int]] = [[] for _ in range(layers[0].shape[0])]
    offset = 0
    for g in layers:
        order, n = kept_counts(g, mass, top_k)
        order, n = (order + offset).tolist(), n.tolist()
        for i, path in enumerate(out):
            path.extend(order[i][: n[i]])
        offset += g.shape[1]
    return out


def levenshtein(a: Sequence[int], b: Sequence[int]) -> int:
    """Edit distance (insertions, deletions, substitutions, each cost 1) by the textbook row DP."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def _pad(paths: Sequence[Sequence[int]], fill: int) -> tuple[Tensor, Tensor]:
    """(tokens (R, L) padded with ``fill``, lengths (R,)), one flat copy."""
    lens = torch.as_tensor([len(p) for p in paths], dtype=torch.int64)
    L = max(int(lens.max()) if len(paths) else 0, 1)
    T = torch.full((len(paths), L), fill, dtype=torch.int64)
    mask = torch.arange(L) < lens[:, None]
    T[mask] = torch.as_tensor([t for p in paths for t in p], dtype=torch.int64)
    return T, lens


def levenshtein_batch(A: Sequence[Sequence[int]], B: Sequence[Sequence[int]]) -> Tensor:
    """Edit distances of the pairs (A[r], B[r]), (R,) int64, all pairs at once. Row i of the DP from row
    i − 1: t_j = min(D_{i−1,j} + 1, D_{i−1,j−1} + [a_i ≠ b_j]), D_{i,0} = i, then the insertions
    D_{ij} = min_{k ≤ j} (t_k + j − k) = j + cummin_k(t_k − k). D[len_a, len_b] is read per pair (padding
    never reaches it: entry (i, j) depends on prefixes only)."""
    if len(A) != len(B):
        raise ValueError(f"levenshtein_batch: {len(A)} first and {len(B)} second sequences")
    if not A:
        return torch.zeros(0, dtype=torch.int64)
    a, la = _pad(A, -1)
    b, lb = _pad(B, -2)
    R, Lb = b.shape
    j = torch.arange(Lb + 1, dtype=torch.int32)
    D = j.expand(R, Lb + 1).clone()  # int32: distances ≤ 2³¹
    out = torch.where(la == 0, lb, torch.zeros_like(lb))
    t = torch.empty_like(D)
    for i in range(1, int(la.max()) + 1):
        t[:, 0] = i  # D_{i,0} − 0
        torch.minimum(D[:, 1:] + 1, D[:, :-1] + (a[:, i - 1 : i] != b), out=t[:, 1:])
        t[:, 1:] -= j[1:]
        D = torch.cummin(t, dim=1).values.add_(j)
        hit = la == i
        if bool(hit.any()):
            out[hit] = D[hit].gather(1, lb[hit, None]).squeeze(1).long()
    return out


def pair_sample(M: int, max_pairs: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """(i, j) index pairs with i < j: all M(M−1)/2 when that is ≤ max_pairs, else max_pairs drawn
    uniformly (with replacement) from them with ``generator``."""
    n = M * (M - 1) // 2
    if n <= max_pairs:
        iu = torch.triu_indices(M, M, offset=1)
        return iu[0], iu[1]
    i = torch.randint(0, M, (max_pairs,), generator=generator)
    j = torch.randint(0, M - 1, (max_pairs,), generator=generator)
    j = j + (j >= i).long()  # uniform over j ≠ i
    return torch.minimum(i, j), torch.maximum(i, j)


def mean_edit_distance(paths: Sequence[Sequence[int]], max_pairs: int = 2048,
                       generator: torch.Generator | None = None) -> tuple[float, float]:
    """(mean raw edit distance, mean of d/max(len_i, len_j)) over pairs of distinct samples (all pairs, or
    ``max_pairs`` sampled ones). NaN for fewer than two samples; a pair of empty pathways counts 0."""
    if len(paths) < 2:
        return float("nan"), float("nan")
    i, j = pair_sample(len(paths), max_pairs, generator)
    A, B = [paths[k] for k in i.tolist()], [paths[k] for k in j.tolist()]
    d = levenshtein_batch(A, B).to(torch.float64)
    L = torch.as_tensor([max(len(x), len(y), 1) for x, y in zip(A, B)], dtype=torch.float64)
    return float(d.mean()), float((d / L).mean())


def unit_sets(layers: Sequence[Tensor], mass: float = MASS, top_k: int | None = None) -> Tensor:
    """Indicator (M, Σ_ℓ E_ℓ) of each sample's kept units over all layers."""
    parts = []
    for g in layers:
        order, n = kept_counts(g, mass, top_k)
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(g.shape[1], device=g.device).expand_as(order))
        parts.append(rank < n[:, None])
    return torch.cat(parts, 1)


def mean_jaccard_distance(S: Tensor) -> float:
    """Mean over pairs i < j of 1 − |S_i ∩ S_j|/|S_i ∪ S_j| for indicator rows S (M, E) (0 for two
    empty sets); NaN for M < 2."""
    M = S.shape[0]
    if M < 2:
        return float("nan")
    F = S.to(torch.float64)
    inter = F @ F.T
    size = F.sum(1)
    union = size[:, None] + size[None, :] - inter
    dist = torch.where(union > 0, 1 - inter / union.clamp_min(1), torch.zeros_like(inter))
    iu = torch.triu_indices(M, M, offset=1)
    return float(dist[iu[0], iu[1]].mean())


def consistency(cos: Tensor) -> Tensor:
    """C_i = 1 − mean_ℓ c_iℓ / max_ℓ c_iℓ for cosines c (M, L − 1) of consecutive layers, (M,)
    (the paper's formula; L − 1 = 1 gives C ≡ 0, so read the mean cosine as well)."""
    return 1 - cos.mean(1) / cos.max(1).values


def cosines(E1: Tensor, E2: Tensor) -> Tensor:
    """Row-wise cos(E1_i, E2_i) for (M, d) embeddings; 0 where a row is zero."""
    n = E1.norm(dim=1) * E2.norm(dim=1)
    return torch.where(n > 0, (E1 * E2).sum(1) / n.clamp_min(torch.finfo(E1.dtype).tiny), torch.zeros_like(n))


def mlp_layer_cosines(gates: Sequence[Tensor], weights: Sequence[Tensor]) -> Tensor:
    """Consecutive hidden layers of an MLP compared in layer ℓ+1's unit space: layer ℓ's normalised
    routing g_ℓ (M, N_ℓ) sent through |W_{ℓ+1}| (N_{ℓ+1}, N_ℓ) (where its mass flows) against g_{ℓ+1}
    (M, N_{ℓ+1}). Returns (M, L − 1); needs ≥ 2 hidden layers."""
    if len(gates) < 2:
        raise ValueError("mlp_layer_cosines: needs at least two hidden layers")
    cols = [cosines(g @ W.abs().T, h) for g, h, W in zip(gates[:-1], gates[1:], weights)]
    return torch.stack(cols, 1)


def memorised_from(losses: Tensor, eps: float, delta: float = 0.05) -> Tensor:
    """The paper's rule on per-sample losses (T checkpoints, M samples): t*_i = the first checkpoint from
    which every later one has ℓ ≤ ε and |ℓ − ℓ(T)| ≤ δ; −1 for samples never memorised. (M,) int64."""
    ok = (losses <= eps) & ((losses - losses[-1]).abs() <= delta)  # (T, M)
    # suffix-all: ok from t to the end ⇔ the count of failures in t..T−1 is zero
    fails_after = torch.flip(torch.cumsum(torch.flip((~ok).long(), [0]), 0), [0])
    good = fails_after == 0
    return torch.where(good.any(0), good.long().argmax(0), torch.full((losses.shape[1],), -1))


def effective_dimension(K: Tensor, lam: float) -> float:
    """Tr(K (K + λI)⁻¹) = Σ_j κ_j/(κ_j + λ) for a symmetric PSD K (P, P), λ > 0 (eigenvalues clipped at 0)."""
    if lam <= 0:
        raise ValueError(f"effective_dimension: lam = {lam!r} must be > 0")
    kappa = torch.linalg.eigvalsh(0.5 * (K + K.T).to(torch.float64)).clamp_min(0)
    return float((kappa / (kappa + lam)).sum())
