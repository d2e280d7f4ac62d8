"""One-layer transformer of "Progress measures for grokking" (Nanda et al. 2023; paper §5.4, Fig 6b/12).

Tokens X (P, n) int64 (n = 3 for (a, b, '=')), vocabulary V, K output classes:
  x⁰ = W_E[X] + W_pos                                    (P, n, d)     learned token + position embeddings
  attention, H heads of width e, causal:  q, k, v = x⁰W_Q, x⁰W_K, x⁰W_V viewed (P, n, H, e);
      A_h = softmax(q_h k_hᵀ/√e + causal mask);  x¹ = x⁰ + concat_h(A_h v_h) W_O
  MLP:  x² = x¹ + act(x¹W_in + b_in) W_out + b_out      (act = ReLU; no LayerNorm anywhere)
  logits = x²[:, −1] W_U                                 (P, K): the last position only
Init (the paper's code): every weight ~ N(0, 1)/√d, except W_U ~ N(0, 1)/√V; biases 0.

Options (both off by default; off, the parameters, their draws and every result are unchanged):
  layernorm  pre:  a = LN₁(x⁰) feeds attention, x² = x¹ + MLP(LN₂(x¹))   (nn.TransformerEncoderLayer
                   with norm_first = True, no dropout, no attention biases)
             post: x¹ = LN₁(x⁰ + attn(x⁰)), x² = LN₂(x¹ + MLP(x¹))  (its default, Prieto et al.'s setting)
             LN(x) = γ ⊙ (x − mean)/√(var + 1e-5) + b per position; γ = 1, b = 0 at init
  moe_experts = E > 0: the MLP becomes a mixture of E expert MLPs of width m (moe_d_expert):
      p = softmax(r W_R) (P, E) the router, top-k of p renormalised to gates G (zero elsewhere),
      MLP(r) = Σ_e G_e · act(r W_in_e[e] + b_in_e[e]) W_out_e[e] + b_out   (the experts are computed densely)

Functional: ``init(generator, dtype) -> params`` and ``apply(params, X) -> (P, K)``, no hand
gradients (the network engine uses autograd for it). ``apply`` computes only what reaches the last
position — keys/values at every position, the query, attention output and MLP at the last one; with
one layer that is exact. :meth:`forward_all` is the plain every-position forward (the reference it is
tested against, and where causality is visible).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from grokscope.config import ConfigError, TransformerModel
from grokscope.models.registry import register_model

Params = dict[str, Tensor]


@dataclass(frozen=True)
class Transformer:
    """Sizes: vocab V, classes K, n_ctx n, d_model d, n_heads H × d_head e, d_mlp."""

    vocab: int
    classes: int
    n_ctx: int = 3
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    act: str = "relu"
    layernorm: str = "none"
    moe_experts: int = 0
    moe_top_k: int = 2
    moe_d_expert: int = 0

    @classmethod
    def from_config(cls, cfg: Any, data: Any) -> Transformer:
        """Sizes from the config and the token dataset (``data.meta['vocab']``, ``data.classes``)."""

        vocab = (data.meta or {}).get("vocab") if data is not None else None
        if vocab is None or data.classes is None:
            raise ConfigError("model.name = 'transformer': needs a token task with classes "
                              "(task.name = modular, task.inputs = tokens)")
        d_head = cfg.d_head or cfg.d_model // cfg.n_heads
        E = cfg.moe_experts
        return cls(int(vocab), int(data.classes), int(data.X_train.shape[1]), cfg.d_model, cfg.n_heads,
                   d_head, cfg.d_mlp, cfg.act, cfg.layernorm, E, cfg.moe_top_k,
                   (cfg.moe_d_expert or max(cfg.d_mlp // E, 1)) if E else 0)

    @property
    def trainable(self) -> tuple[str, ...]:
        mlp = ("W_R", "W_in_e", "b_in_e", "W_out_e") if self.moe_experts else ("W_in", "b_in", "W_out")
        ln = ("ln1_g", "ln1_b", "ln2_g", "ln2_b") if self.layernorm != "none" else ()
        return ("W_E", "W_pos", "W_Q", "W_K", "W_V", "W_O", *mlp, "b_out", "W_U", *ln)

    @property
    def width(self) -> int:
        """d_model; only the committee's 'paper' learning-rate rule uses a width, and the config
        refuses that rule for this model."""
        return self.d_model

    def init(self, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> Params:
        """Weights drawn in float64 in the order of ``trainable`` from ``generator``, then cast."""
        d, he, V = self.d_model, self.n_heads * self.d_head, self.vocab
        shapes = {"W_E": (V, d), "W_pos": (self.n_ctx, d), "W_Q": (d, he), "W_K": (d, he),
                  "W_V": (d, he), "W_O": (he, d), "W_in": (d, self.d_mlp), "b_in": (self.d_mlp,),
                  "W_out": (self.d_mlp, d), "b_out": (d,), "W_U": (d, self.classes)}
        E, m = self.moe_experts, self.moe_d_expert
        shapes.update({"W_R": (d, E), "W_in_e": (E, d, m), "b_in_e": (E, m), "W_out_e": (E, m, d),
                       "ln1_g": (d,), "ln1_b": (d,), "ln2_g": (d,), "ln2_b": (d,)})
        params = {}
        for name in self.trainable:
            if name.startswith("ln"):
                fill = 1.0 if name.endswith("_g") else 0.0
                params[name] = torch.full(shapes[name], fill, dtype=torch.float64)
            elif name.startswith("b_"):
                params[name] = torch.zeros(shapes[name], dtype=torch.float64)
            else:
                scale = 1.0 / math.sqrt(V if name == "W_U" else d)
                params[name] = scale * torch.randn(shapes[name], generator=generator, dtype=torch.float64)
        return {k: v.to(dtype) for k, v in params.items()}

    # -- forward ---------------------------------------------------------------------------------
    def _act(self, h: Tensor) -> Tensor:
        return torch.relu(h) if self.act == "relu" else torch.nn.functional.gelu(h)

    def _embed(self, params: Params, X: Tensor) -> Tensor:
        """x⁰ = W_E[X] + W_pos, (P, n, d)."""
        if X.dtype.is_floating_point:
            raise TypeError(f"transformer: X must hold integer tokens, got {X.dtype} (use task.inputs = tokens)")
        return torch.nn.functional.embedding(X, params["W_E"]) + params["W_pos"][: X.shape[1]]

    def _heads(self, x: Tensor, W: Tensor) -> Tensor:
        """x (P, n, d) @ W (d, H·e) viewed (P, H, n, e)."""
        P, n = x.shape[:2]
        return (x @ W).view(P, n, self.n_heads, self.d_head).transpose(1, 2)

    def _ln(self, params: Params, x: Tensor, i: int) -> Tensor:
        return torch.nn.functional.layer_norm(x, x.shape[-1:], params[f"ln{i}_g"], params[f"ln{i}_b"], 1e-5)

    def router(self, params: Params, x: Tensor) -> Tensor:
        """Router probabilities softmax(x W_R), (..., E)."""
        return torch.softmax(x @ params["W_R"], dim=-1)

    def gates(self, probs: Tensor) -> Tensor:
        """Top-k of the router probabilities renormalised to sum 1, zeros elsewhere, (..., E)."""
        top, idx = probs.topk(self.moe_top_k, dim=-1)
        return torch.zeros_like(probs).scatter(-1, idx, top / top.sum(-1, keepdim=True))

    def _ff(self, params: Params, x: Tensor) -> Tensor:
        """The MLP block without its residual: dense, or the mixture of experts, (..., d)."""
        if not self.moe_experts:
            return self._act(x @ params["W_in"] + params["b_in"]) @ params["W_out"] + params["b_out"]
        h = self._act(torch.einsum("...d,edm->...em", x, params["W_in_e"]) + params["b_in_e"])
        y = torch.einsum("...em,emd->...ed", h, params["W_out_e"])  # every expert's output
        return torch.einsum("...e,...ed->...d", self.gates(self.router(params, x)), y) + params["b_out"]

    def _mlp(self, params: Params, x: Tensor) -> Tensor:
        """x + MLP(x) (pre-norm: x + MLP(LN₂(x)); post-norm: LN₂(x + MLP(x)))."""
        if self.layernorm == "pre":
            return x + self._ff(params, self._ln(params, x, 2))
        if self.layernorm == "post":
            return self._ln(params, x + self._ff(params, x), 2)
        if self.moe_experts:
            return x + self._ff(params, x)
        return x + self._act(x @ params["W_in"] + params["b_in"]) @ params["W_out"] + params["b_out"]

    def mlp_input(self, params: Params, X: Tensor) -> Tensor:
        """What the MLP block reads at the last position, (P, d) (after LN₂ for pre-norm)."""
        x = self._embed(params, X)
        P = x.shape[0]
        a = self._ln(params, x, 1) if self.layernorm == "pre" else x
        k = self._heads(a, params["W_K"])  # (P, H, n, e)
        v = self._heads(a, params["W_V"])
        q = (a[:, -1] @ params["W_Q"]).view(P, self.n_heads, 1, self.d_head)  # (P, H, 1, e)
        attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.d_head), dim=-1)  # (P, H, 1, n)
        z = (attn @ v).reshape(P, self.n_heads * self.d_head)  # the last position attends to all
        r = x[:, -1] + z @ params["W_O"]
        if self.layernorm == "post":
            r = self._ln(params, r, 1)
        return r

    def apply(self, params: Params, X: Tensor) -> Tensor:
        """Logits at the last position, (P, K); X (P, n) int64."""
        return self._mlp(params, self.mlp_input(params, X)) @ params["W_U"]

    def hidden_units(self, params: Params, X: Tensor) -> Tensor:
        """The dense MLP's hidden activations act(r W_in + b_in) at the last position, (P, d_mlp)."""
        r = self.mlp_input(params, X)
        if self.layernorm == "pre":
            r = self._ln(params, r, 2)
        return self._act(r @ params["W_in"] + params["b_in"])

    def routing(self, params: Params, X: Tensor) -> Tensor:
        """The MoE router's probabilities at the last ('=') position, (P, E)."""
        r = self.mlp_input(params, X)
        return self.router(params, self._ln(params, r, 2) if self.layernorm == "pre" else r)

    def forward_all(self, params: Params, X: Tensor) -> Tensor:
        """Reference forward at every position with the causal mask: logits (P, n, K)."""
        x = self._embed(params, X)
        P, n = x.shape[:2]
        a = self._ln(params, x, 1) if self.layernorm == "pre" else x
        q, k, v = (self._heads(a, params[w]) for w in ("W_Q", "W_K", "W_V"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)  # (P, H, n, n)
        causal = torch.ones(n, n, dtype=torch.bool, device=x.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
        z = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(P, n, self.n_heads * self.d_head)
        x = x + z @ params["W_O"]
        if self.layernorm == "post":
            x = self._ln(params, x, 1)
        return self._mlp(params, x) @ params["W_U"]


register_model("transformer", TransformerModel, lambda cfg, D, data: Transformer.from_config(cfg, data),
               lambda cfg: frozenset({"param_twin", "progress", "tokens"}))
