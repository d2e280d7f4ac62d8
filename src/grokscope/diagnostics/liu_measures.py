"""Laziness measures of Liu et al. (ICLR 2024; neighbors.md §5), pure functions of tensors and of a
model's functional apply, for any model, restricted to one named parameter W.

  weight change          ‖W_T − W_0‖_F
  alignment(K₀, K)       ⟨K₀, K⟩_F / (‖K₀‖_F ‖K‖_F)          (1: the kernel kept its shape)
  representation         RA = alignment(H₀H₀ᵀ, HHᵀ), H (n, N) the hidden rates at the decision step
  tangent kernel         K = J Jᵀ, J[(b, o), :] = ∂f_o(x_b)/∂W flattened, o over every output the model
                         stacks (the RNN: every time step × class, as in the paper); KA = alignment(K₀, K)
  sign similarity        fraction of hidden-rate entries whose sign is unchanged
  effective rank         exp(entropy of σ/Σσ) over W's singular values (Roy & Vetterli 2007)
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from grokscope.diagnostics.ntk import ntk
from grokscope.numerics.initialise import effective_rank as _erank

Params = dict[str, Tensor]


def weight_change(W: Tensor, W0: Tensor) -> float:
    """‖W − W₀‖_F (float64)."""
    return float(torch.linalg.norm((W.to(torch.float64) - W0.to(torch.float64)).reshape(-1)))


def alignment(K0: Tensor, K: Tensor) -> float:
    """⟨K₀, K⟩_F / (‖K₀‖_F ‖K‖_F), uncentred, in float64."""
    a, b = K0.to(torch.float64).reshape(-1), K.to(torch.float64).reshape(-1)
    return float(a @ b / (a.norm() * b.norm()))


def representation_alignment(H0: Tensor, H: Tensor) -> float:
    """RA between the representation kernels H₀H₀ᵀ and HHᵀ, H (n, N)."""
    H0, H = H0.to(torch.float64), H.to(torch.float64)
    return alignment(H0 @ H0.T, H @ H.T)


def sign_similarity(A0: Tensor, A: Tensor) -> float:
    """Fraction of entries of A with the sign of A₀ (ReLU rates: active/silent unchanged)."""
    return float((torch.sign(A0) == torch.sign(A)).to(torch.float64).mean())


def effective_rank(W: Tensor) -> float:
    """exp(entropy of the normalised singular values of W) (numerics/initialise.py's one copy)."""
    return _erank(torch.linalg.svdvals(W.detach().to(torch.float64)))


def stacked_outputs(model: Any) -> Any:
    """The outputs the tangent kernel stacks: ``model.tangent_outputs`` (the RNN: every step and class,
    (n, T·K)) where the model has it, else ``model.apply`` ((n,) or (n, K))."""
    return getattr(model, "tangent_outputs", model.apply)


def structured_tangent_kernel(A: Tensor, G: Tensor) -> Tensor:
    """K = J Jᵀ for J[(b, o)] = Σ_s G[b, o, s] ⊗ A[b, s] (A (n, T, N), G (n, O, T, N)) without forming J:
    K = Σ_{s,s'} (G_s G_{s'}ᵀ) ⊙ (A_s A_{s'}ᵀ) over rows (b, o), (n·O, n·O). The (s', s) term is the
    transpose of the (s, s') one, so only s ≤ s' is computed; A_s A_{s'}ᵀ is formed per trial (n, n)
    and repeated over each trial's O rows."""
    n, O, T, _ = G.shape
    Gt = G.reshape(n * O, T, -1).transpose(0, 1).contiguous()  # (T, n·O, N)
    K = G.new_zeros(n * O, n * O)
    for s in range(T):
        for r in range(s, T):
            term = (Gt[s] @ Gt[r].T).mul_((A[:, s] @ A[:, r].T).repeat_interleave(O, 0).repeat_interleave(O, 1))
            K += term if r == s else term + term.T
    return K


def tangent_kernel(model: Any, params: Params, name: str, X: Tensor, method: str = "auto") -> Tensor:
    """K = J Jᵀ restricted to ``params[name]``, (n·O, n·O) with rows (trial b, output o), o over
    :func:`stacked_outputs`. method "structured" (auto where the model has ``recurrent_tangent_factors``
    for ``name``: the RNN's W_rec) or "generic": per-example Jacobians by torch.func
    (``diagnostics.ntk`` generic path); neither loops over outputs."""
    if method not in ("auto", "structured", "generic"):
        raise ValueError(f"tangent_kernel: method = {method!r}; allowed are auto, structured, generic")
    has = hasattr(model, "recurrent_tangent_factors") and getattr(model, "recurrent_param", None) == name
    if method == "structured" and not has:
        raise ValueError(f"tangent_kernel: no structured form for {name!r} of {type(model).__name__}")
    if method != "generic" and has:
        return structured_tangent_kernel(*model.recurrent_tangent_factors(params, X))
    K = ntk(stacked_outputs(model), params, X, alpha=1.0, method="generic", trainable=(name,), outputs="full")
    if K.ndim == 2:  # scalar outputs
        return K
    n, O = K.shape[0], K.shape[2]
    return K.permute(0, 2, 1, 3).reshape(n * O, n * O)


def representation(model: Any, params: Params, X: Tensor) -> Tensor:
    """Hidden rates at the decision step (n, N): ``model.representation`` where the model has it; else
    the input of the model's last weight matrix, the A factor of its ``ntk_layers`` (an MLP's last
    hidden layer c·φ(h_{L−1}); the constant c cancels in RA)."""
    if hasattr(model, "representation"):
        return model.representation(params, X)
    if hasattr(model, "ntk_layers"):
        last = [k for k in model.trainable if params[k].ndim == 2][-1]
        return model.ntk_layers(params, X, (last,))[0][0]
    raise ValueError(f"representation: {type(model).__name__} has neither representation() nor ntk_layers()")
