"""One-layer transformer of "Progress measures for grokking" (Nanda et al. 2023; paper §5.4, Fig 6b/12).

Tokens X (P, n) int64 (n = 3 for (a, b, '=')), vocabulary V, K output classes:
  x⁰ = W_E[X] + W_pos                                    (P, n, d)     learned token + position embeddings
  attention, H heads of width e, causal:  q, k, v = x⁰W_Q, x⁰W_K, x⁰W_V viewed (P, n, H, e);
      A_h = softmax(q_h k_hᵀ/√e + causal mask);  x¹ = x⁰ + concat_h(A_h v_h) W_O
  MLP:  x² = x¹ + act(x¹W_in + b_in) W_out + b_out      (act = ReLU; no LayerNorm anywhere)
  logits = x²[:, −1] W_U                                 (P, K): the last position only
Init (the paper's code): every weight ~ N(0, 1)/√d, except W_U ~ N(0, 1)/√V; biases 0.

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

    @classmethod
    def from_config(cls, cfg: Any, data: Any) -> Transformer:
        """Sizes from the config and the token dataset (``data.meta['vocab']``, ``data.classes``)."""

        vocab = (data.meta or {}).get("vocab") if data is not None else None
        if vocab is None or data.classes is None:
            raise ConfigError("model.name = 'transformer': needs a token task with classes "
                              "(task.name = modular, task.inputs = tokens)")
        d_head = cfg.d_head or cfg.d_model // cfg.n_heads
        return cls(int(vocab), int(data.classes), int(data.X_train.shape[1]), cfg.d_model, cfg.n_heads,
                   d_head, cfg.d_mlp, cfg.act)

    @property
    def trainable(self) -> tuple[str, ...]:
        return ("W_E", "W_pos", "W_Q", "W_K", "W_V", "W_O", "W_in", "b_in", "W_out", "b_out", "W_U")

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
        params = {}
        for name in self.trainable:
            if name.startswith("b_"):
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

    def _mlp(self, params: Params, x: Tensor) -> Tensor:
        return x + self._act(x @ params["W_in"] + params["b_in"]) @ params["W_out"] + params["b_out"]

    def apply(self, params: Params, X: Tensor) -> Tensor:
        """Logits at the last position, (P, K); X (P, n) int64."""
        x = self._embed(params, X)
        P = x.shape[0]
        k = self._heads(x, params["W_K"])  # (P, H, n, e)
        v = self._heads(x, params["W_V"])
        q = (x[:, -1] @ params["W_Q"]).view(P, self.n_heads, 1, self.d_head)  # (P, H, 1, e)
        attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.d_head), dim=-1)  # (P, H, 1, n)
        z = (attn @ v).reshape(P, self.n_heads * self.d_head)  # the last position attends to all
        r = x[:, -1] + z @ params["W_O"]
        return self._mlp(params, r) @ params["W_U"]

    def forward_all(self, params: Params, X: Tensor) -> Tensor:
        """Reference forward at every position with the causal mask: logits (P, n, K)."""
        x = self._embed(params, X)
        P, n = x.shape[:2]
        q, k, v = (self._heads(x, params[w]) for w in ("W_Q", "W_K", "W_V"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)  # (P, H, n, n)
        causal = torch.ones(n, n, dtype=torch.bool, device=x.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
        z = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(P, n, self.n_heads * self.d_head)
        x = x + z @ params["W_O"]
        return self._mlp(params, x) @ params["W_U"]


register_model("transformer", TransformerModel, lambda cfg, D, data: Transformer.from_config(cfg, data),
               lambda cfg: frozenset({"param_twin", "progress", "tokens"}))
