"""Empirical neural tangent kernel K(x, x') = ∇_θ f̃(x)·∇_θ f̃(x') over the trainable parameters.

f̃ = α·f(θ) or α·(f(θ) − f(θ₀)): centring subtracts a θ-independent function, so both have the
same NTK, K = α² Σ_p ∂_p f(x) ∂_p f(x'). Shapes: X1 (n1, D), X2 (n2, D) → K (n1, n2), computed in
the promoted dtype of the inputs and parameters (float64 by default in this package).

Paths (``method``)
  structured  never forms the Jacobian. Where the parameters are linear layers h_l = W_l a_l,
              ∂f/∂W_l = g_l a_lᵀ with a_l the layer input and g_l = ∂f/∂h_l, so
                  K = Σ_l (A_l A_lᵀ) ⊙ (G_l G_lᵀ)                   (:func:`layer_gram`)
              with A_l (n, d_in) the inputs and G_l (n, d_out) the back-propagated gradients.
              Committee f = (1/N) Σ_i a_i φ(w_i·x), h = XWᵀ (n, N):
                  W-part  A = X, G = (α/N) a ⊙ φ'(h):  (α/N)² (x·x') Σ_i a_i² φ'(h_i) φ'(h'_i)
                  a-part  A = φ(h), G = α/N (trained readouts only):  (α/N)² Σ_i φ(h_i) φ(h'_i)
              With φ' affine (quadratic φ, Hermite k = 2: φ'(h) = 1 + εh) the W-part closes in D:
                  (α²/N) (x·x') [ā₂ + ε w̄₂·(x + x') + ε² xᵀM₂x'] = (α²/N) (x·x') zᵀBz'
                  z = (1, x), B = [[ā₂, εw̄₂ᵀ], [εw̄₂, ε²M₂]], ā₂ = mean(a²), w̄₂ = Wᵀa²/N,
                  M₂ = Wᵀdiag(a²)W/N (for a = 1 the paper's w̄, M; §3.1 of the reference).
              It costs ≈ 2·n1·n2·D flops against n1·n2·(D + N) for the Gram form, so it is used
              when D < N. The closed form lives in :mod:`grokscope.theory.ntk_closed_form` (one copy,
              shared with the reduced engine and the kernel-limit theory). Other models join by exposing
              ``ntk_layers(params, X, trainable) -> [(A_l, G_l), ...]`` (G_l = ∂f/∂h_l, no α).
  generic     torch.func: per-example Jacobians ``vmap(jacrev)`` of apply over the trainable
              params, contracted K = J1 J2ᵀ, chunked over points so that one Jacobian block holds
              about ``max_bytes``; works for any functional ``apply(params, X)``.
  auto        structured where available, else generic.

Multi-output models (apply → (n, K), generic path only): ``outputs="trace"`` returns
Σ_k ∇f_k(x)·∇f_k(x') (n1, n2); ``outputs="full"`` returns the per-output block (n1, n2, K, K).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from grokscope.models.committee import Committee
from grokscope.theory.ntk_closed_form import closed_form_ntk, moment_kernel, weight_moment_matrix

__all__ = ["NTKBlocks", "closed_form_ntk", "committee_layers", "layer_gram", "ntk", "ntk_blocks"]

Params = dict[str, Tensor]
Layers = list[tuple[Tensor, Tensor]]
METHODS = ("auto", "structured", "generic")
MAX_BYTES = 2**28  # one per-example Jacobian block in the generic path (256 MiB)


def layer_gram(layers1: Layers, layers2: Layers | None = None) -> Tensor:
    """K = Σ_l (A1_l A2_lᵀ) ⊙ (G1_l G2_lᵀ), the NTK of a scalar output through linear layers.

    Each layer is (A_l (n, d_in), G_l (n, d_out) or (n,)): the layer's inputs and the gradient of
    the scalar output w.r.t. its pre-activations h_l = W_l a_l (a bias is a layer with A_l = 1,
    shape (n, 1)). ``layers2=None`` means the symmetric block of ``layers1``. Returns (n1, n2).
    """
    layers2 = layers1 if layers2 is None else layers2
    if len(layers1) != len(layers2) or not layers1:
        raise ValueError(f"layer_gram: got {len(layers1)} and {len(layers2)} layers; "
                         "need the same number ≥ 1")
    K: Tensor | None = None
    for (A1, G1), (A2, G2) in zip(layers1, layers2):
        G1 = G1[:, None] if G1.dim() == 1 else G1
        G2 = G2[:, None] if G2.dim() == 1 else G2
        term = (A1 @ A2.T).mul_(G1 @ G2.T)
        K = term if K is None else K.add_(term)
    assert K is not None
    return K


def committee_layers(model: Committee, params: Params, X: Tensor, trainable: Sequence[str],
                     alpha: float = 1.0) -> Layers:
    """(A, G) pairs of the committee: W-layer (X, (α/N) a ⊙ φ'(XWᵀ)), a-layer (φ(XWᵀ), α/N)."""
    W, a = params["W"], params["a"]
    H = X @ W.T
    layers: Layers = []
    if "W" in trainable:
        layers.append((X, model.act_grad(H) * (a * (alpha / model.N))))
    if "a" in trainable:
        layers.append((model.act(H), torch.full((X.shape[0], 1), alpha / model.N, dtype=H.dtype,
                                                device=H.device)))
    return layers


def _affine_grad(model: Committee) -> bool:
    """φ'(h) = 1 + εh exactly (quadratic φ, or Hermite with k = 2)."""
    return model.affine_grad


def _committee_closed_form(model: Committee, params: Params, X1: Tensor, X2: Tensor | None,
                           alpha: float) -> Tensor:
    """W-part for affine φ': (X1X2ᵀ) ⊙ (Z1 B Z2ᵀ), z = (1, x) (n, D+1),
    B = (α²/N)·[[ā₂, εw̄₂ᵀ], [εw̄₂, ε²M₂]] (D+1, D+1) — :mod:`grokscope.theory.ntk_closed_form`."""
    B = weight_moment_matrix(params["W"], params["a"], model.eps, alpha, model.N)
    return moment_kernel(B, X1, X2)


def _committee_ntk(model: Committee, params: Params, X1: Tensor, X2: Tensor | None, alpha: float,
                   trainable: Sequence[str], form: str = "auto") -> Tensor:
    """Committee NTK; ``form`` ∈ {auto, closed, gram} picks the W-part formula (closed needs affine φ')."""
    use_closed = form == "closed" or (form == "auto" and _affine_grad(model) and model.D < model.N)
    if use_closed and not _affine_grad(model):
        raise ValueError("ntk: the closed form needs φ' affine (quadratic or hermite k = 2), "
                         f"got phi = {model.phi!r}, k = {model.k}")
    if not use_closed:
        L1 = committee_layers(model, params, X1, trainable, alpha)
        L2 = None if X2 is None else committee_layers(model, params, X2, trainable, alpha)
        return layer_gram(L1, L2)
    K = _committee_closed_form(model, params, X1, X2, alpha)
    if "a" in trainable:
        rest = [t for t in trainable if t != "W"]
        L1 = committee_layers(model, params, X1, rest, alpha)
        L2 = None if X2 is None else committee_layers(model, params, X2, rest, alpha)
        K.add_(layer_gram(L1, L2))
    return K


# -- generic path: torch.func per-example Jacobians ------------------------------------------------
def _apply_fn(model: Any) -> Callable[[Params, Tensor], Tensor]:
    if hasattr(model, "apply"):
        return model.apply
    if callable(model):
        return model
    raise TypeError("ntk: model must have apply(params, X) or be such a callable, "
                    f"got {type(model).__name__}")


def _generic(apply: Callable[[Params, Tensor], Tensor], params: Params, X1: Tensor, X2: Tensor | None,
             alpha: float, trainable: Sequence[str], chunk: int | None, outputs: str) -> Tensor:
    """α² J1 J2ᵀ with J the per-example Jacobian (n, n_out, n_params), built chunk by chunk."""
    from torch.func import jacrev, vmap

    fixed = {k: v for k, v in params.items() if k not in trainable}
    tp = {k: params[k] for k in trainable}

    def f_one(p: Params, x: Tensor) -> Tensor:
        return apply({**fixed, **p}, x.unsqueeze(0))[0]  # () or (K,)

    with torch.no_grad():
        out_shape = tuple(apply(params, X1[:1]).shape[1:])
    if len(out_shape) > 1:
        raise ValueError(f"ntk: outputs of shape {out_shape} per example; only scalar or vector outputs")
    n_out = out_shape[0] if out_shape else 1
    n_par = sum(int(v.numel()) for v in tp.values())
    jac = vmap(jacrev(f_one), in_dims=(None, 0))

    def J(X: Tensor) -> Tensor:  # (c, n_out, n_par)
        j = jac(tp, X)
        return torch.cat([j[k].reshape(X.shape[0], n_out, -1) for k in trainable], dim=-1)

    dtype = torch.promote_types(X1.dtype, next(iter(tp.values())).dtype)
    if chunk is None:
        chunk = max(1, MAX_BYTES // (n_out * n_par * torch.finfo(dtype).bits // 8))
    sym = X2 is None
    X2_ = X1 if sym else X2
    n1, n2 = X1.shape[0], X2_.shape[0]
    full = outputs == "full" and n_out > 1
    K = torch.empty((n1, n2, n_out, n_out) if full else (n1, n2), dtype=dtype, device=X1.device)
    for i in range(0, n1, chunk):
        Ji = J(X1[i:i + chunk])
        for j in range(i if sym else 0, n2, chunk):
            Jj = Ji if (sym and j == i) else J(X2_[j:j + chunk])
            if full:
                blk = torch.einsum("akp,blp->abkl", Ji, Jj)
            else:
                blk = Ji.reshape(Ji.shape[0], -1) @ Jj.reshape(Jj.shape[0], -1).T
            K[i:i + chunk, j:j + chunk] = blk
            if sym and j != i:
                K[j:j + chunk, i:i + chunk] = blk.transpose(0, 1).transpose(-1, -2) if full else blk.T
    return K.mul_(alpha**2)


# -- public API ------------------------------------------------------------------------------------
def ntk(model: Any, params: Params, X1: Tensor, X2: Tensor | None = None, *, alpha: float,
        method: str = "auto", trainable: Sequence[str] | None = None, chunk: int | None = None,
        outputs: str = "trace") -> Tensor:
    """Empirical NTK of f̃ = α·f(θ) (centred or not): K[μ, ν] = α² ∇_θ f(x1_μ)·∇_θ f(x2_ν).

    model: a :class:`Committee`, an object with ``apply(params, X)`` (optionally ``ntk_layers``),
    or a bare ``apply`` callable. params: dict of tensors. X1 (n1, D); X2 (n2, D) or None for the
    symmetric block K(X1, X1) (computed once). trainable: parameter names to differentiate
    (default ``model.trainable``, else all). chunk: points per Jacobian block in the generic path
    (default: ≈ 256 MiB per block). outputs: "trace" | "full" for vector outputs (module doc).
    Returns (n1, n2), or (n1, n2, K, K) for ``outputs="full"``.
    """
    if method not in METHODS:
        raise ValueError(f"ntk: method = {method!r}; allowed are {', '.join(METHODS)}")
    if outputs not in ("trace", "full"):
        raise ValueError(f"ntk: outputs = {outputs!r}; allowed are trace, full")
    if trainable is None:
        trainable = tuple(getattr(model, "trainable", None) or params.keys())
    trainable = tuple(trainable)
    missing = [k for k in trainable if k not in params]
    if missing or not trainable:
        raise ValueError(f"ntk: trainable = {trainable} must be a non-empty subset of params {tuple(params)}")
    structured = isinstance(model, Committee) or hasattr(model, "ntk_layers")
    if method == "structured" and not structured:
        raise ValueError(f"ntk: method = 'structured' needs a Committee or a model with ntk_layers(); "
                         f"got {type(model).__name__} (use method='generic')")
    if outputs == "full" and structured and not isinstance(model, Committee):
        structured = False  # ntk_layers give the output-trace kernel only
    if method == "generic" or not structured:
        return _generic(_apply_fn(model), params, X1, X2, alpha, trainable, chunk, outputs)
    if isinstance(model, Committee):
        return _committee_ntk(model, params, X1, X2, alpha, trainable)
    L1 = model.ntk_layers(params, X1, trainable)
    L2 = None if X2 is None else model.ntk_layers(params, X2, trainable)
    return layer_gram(L1, L2).mul_(alpha**2)


class NTKBlocks(NamedTuple):
    """train (P, P), test_train (P_test, P), test (P_test, P_test)."""

    train: Tensor
    test_train: Tensor
    test: Tensor


def ntk_blocks(model: Any, params: Params, X_train: Tensor, X_test: Tensor, *, alpha: float,
               **kwargs: Any) -> NTKBlocks:
    """The three NTK blocks from one symmetric call on [X_train; X_test] (kwargs as :func:`ntk`)."""
    P = X_train.shape[0]
    K = ntk(model, params, torch.cat([X_train, X_test]), None, alpha=alpha, **kwargs)
    return NTKBlocks(K[:P, :P], K[P:, :P], K[P:, P:])
