"""Committee machine f(x) = (1/N) Σ_i a_i φ(w_i·x) (paper eq. 3, before the α output scale).

Functional: ``init(generator) -> params`` with params = {"W": (N, D), "a": (N,)} and
``apply(params, X) -> (P,)``; no hidden state, so ``torch.func`` works unchanged.
``vjp`` is the hand-written gradient of Σ_μ v_μ f(x_μ); for φ(h) = h + (ε/2)h² with fixed
readouts it needs two matmuls and one pass over H = XWᵀ.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from grokscope.config import CommitteeModel
from grokscope.models.registry import register_model
from grokscope.theory.hermite import hermite_e

Params = dict[str, torch.Tensor]


def quadratic_phi(phi: str, k: int) -> bool:
    """Whether φ is quadratic in h (quadratic, or Hermite with k = 2): the one copy of this predicate."""
    return phi == "quadratic" or (phi == "hermite" and k == 2)


@dataclass(frozen=True)
class Committee:
    """φ ∈ {quadratic: h + (ε/2)h², relu, tanh, hermite: h + (ε/2)He_k(h)}."""

    N: int
    D: int
    phi: str = "quadratic"
    eps: float = 0.02
    k: int = 2
    readouts: str = "fixed"
    readout_init: str = "ones"
    sigma: float = 1.0

    @classmethod
    def from_config(cls, cfg: CommitteeModel, D: int) -> Committee:
        return cls(cfg.N, D, cfg.phi, cfg.eps, cfg.k, cfg.readouts, cfg.readout_init, cfg.sigma)

    @property
    def width(self) -> int:
        return self.N

    @property
    def affine_grad(self) -> bool:
        """φ'(h) = 1 + εh exactly: φ quadratic, or Hermite with k = 2 (f is then a quadratic form of x)."""
        return quadratic_phi(self.phi, self.k)

    @property
    def const(self) -> float:
        """κ = φ's constant term: −ε/2 for h + (ε/2)He₂(h), else 0 (only meaningful when affine_grad)."""
        return -0.5 * self.eps if self.phi == "hermite" else 0.0

    @property
    def trainable(self) -> tuple[str, ...]:
        return ("W", "a") if self.readouts == "trained" else ("W",)

    def init(self, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> Params:
        """W ~ σ·N(0,1) (N, D); a = 1 or σ·N(0,1) (N,), drawn after W from the same generator."""
        W = self.sigma * torch.randn(self.N, self.D, generator=generator, dtype=torch.float64)
        if self.readout_init == "normal":
            a = self.sigma * torch.randn(self.N, generator=generator, dtype=torch.float64)
        else:
            a = torch.ones(self.N, dtype=torch.float64)
        return {"W": W.to(dtype), "a": a.to(dtype)}

    # -- activation and its derivative -------------------------------------------------------
    def act(self, H: torch.Tensor) -> torch.Tensor:
        if self.phi == "quadratic":
            return H + 0.5 * self.eps * H * H
        if self.phi == "relu":
            return torch.relu(H)
        if self.phi == "tanh":
            return torch.tanh(H)
        return H + 0.5 * self.eps * hermite_e(self.k, H)

    def act_grad(self, H: torch.Tensor) -> torch.Tensor:
        if self.phi == "quadratic":
            return 1.0 + self.eps * H
        if self.phi == "relu":
            return (H > 0).to(H.dtype)
        if self.phi == "tanh":
            return 1.0 - torch.tanh(H) ** 2
        return 1.0 + 0.5 * self.eps * self.k * hermite_e(self.k - 1, H)  # He_k' = k He_{k-1}

    def _quad_fixed(self, params: Params) -> bool:
        return self.phi == "quadratic" and self.readouts == "fixed" and self.readout_init == "ones"

    # -- forward and hand-written backward ----------------------------------------------------
    def apply(self, params: Params, X: torch.Tensor) -> torch.Tensor:
        """f(X) = (1/N) φ(X Wᵀ) a, shape (P,)."""
        return self.forward(params, X)[0]

    def forward(self, params: Params, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(f (P,), H = X Wᵀ (P, N)); H is the cache that ``vjp`` reuses."""
        W, a = params["W"], params["a"]
        H = X @ W.T
        if self._quad_fixed(params):
            # Σ_i φ(h_i) = X·Σ_i w_i + (ε/2) Σ_i h_i²: one vectorised pass over H (the fastest
            # row-wise sum of squares on CPU), no (P, N) temporaries.
            sq = torch.linalg.vector_norm(H, dim=1).square()
            f = (X @ W.sum(0) + 0.5 * self.eps * sq) / self.N
        else:
            f = self.act(H) @ a / self.N
        return f, H

    def vjp(self, params: Params, X: torch.Tensor, H: torch.Tensor, v: torch.Tensor) -> Params:
        """∇_θ Σ_μ v_μ f(x_μ): W-grad (1/N) diag(a) φ'(H)ᵀ diag(v) X (N, D); a-grad (1/N) φ(H)ᵀ v (N,)."""
        a = params["a"]
        if self._quad_fixed(params):
            Xv = X * v[:, None]
            gW = torch.addmm(Xv.sum(0), H.T, Xv, alpha=self.eps) / self.N
        else:
            G = self.act_grad(H) * v[:, None] * a[None, :]
            gW = G.T @ X / self.N
        grads = {"W": gW}
        if "a" in self.trainable:
            grads["a"] = self.act(H).T @ v / self.N
        return grads

    # -- sufficient statistics ----------------------------------------------------------------
    def quadratic_form(self, params: Params) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """f(x) = c + u·x + ½ xᵀSx when φ is quadratic (or Hermite with k = 2), else None.

        With w̄ = Wᵀa/N and M = Wᵀ diag(a) W/N (paper eq. 4, eq. 21–22 for trained readouts):
        u = w̄, S = εM, and c = −(ε/2)·mean(a) for He_2 (zero for the quadratic φ).
        """
        if not self.affine_grad:
            return None
        W, a = params["W"], params["a"]
        wbar = W.T @ a / self.N
        M = (W.T * a) @ W / self.N
        c = -0.5 * self.eps * a.mean() if self.phi == "hermite" else torch.zeros((), dtype=W.dtype,
                                                                               device=W.device)
        return c, wbar, self.eps * M


def _capabilities(cfg: CommitteeModel) -> frozenset[str]:
    caps = {"hand_gradient", "ntk", "kernel_twin", "batched", "scalar_output", "width", "committee_theory"}
    if quadratic_phi(cfg.phi, cfg.k):
        caps.add("quadratic_form")
        if cfg.readouts == "fixed" and cfg.readout_init == "ones":
            caps.add("reduced")
    return frozenset(caps)


def _memory(cfg: Any) -> tuple[int, tuple[str, str]] | None:
    """~6 parameter-sized buffers (θ, θ₀, grad, optimiser state), the (P + P_test)·N activations and
    the data, for tasks with D, P and P_test."""
    t, m = cfg.task, cfg.model
    if not all(hasattr(t, k) for k in ("D", "P", "P_test")):
        return None
    item = 8 if cfg.train.dtype == "float64" else 4
    need = item * (6 * m.N * (t.D + 1) + 2 * (t.P + t.P_test) * m.N + (t.P + t.P_test) * (t.D + 1))
    return need, (f"model.N = {m.N} with task.D = {t.D}, task.P = {t.P}, task.P_test = {t.P_test}:",
                  "reduce N, D or P (or use float32)")


register_model("committee", CommitteeModel, lambda cfg, D, data: Committee.from_config(cfg, D), _capabilities,
               _memory)
