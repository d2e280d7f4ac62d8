"""The closed dynamics of the quadratic committee on its sufficient statistics (w̄, M).

Model (fixed readouts, φ(h) = h + (ε/2)h²): f(x) = (1/N) Σ_i φ(w_i·x) = w̄·x + (ε/2) xᵀMx with
w̄ = (1/N) Σ_i w_i (D,), M = (1/N) Σ_i w_i w_iᵀ (D, D). The scaled output is the quadratic form

    f̃(x) = u·x + ½ xᵀSx,   u = α(w̄ − w̄₀), S = αε(M − M₀)   (centred; uncentred: drop w̄₀, M₀).

For a loss that is a mean of (f̃ − y)² over a measure ρ (the train set: ρ = (1/P) Σ_μ δ_{x_μ};
the population: x ~ N(0, I/D)), the gradient for neuron i is (2α/N)(s + εA w_i) with the moments

    s = E_ρ[r x] (D,),   A = E_ρ[r x xᵀ] (D, D),   r = f̃ − y.

Gradient descent with learning rate η, w_i ← w_i − c(s + εA w_i) with c = 2ηα/N (the rate; the
paper's rule η = η₀N/α² gives c = 2η₀/α), is an affine map w_i ← T w_i − c s, T = I − cεA, so
the statistics close exactly:

    w̄ ← T w̄ − c s
    M  ← T M Tᵀ − c(T w̄ sᵀ + s w̄ᵀTᵀ) + c² s sᵀ                                   (discrete GD)

(identical to paper.md §2.2 once c there, 2ηα/(NP), absorbs the 1/P of the sums). Its O(c) part
is the gradient flow in step units t (τ = η t):

    dw̄/dt = −c (s + εA w̄),   dM/dt = −c (ε(AM + MA) + s w̄ᵀ + w̄ sᵀ).             (flow)

Moments: :func:`empirical_moments` (train set, (1/P) Σ_μ) and :func:`population_moments`
(closed-form Gaussian expectations, see its docstring). Everything is float64. The map itself (step and
flow field, one copy shared with the reduced engine's factor form): :mod:`grokscope.theory.wm_step`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from grokscope.theory.sufficient import population_loss
from grokscope.theory.targets import QuadraticTarget
from grokscope.theory.wm_step import dense_step, dense_velocity, rate

Tensor = torch.Tensor
Moments = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]
F64 = torch.float64
__all__ = ["ClosedDynamics", "Moments", "empirical_dynamics", "empirical_moments", "iterate", "loss_fns",
           "population_moments", "quad_value", "rate", "stats_from_weights"]


def stats_from_weights(W: Tensor) -> tuple[Tensor, Tensor]:
    """(w̄, M) = (mean_i w_i, (1/N) Wᵀ W) from W (N, D)."""
    return W.mean(0), W.T @ W / W.shape[0]


def quad_value(c: Tensor | float, u: Tensor, S: Tensor, X: Tensor) -> Tensor:
    """c + X u + ½ rowwise xᵀSx: X (n, D) → (n,)."""
    return c + X @ u + 0.5 * ((X @ S) * X).sum(-1)


def empirical_moments(X: Tensor, y: Tensor) -> Moments:
    """Moments over the sample X (P, D), y (P,): s = Xᵀr/P, A = Xᵀ diag(r) X/P, r = f̃(X) − y."""
    P = X.shape[0]

    def moments(c: Tensor, u: Tensor, S: Tensor) -> tuple[Tensor, Tensor]:
        r = quad_value(c, u, S, X) - y
        return X.T @ r / P, (X.T * r) @ X / P

    return moments


def population_moments(target: QuadraticTarget) -> Moments:
    """Gaussian moments for x ~ N(0, I/D), y = c0 + b·x + ½xᵀBx + y⊥ (y⊥ ⟂ degree ≤ 2):

        s = E[r x]    = (u − b)/D
        A = E[r x xᵀ] = v I/D + (S − B)/D²,   v = c − c0 + Tr(S − B)/(2D)

    (Isserlis: E[(xᵀΔx) x xᵀ] = (Tr Δ I + 2Δ)/D²). Equivalently s = ½∇_u L and A = ∇_S L for
    L = diagnostics.sufficient.population_loss (S symmetric).
    """

    def moments(c: Tensor, u: Tensor, S: Tensor) -> tuple[Tensor, Tensor]:
        D = u.shape[-1]
        b = target.b.to(u)
        B = target.B.to(S)
        dS = S - B
        v = c - target.c0 + torch.trace(dS) / (2 * D)
        A = dS / D**2 + (v / D) * torch.eye(D, dtype=S.dtype, device=S.device)
        return (u - b) / D, A

    return moments


@dataclass
class ClosedDynamics:
    """GD / gradient flow of the committee on (w̄, M) under given moments.

    alpha, eps: output scale and φ's curvature; c: rate 2ηα/N (see :func:`rate`);
    wbar0 (D,), M0 (D, D): the initial statistics (subtracted when ``centre``).
    """

    moments: Moments
    alpha: float
    eps: float
    c: float
    wbar0: Tensor
    M0: Tensor
    centre: bool = True

    def form(self, wbar: Tensor, M: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(c, u, S) of f̃ = c + u·x + ½xᵀSx: u = α(w̄ − w̄₀), S = αε(M − M₀) (centred)."""
        if self.centre:
            wbar, M = wbar - self.wbar0, M - self.M0
        zero = torch.zeros((), dtype=wbar.dtype, device=wbar.device)
        return zero, self.alpha * wbar, self.alpha * self.eps * M

    def step(self, wbar: Tensor, M: Tensor) -> tuple[Tensor, Tensor]:
        """One exact GD step: w̄ ← Tw̄ − cs, M ← TMTᵀ − c(Tw̄sᵀ + sw̄ᵀTᵀ) + c²ssᵀ, T = I − cεA
        (:func:`grokscope.theory.wm_step.dense_step`: Z ← T̂ZT̂ᵀ)."""
        s, A = self.moments(*self.form(wbar, M))
        return dense_step(wbar, M, s, A, self.c, self.eps)

    def velocity(self, wbar: Tensor, M: Tensor) -> tuple[Tensor, Tensor]:
        """(dw̄/dt, dM/dt) of the gradient flow in step units: −c(s + εAw̄), −c(ε(AM + MA) + sw̄ᵀ + w̄sᵀ)
        (:func:`grokscope.theory.wm_step.dense_velocity`)."""
        s, A = self.moments(*self.form(wbar, M))
        return dense_velocity(wbar, M, s, A, self.c, self.eps)


