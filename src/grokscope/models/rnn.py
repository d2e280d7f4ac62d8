"""Continuous-time rate RNN, discretised (Liu et al., ICLR 2024; reference neighbors.md §5).

    h_0 = 0,   h_{t+1} = (1 − dt/τ) h_t + (dt/τ) (W_rec φ(h_t) + W_in u_t [+ b_rec]),
    y_t = W_out φ(h_{t+1}) [+ b_out]                                  t = 0 … T − 1
Inputs X (P, T·n_in) are T input frames u_t ∈ R^{n_in} laid out time-major and flattened (so every
engine, batcher and probe sees the usual (P, ·) matrix); ``apply`` returns the decision logits
y_{T−1} (P, K), ``apply_sequence`` every y_t (P, T, K), ``states`` every rate φ(h_{t+1}) (P, T, N).
With dt = τ (the paper's default) the update is h_{t+1} = W_rec φ(h_t) + W_in u_t, i.e. the authors'
rates r = φ(h) obey r_{t+1} = φ(W_rec r_t + W_in u_t).
Init (the authors' code): W_rec = gain·N(0, 1)/√N (gain 1.25); W_in (N, n_in) and W_out (K, N) as
PyTorch's ``nn.Linear`` default U(±1/√fan_in); biases (off by default) start at 0. All trainable.
Functional: ``apply(params, X)`` has no state, so torch.func (grad, vmap, jacrev) works unchanged —
including ``vmap`` over a leading member axis of stacked params (an ensemble over seeds or inits).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from grokscope.config.neural_sections import RNNModel
from grokscope.config.sections import ConfigError
from grokscope.models.registry import register_model

Params = dict[str, Tensor]


@dataclass(frozen=True)
class RNN:
    """Sizes: inputs per frame n_in, frames T, hidden N, classes K."""

    n_in: int
    T: int
    N: int = 300
    K: int = 2
    tau: float = 100.0
    dt: float = 100.0
    activation: str = "relu"
    bias: bool = False
    gain: float = 1.25

    @classmethod
    def from_config(cls, cfg: RNNModel, data: Any) -> RNN:
        meta = (data.meta or {}) if data is not None else {}
        if data is not None and ("n_in" not in meta or "seq_len" not in meta or data.classes is None):
            raise ConfigError("model.name = 'rnn': needs a sequence task with classes (task.name = neuro or "
                              "seq_digits), whose data states n_in and seq_len")
        n_in, T = int(meta.get("n_in", 1)), int(meta.get("seq_len", 1))
        K = int(data.classes) if data is not None else 2
        return cls(n_in, T, cfg.N, K, cfg.tau, cfg.dt, cfg.activation, cfg.bias, cfg.gain)

    @property
    def a(self) -> float:
        """dt/τ, the discretisation factor."""
        return self.dt / self.tau

    @property
    def width(self) -> int:
        return self.N

    @property
    def trainable(self) -> tuple[str, ...]:
        return ("W_in", "W_rec", "W_out") + (("b_rec", "b_out") if self.bias else ())

    def init(self, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> Params:
        """W_in, W_rec, W_out drawn in that order in float64 from ``generator``, then cast."""
        f64 = torch.float64

        def uniform(m: int, n: int) -> Tensor:
            return (torch.rand(m, n, generator=generator, dtype=f64) * 2 - 1) / math.sqrt(n)

        params = {"W_in": uniform(self.N, self.n_in),
                  "W_rec": self.gain * torch.randn(self.N, self.N, generator=generator, dtype=f64) / math.sqrt(self.N),
                  "W_out": uniform(self.K, self.N)}
        if self.bias:
            params["b_rec"] = torch.zeros(self.N, dtype=f64)
            params["b_out"] = torch.zeros(self.K, dtype=f64)
        return {k: v.to(dtype) for k, v in params.items()}

    def act(self, h: Tensor) -> Tensor:
        return torch.relu(h) if self.activation == "relu" else torch.tanh(h)

    def frames(self, X: Tensor) -> Tensor:
        """X (P, T·n_in) → u (P, T, n_in)."""
        return X.reshape(X.shape[0], self.T, self.n_in)

    def states(self, params: Params, X: Tensor) -> Tensor:
        """Rates φ(h_{t+1}) for t = 0 … T − 1, (P, T, N)."""
        drive = self.frames(X).to(params["W_in"].dtype) @ params["W_in"].T  # (P, T, N): W_in u_t
        if self.bias:
            drive = drive + params["b_rec"]
        h = drive.new_zeros(X.shape[0], self.N)
        rates = []
        for t in range(self.T):
            h = (1 - self.a) * h + self.a * (self.act(h) @ params["W_rec"].T + drive[:, t])
            rates.append(self.act(h))
        return torch.stack(rates, dim=1)

    def apply_sequence(self, params: Params, X: Tensor) -> Tensor:
        """Outputs y_t at every step, (P, T, K)."""
        y = self.states(params, X) @ params["W_out"].T
        return y + params["b_out"] if self.bias else y

    def apply(self, params: Params, X: Tensor) -> Tensor:
        """Decision logits y_{T−1}, (P, K)."""
        return self.apply_sequence(params, X)[:, -1]

    def representation(self, params: Params, X: Tensor) -> Tensor:
        """Hidden rates at the decision step φ(h_T), (P, N): the K_R = H Hᵀ of the laziness measures."""
        return self.states(params, X)[:, -1]

    def tangent_outputs(self, params: Params, X: Tensor) -> Tensor:
        """The outputs the paper's tangent kernel stacks: every y_{t,k}, flattened (P, T·K)."""
        return self.apply_sequence(params, X).reshape(X.shape[0], -1)

    # -- the paper's tangent kernel restricted to W_rec, in structured form ----------------------------
    recurrent_param = "W_rec"

    def recurrent_tangent_factors(self, params: Params, X: Tensor) -> tuple[Tensor, Tensor]:
        """(A, G) with ∂y_{t,k}(x_b)/∂W_rec = Σ_s G[b, (t, k), s] ⊗ A[b, s]: A[b, s] = (dt/τ) φ(h_s)
        (n, T, N) and G[b, (t, k), s] = ∂y_{t,k}/∂h_{s+1} (n, T·K, T, N), zero for s > t; backward by
        ∂y/∂h_s = (1 − dt/τ) ∂y/∂h_{s+1} + (dt/τ) (∂y/∂h_{s+1} W_rec) ⊙ φ'(h_s). No biases enter."""
        a, W, n = self.a, params["W_rec"], X.shape[0]
        drive = self.frames(X).to(W.dtype) @ params["W_in"].T
        if self.bias:
            drive = drive + params["b_rec"]
        hs = [drive.new_zeros(n, self.N)]  # h_0 … h_T
        for t in range(self.T):
            hs.append((1 - a) * hs[-1] + a * (self.act(hs[-1]) @ W.T + drive[:, t]))
        H = torch.stack(hs, dim=1)  # (n, T + 1, N)
        dphi = (H > 0).to(W.dtype) if self.activation == "relu" else 1 - torch.tanh(H) ** 2
        A = a * self.act(H[:, :-1])
        G = H.new_zeros(n, self.T, self.K, self.T, self.N)
        for t in range(self.T):
            g = params["W_out"][None] * dphi[:, t + 1, None, :]  # ∂y_t/∂h_{t+1}, (n, K, N)
            for s in range(t, -1, -1):
                G[:, t, :, s] = g
                if s:
                    g = (1 - a) * g + a * (g @ W) * dphi[:, s, None, :]
        return A, G.reshape(n, self.T * self.K, self.T, self.N)


def _memory(cfg: Any) -> tuple[int, tuple[str, str]] | None:
    """6 parameter-sized buffers plus the BPTT graph: ≈ 4 (P_batch or P)·T·N activations."""
    m, t = cfg.model, cfg.task
    n = cfg.optim.batch_size or getattr(t, "n_train", 0)
    item = 8 if cfg.train.dtype == "float64" else 4
    need = item * (6 * m.N * m.N + 4 * max(n, 1) * 64 * m.N)
    return need, (f"model.N = {m.N} with {n} trials per step:", "reduce model.N or optim.batch_size")


register_model("rnn", RNNModel, lambda cfg, D, data: RNN.from_config(cfg, data),
               lambda cfg: frozenset({"ntk", "width", "batched"}), _memory)
