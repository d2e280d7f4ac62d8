"""General fully connected network, functional (paper §5.1, §5.3, §5.5 architectures).

    h_1 = c_0 W_0 x + b_0,   h_{l+1} = c_l W_l φ(h_l) + b_l,   f(x) = out_scale · h_L
W_l (d_{l+1}, d_l), b_l (d_{l+1},) (only with ``bias``); d_0 = D, d_L = K outputs; f (P, K), or (P,) for a
scalar-output net (K = None). φ: relu, tanh, quadratic h + (ε/2)h², square h², linear h.
Forward normalisation c_l (``norm``): none → 1; ntk → 1/√d_l; paper → 1/√d_l for the hidden layers
and 1/d_l for the readout, exactly the authors' MNIST code (h = W₀x/√784, W_l relu(h)/√200,
f = W_out relu(h)/200). Init (``init``, all scaled by σ): normal N(0,1); lecun N(0,1)/√d_l; kaiming
N(0,1)·√(2/d_l) (the paper's MNIST "Kaiming × scale"); torch_default U(±1/√d_l) for weights and
biases (PyTorch's ``nn.Linear`` default, the teacher–student task). Biases start at 0 except for
torch_default. Every parameter is trainable. Gradients are autograd (``torch.autograd``), exposed
through ``forward``/``vjp`` so the network engine's analytic path works unchanged.

The Fig 2 modular MLP Linear(D,N,no bias) → h² → Linear(N,p,no bias), N(0,1) weights, output factor
1/(DN): ``MLP(D, [N], p, activation="square", init="normal", norm="none", out_scale=1/(D*N))``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from grokscope.config import MLPModel
from grokscope.models.registry import output_width, register_model

Params = dict[str, Tensor]
ACTIVATIONS = ("relu", "tanh", "quadratic", "square", "linear")
INITS = ("normal", "lecun", "kaiming", "torch_default")
NORMS = ("none", "ntk", "paper")


@dataclass(frozen=True)
class MLP:
    D: int
    hidden: tuple[int, ...]
    K: int | None = None  # None: scalar output (P,)
    activation: str = "relu"
    eps: float = 1.0
    bias: bool = False
    init_kind: str = "kaiming"
    sigma: float = 1.0
    norm: str = "none"
    out_scale: float = 1.0

    def __post_init__(self) -> None:
        for key, val, allowed in (("activation", self.activation, ACTIVATIONS), ("init", self.init_kind, INITS),
                                  ("norm", self.norm, NORMS)):
            if val not in allowed:
                raise ValueError(f"MLP {key} = {val!r}: allowed are {', '.join(allowed)}")

    @classmethod
    def from_config(cls, cfg, D: int, K: int | None) -> MLP:
        return cls(D, tuple(cfg.hidden), K, cfg.activation, cfg.eps, cfg.bias, cfg.init, cfg.sigma, cfg.norm,
                   cfg.out_scale * cfg.readout_alpha)  # readout_alpha ≠ 1: scaling.alpha_convention paper-code

    @property
    def dims(self) -> tuple[int, ...]:
        """(d_0 = D, hidden..., d_L = K or 1)."""
        return (self.D, *self.hidden, self.K or 1)

    @property
    def n_layers(self) -> int:
        return len(self.dims) - 1

    @property
    def width(self) -> int:
        """Last hidden width: the N of the paper's η = η₀·N/α² rule (1 for a net without hidden layers)."""
        return self.hidden[-1] if self.hidden else 1

    @property
    def trainable(self) -> tuple[str, ...]:
        names = [f"W{i}" for i in range(self.n_layers)]
        if self.bias:
            names += [f"b{i}" for i in range(self.n_layers)]
        return tuple(names)

    def layer_scale(self, i: int) -> float:
        """c_i, the forward factor of layer i (fan-in d_i)."""
        fan_in = self.dims[i]
        if self.norm == "none":
            return 1.0
        if self.norm == "paper" and i == self.n_layers - 1:
            return 1.0 / fan_in
        return 1.0 / math.sqrt(fan_in)

    def init(self, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> Params:
        """W_i (d_{i+1}, d_i) then b_i, drawn in layer order from ``generator`` in float64, then cast."""
        params: Params = {}
        for i in range(self.n_layers):
            fan_in, fan_out = self.dims[i], self.dims[i + 1]
            if self.init_kind == "torch_default":
                bound = 1.0 / math.sqrt(fan_in)
                W = (torch.rand(fan_out, fan_in, generator=generator, dtype=torch.float64) * 2 - 1) * bound
                b = (torch.rand(fan_out, generator=generator, dtype=torch.float64) * 2 - 1) * bound
            else:
                gain = {"normal": 1.0, "lecun": 1.0 / math.sqrt(fan_in),
                        "kaiming": math.sqrt(2.0 / fan_in)}[self.init_kind]
                W = torch.randn(fan_out, fan_in, generator=generator, dtype=torch.float64) * gain
                b = torch.zeros(fan_out, dtype=torch.float64)
            params[f"W{i}"] = (self.sigma * W).to(dtype)
            if self.bias:
                params[f"b{i}"] = (self.sigma * b).to(dtype)
        return params

    def act(self, h: Tensor) -> Tensor:
        if self.activation == "relu":
            return torch.relu(h)
        if self.activation == "tanh":
            return torch.tanh(h)
        if self.activation == "quadratic":
            return h + 0.5 * self.eps * h * h
        if self.activation == "square":
            return h * h
        return h

    def act_grad(self, h: Tensor) -> Tensor:
        """φ'(h), for the structured NTK."""
        if self.activation == "relu":
            return (h > 0).to(h.dtype)
        if self.activation == "tanh":
            return 1.0 - torch.tanh(h) ** 2
        if self.activation == "quadratic":
            return 1.0 + self.eps * h
        if self.activation == "square":
            return 2.0 * h
        return torch.ones_like(h)

    def _layers(self, params: Params, X: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Layer inputs a_i (a_0 = X, a_i = φ(h_i)) and pre-activations h_{i+1} = c_i W_i a_i + b_i."""
        inputs, pre = [], []
        a = X
        for i in range(self.n_layers):
            inputs.append(a)
            h = self.layer_scale(i) * (a @ params[f"W{i}"].T)
            if self.bias:
                h = h + params[f"b{i}"]
            pre.append(h)
            a = self.act(h)
        return inputs, pre

    def apply(self, params: Params, X: Tensor) -> Tensor:
        """f(X) = out_scale · h_L: (P, K), or (P,) for a scalar-output net."""
        h = self._layers(params, X)[1][-1] * self.out_scale
        return h if self.K is not None else h[:, 0]

    # -- the network engine's analytic interface, backed by autograd ---------------------------------
    def forward(self, params: Params, X: Tensor) -> tuple[Tensor, tuple[Tensor, dict[str, Tensor]]]:
        """(f(X) detached, cache for ``vjp``): one autograd graph from leaves that share storage with
        ``params`` (torch.autograd; ~2× less overhead per step than torch.func.vjp on small nets)."""
        leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        with torch.enable_grad():
            f = self.apply(leaves, X)
        return f.detach(), (f, leaves)

    def vjp(self, params: Params, X: Tensor, cache: tuple[Tensor, dict[str, Tensor]], v: Tensor) -> Params:
        """∇_θ Σ_μ v_μ·f(x_μ), a dict like ``params`` (autograd through the graph from ``forward``)."""
        f, leaves = cache
        names = list(leaves)
        grads = torch.autograd.grad(f, [leaves[k] for k in names], grad_outputs=v.to(f.dtype))
        return dict(zip(names, grads))

    # -- structured NTK: K = Σ_l (A_l A_lᵀ) ⊙ (G_l G_lᵀ), see diagnostics/ntk.py ----------------------
    def ntk_layers(self, params: Params, X: Tensor, trainable: tuple[str, ...]) -> list[tuple[Tensor, Tensor]]:
        """(A, G) per parameter for the output-trace NTK Σ_k ∇f_k(x)·∇f_k(x'):
        W_i: A = c_i a_i (n, d_i), G = ∂f/∂h_{i+1} flattened over outputs (n, K·d_{i+1});
        b_i: A = 1 (n, 1), same G. Back-propagated from G_L = out_scale·I_K, G_i = (G_{i+1} c_i W_i) ⊙ φ'(h_i)."""
        inputs, pre = self._layers(params, X)
        n, K = X.shape[0], self.K or 1
        G = (self.out_scale * torch.eye(K, dtype=X.dtype, device=X.device)).expand(n, K, K)  # (n, K, d_L)
        layers: list[tuple[Tensor, Tensor]] = []
        for i in reversed(range(self.n_layers)):
            c = self.layer_scale(i)
            Gf = G.reshape(n, -1)
            if self.bias and f"b{i}" in trainable:
                layers.append((torch.ones(n, 1, dtype=X.dtype, device=X.device), Gf))
            if f"W{i}" in trainable:
                layers.append((c * inputs[i], Gf))
            if i > 0:
                G = (G @ (c * params[f"W{i}"])) * self.act_grad(pre[i - 1])[:, None, :]
        return layers


def _capabilities(cfg: MLPModel) -> frozenset[str]:
    return frozenset({"hand_gradient", "ntk", "width"} | ({"progress"} if cfg.hidden else set()))


def _memory(cfg) -> tuple[int, tuple[str, str]] | None:
    """6 parameter-sized buffers (θ, θ₀, gradient, optimiser moments, scratch) and ≈ 3 activations per
    hidden unit per sample, for tasks whose config states the input size D and the sample counts."""
    t, m = cfg.task, cfg.model
    D = getattr(t, "D", None)
    n = (getattr(t, "P", 0) + getattr(t, "P_test", 0)) or (getattr(t, "n_train", 0) + getattr(t, "n_test", 0))
    if D is None or not n:
        return None
    item = 8 if cfg.train.dtype == "float64" else 4
    dims = [D, *m.hidden, getattr(t, "K", 1) or 1]
    params = sum(a * b for a, b in zip(dims, dims[1:]))
    need = item * (6 * params + 3 * n * sum(m.hidden) + n * D)
    return need, (f"model.hidden = {list(m.hidden)} with {params} weights and {n} samples:",
                  "reduce model.hidden or the task's sizes")


register_model("mlp", MLPModel, lambda cfg, D, data: MLP.from_config(cfg, D, output_width(data)), _capabilities,
               _memory)
