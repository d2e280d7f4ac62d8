"""Local complexity (Humayun, Balestriero & Baraniuk 2024, "Deep networks always grok"): how many ReLU
linear-region boundaries pass near a point, by the paper's cross-polytope method, layer by layer.

Around x ∈ R^D take k = P/2 orthonormal directions v_1..v_k (QR of a Gaussian D×k matrix, one draw per
point) and the P vertices V(x) = {x ± r·v_p}. Propagate every vertex through the network. Hidden unit j
of layer l *intersects* the neighbourhood when its pre-activation h_{l,j} = c_l w_j·a_l + b_j takes both
signs (or a zero) over the propagated vertices (optionally with the propagated centre x as well).

Exactness: h_{l,j} is affine in the layer's input a_l, and an affine function's extremes over a convex
polytope lie on its vertices, so "h_{l,j} changes sign over the propagated vertices" is exactly "unit j's
hyperplane meets the convex hull of the propagated vertices in layer l's input space". For the first
layer that hull is the cross-polytope x + r·conv{±v_p} itself, whose exact test is also the closed form
|h_{1,j}(x)| ≤ r·c_0·max_p |w_j·v_p| (tests/test_local_complexity.py checks both, and the deeper layers
against dense Monte-Carlo sampling of the neighbourhood).

LC_l(x) = number of intersecting units of layer l;  LC(x) = Σ_l LC_l(x).
Shapes: X (n, D) → per-layer counts (n, L), L = number of hidden layers.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

PIECEWISE_LINEAR = ("relu",)  # activations whose units cut the input space into linear regions


def hidden_preactivations(model: Any, params: dict[str, Tensor], X: Tensor) -> list[Tensor]:
    """h_{l+1} = c_l W_l a_l (+ b_l) for every hidden layer l (a_0 = X, a_l = φ(h_l)); list of (n, d_{l+1}).
    Needs a fully connected model with ``n_layers``, ``layer_scale(i)``, ``act``, ``bias`` and params
    W{i}, b{i} (models/mlp.py)."""
    pre, a = [], X
    for i in range(model.n_layers - 1):
        h = model.layer_scale(i) * (a @ params[f"W{i}"].T)
        if model.bias:
            h = h + params[f"b{i}"]
        pre.append(h)
        a = model.act(h)
    return pre


def frame_directions(n: int, D: int, k: int, generator: torch.Generator, dtype: torch.dtype = torch.float64,
                     device: torch.device | str = "cpu") -> Tensor:
    """n independent sets of k ≤ D orthonormal directions in R^D: (n, k, D), Q factors of Gaussian matrices."""
    if not 1 <= k <= D:
        raise ValueError(f"frame_directions: k = {k} directions must be in 1..D = {D} (vertices P = 2k ≤ 2D)")
    G = torch.randn(n, D, k, generator=generator, dtype=torch.float64)
    Q = torch.linalg.qr(G).Q  # (n, D, k), orthonormal columns
    return Q.transpose(1, 2).to(device=device, dtype=dtype)


def cross_polytope(X: Tensor, r: float, V: Tensor, centroid: bool = False) -> Tensor:
    """Vertices x ± r·v_p of each point's frame: X (n, D), V (n, k, D) → (n, 2k, D) (+1 centre row at
    index 0 when ``centroid``)."""
    offs = r * torch.cat([V, -V], dim=1)
    verts = X[:, None, :] + offs
    return torch.cat([X[:, None, :], verts], dim=1) if centroid else verts


def local_complexity(model: Any, params: dict[str, Tensor], X: Tensor, r: float, n_vertices: int,
                     generator: torch.Generator, centroid: bool = False, chunk: int = 4096) -> Tensor:
    """Per-layer count of hidden units whose boundary crosses each point's cross-polytope of radius r with
    ``n_vertices`` = 2k vertices (k = min(n_vertices // 2, D)): int64 (n, L). ``chunk`` points at a time."""
    n, D = X.shape
    k = min(max(n_vertices // 2, 1), D)
    V = frame_directions(n, D, k, generator, X.dtype, X.device)
    out = []
    with torch.no_grad():
        for s in range(0, n, chunk):
            verts = cross_polytope(X[s:s + chunk], r, V[s:s + chunk], centroid)  # (m, P, D)
            m, P = verts.shape[:2]
            hs = hidden_preactivations(model, params, verts.reshape(m * P, D))
            counts = []
            for h in hs:
                h = h.reshape(m, P, -1)
                crosses = (h.amax(dim=1) >= 0) & (h.amin(dim=1) <= 0)  # both signs, or a zero, on the hull
                counts.append(crosses.sum(dim=1))
            out.append(torch.stack(counts, dim=1))
    return torch.cat(out) if out else torch.zeros(0, len(hidden_preactivations(model, params, X[:1])),
                                                    dtype=torch.int64)


def random_points(X: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """n points uniform in the bounding box of X (n_X, D) (per-coordinate [min, max]): (n, D)."""
    lo, hi = X.amin(dim=0), X.amax(dim=0)
    U = torch.rand(n, X.shape[1], generator=generator, dtype=torch.float64).to(device=X.device, dtype=X.dtype)
    return lo + U * (hi - lo)