def loss_fns(dyn: ClosedDynamics, X_train: Tensor | None = None, y_train: Tensor | None = None,
             X_test: Tensor | None = None, y_test: Tensor | None = None,
             target: QuadraticTarget | None = None) -> Callable[[Tensor, Tensor], dict[str, float]]:
    """losses(w̄, M) → {train_loss, test_loss, test_loss_exact} for the parts that are given
    (MSE without ½ on each set; test_loss_exact = population_loss of the form against ``target``)."""

    def losses(wbar: Tensor, M: Tensor) -> dict[str, float]:
        c, u, S = dyn.form(wbar, M)
        out: dict[str, float] = {}
        if X_train is not None and y_train is not None:
            out["train_loss"] = float(((quad_value(c, u, S, X_train) - y_train) ** 2).mean())
        if X_test is not None and y_test is not None:
            out["test_loss"] = float(((quad_value(c, u, S, X_test) - y_test) ** 2).mean())
        if target is not None:
            out["test_loss_exact"] = float(population_loss(c, u, S, target))
        return out

    return losses


def iterate(dyn: ClosedDynamics, steps: int | list[int],
            losses: Callable[[Tensor, Tensor], dict[str, float]],
            wbar: Tensor | None = None, M: Tensor | None = None) -> dict[str, object]:
    """Run discrete GD from (w̄₀, M₀) (or the given state) and record ``losses`` at ``steps``.

    ``steps``: int T (record 0..T) or a sorted list of step indices. Returns {"step": list[int],
    <metric>: list[float], "wbar": final (D,), "M": final (D, D)}. Cost O(T·(P D² + D³)) empirical,
    O(T D³) population.
    """
    record = list(range(steps + 1)) if isinstance(steps, int) else sorted(int(s) for s in steps)
    wbar = dyn.wbar0.clone() if wbar is None else wbar
    M = dyn.M0.clone() if M is None else M
    out: dict[str, list] = {"step": []}
    t = 0
    for target_step in record:
        while t < target_step:
            wbar, M = dyn.step(wbar, M)
            t += 1
        out["step"].append(t)
        for k, v in losses(wbar, M).items():
            out.setdefault(k, []).append(v)
    return {**out, "wbar": wbar, "M": M}


def empirical_dynamics(X: Tensor, y: Tensor, alpha: float, eps: float, eta: float, N: int,
                       wbar0: Tensor, M0: Tensor, centre: bool = True) -> ClosedDynamics:
    """Full-batch GD on the train set X (P, D), y (P,): the exact recursion of paper.md §2.2."""
    return ClosedDynamics(empirical_moments(X, y), alpha, eps, rate(eta, alpha, N), wbar0, M0, centre)
