"""Linearised ("lazy") twin of the network: the model linearised at θ₀, trained like the network.

f_lin(x; θ) = f(x; θ₀) + J₀(x)·δ,  δ = θ − θ₀ (trainable params only),  J₀ = ∂f/∂θ at θ₀.
Scaled and centred like the network: f̃_lin = α J₀δ (centred) or α(f(θ₀) + J₀δ) (uncentred), so
with J̃ = αJ₀ the scaled-output Gram block is K = J̃J̃ᵀ (the NTK at θ₀ including α²).

Two engines with the read-outs of ``NetworkEngine`` (``step``, ``outputs``, ``weight_norm``,
``param_change``, ``quadratic_form``):

* :class:`ClosedFormTwin` — full-batch GD on the MSE L = (1/n)‖f̃ − y‖² (n = #output entries),
  exact in function space. With K = VΛVᵀ, c = 2η/n, r₀ = f̃₀(X) − y, z = Vᵀr₀:
      r_t = V (q_t ⊙ z),  q_t = (1 − cλ)^t
      f̃_t(X*) = f̃₀(X*) − K(X*, X) V (g_t ⊙ z),  g_t = c Σ_{s<t} (1 − cλ)^s = (1 − q_t)/λ  (→ tc at λ = 0)
  (q_t, g_t: :func:`grokscope.theory.kernel_gd.spectral_factors`, shared with the kernel-limit theory)
      δ_t = −J̃ᵀ V (g_t ⊙ z)                      (one VJP, only for the parameter read-outs)
  so any step t (t = ∞ included: ridgeless K₀ regression) costs O(n² + n*·n) after one eigh.
* :class:`ParamTwin` — any optimiser / loss / mini-batch schedule, in parameter space:
  forward αJ₀δ by ``torch.func.linearize`` (traced once per split; ``jvp`` on mini-batches),
  backward αJ₀ᵀv by ``torch.func.vjp`` at θ₀; the Jacobian is never materialised.

:func:`make_twin` picks the closed form when it is exact (GD, full batch, MSE, no weight decay,
kernel blocks available), else the parameter-space twin; ``twin.method`` says which.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor
from torch.func import jvp, linearize, vjp

from grokscope.numerics.batching import EpochBatches
from grokscope.numerics.losses import Loss, get_loss
from grokscope.numerics.optim import make_optimiser
from grokscope.tasks.base import Dataset
from grokscope.theory import kernel_gd

Params = dict[str, Tensor]
__all__ = ["ClosedFormTwin", "LinearModel", "ParamTwin", "lin_metrics", "make_twin"]


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence two torch-internal warnings of forward AD / make_fx (torch 2.13), nothing else."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*torch.jit.script. is deprecated", DeprecationWarning)
        warnings.filterwarnings("ignore", "Attempted to insert a get_attr Node", UserWarning)
        yield


class LinearModel:
    """The scaled linear map δ ↦ f̃_lin(X) at θ₀ and its adjoint; parameter-space read-outs of δ.

    ``jvp(X, δ)`` = αJ₀(X)δ, shape of f(X); ``vjp(X, v)`` = αJ₀(X)ᵀv, a dict like the trainable
    params; ``offset[split]`` = f̃_lin at δ = 0 (zeros when centred, αf(θ₀) otherwise).
    """

    def __init__(self, model: Any, params0: Params, data: Dataset, alpha: float, centre: bool):
        self.model, self.data, self.alpha, self.centre = model, data, float(alpha), centre
        self.params0 = {k: v.detach().clone() for k, v in params0.items()}
        self.trainable = tuple(model.trainable)
        self.p0 = {k: self.params0[k] for k in self.trainable}
        self.fixed = {k: v for k, v in self.params0.items() if k not in self.trainable}
        self.X = {"train": data.X_train, "test": data.X_test}
        with torch.no_grad():
            f0 = {s: model.apply(self.params0, X) for s, X in self.X.items()}
        self.offset = {s: torch.zeros_like(f) if centre else self.alpha * f for s, f in f0.items()}
        self.norm0 = float(torch.sqrt(sum((v**2).sum() for v in self.params0.values())))
        self._vjp_cache: dict[str, Callable[..., Any]] = {}
        self._jvp_cache: dict[str, Callable[..., Any]] = {}

    def _fn(self, X: Tensor) -> Callable[[Params], Tensor]:
        return lambda tp: self.model.apply({**self.fixed, **tp}, X)

    def jvp(self, X: Tensor | str, delta: Params) -> Tensor:
        """αJ₀(X)δ, shape (P,) or (P, K); X a split name uses a ``torch.func.linearize`` closure
        traced once (≈7× less overhead per call than ``torch.func.jvp``)."""
        tangent = {k: delta[k] for k in self.trainable}
        with _quiet():
            if isinstance(X, str):
                if X not in self._jvp_cache:
                    fn = self._fn(self.X[X])
                    try:
                        self._jvp_cache[X] = linearize(fn, self.p0)[1]
                    except (RuntimeError, NotImplementedError, TypeError, ValueError):  # untraceable
                        self._jvp_cache[X] = lambda t: jvp(fn, (self.p0,), (t,))[1]
                return self.alpha * self._jvp_cache[X](tangent)
            return self.alpha * jvp(self._fn(X), (self.p0,), (tangent,))[1]

    def vjp(self, X: Tensor | str, v: Tensor) -> Params:
        """αJ₀(X)ᵀv; X a tensor or a split name (then the VJP closure at θ₀ is built once, cached)."""
        if isinstance(X, str):
            if X not in self._vjp_cache:
                self._vjp_cache[X] = vjp(self._fn(self.X[X]), self.p0)[1]
            fn = self._vjp_cache[X]
        else:
            fn = vjp(self._fn(X), self.p0)[1]
        return {k: self.alpha * g for k, g in fn(v)[0].items()}

    def predict(self, delta: Params, split: str) -> Tensor:
        """f̃_lin on a split at θ = θ₀ + δ."""
        return self.offset[split] + self.jvp(split, delta)

    # -- parameter-space read-outs, as NetworkEngine ---------------------------------------------
    def weight_norm(self, delta: Params) -> float:
        """‖θ₀ + δ‖ over all parameters (untrained ones included)."""
        s = sum(((v + delta[k]) ** 2).sum() if k in delta else (v**2).sum() for k, v in self.params0.items())
        return float(torch.sqrt(s))

    def param_change(self, delta: Params) -> float:
        """‖δ‖/‖θ₀‖."""
        return float(torch.sqrt(sum((d**2).sum() for d in delta.values()))) / self.norm0

    def quadratic_form(self, delta: Params) -> tuple[Tensor, ...] | None:
        """(c, u, S) of f̃_lin(x) = c + u·x + ½xᵀSx: the form is linear in θ, so the linear model's
        form is form(θ₀) + D form(θ₀)[δ]; centring removes form(θ₀); everything times α."""
        qf = getattr(self.model, "quadratic_form", None)
        if qf is None or qf(self.params0) is None:
            return None
        with _quiet():
            form0, dform = jvp(lambda tp: tuple(qf({**self.fixed, **tp})), (self.p0,),
                               ({k: delta[k] for k in self.trainable},))
        return tuple(self.alpha * (d if self.centre else f + d) for f, d in zip(form0, dform))


class _ReadOuts:
    """Parameter read-outs shared by both twins, from ``self.delta()`` through ``self.lin``."""

    lin: LinearModel | None
    name = "linearised"
    reason = ""  # why make_twin chose this method

    def delta(self) -> Params:
        raise NotImplementedError

    def weight_norm(self) -> float:
        return self.lin.weight_norm(self.delta()) if self.lin else math.nan

    def param_change(self) -> float:
        return self.lin.param_change(self.delta()) if self.lin else math.nan

    def quadratic_form(self) -> tuple[Tensor, ...] | None:
        return self.lin.quadratic_form(self.delta()) if self.lin else None


class ClosedFormTwin(_ReadOuts):
    """Exact full-batch GD + MSE of the linear model, in function space (formulas: module doc).

    K_train (n, n) = J̃J̃ᵀ on the train set, K_test_train (n*, n) = J̃(X*)J̃ᵀ, n = y_train.numel()
    (for (P, K) outputs, rows/columns are the flattened (μ, k) pairs). ``offset_*`` = f̃ at θ₀
    (default zeros, i.e. centred). ``linear`` (optional) enables the parameter read-outs.
    The eigendecomposition and the mode sums run in float64 whatever the inputs' dtype (K₀ of a
    float32 run has condition numbers ~10⁵, which float32 modes would blur); read-outs are returned
    in the inputs' dtype.
    """

    method = "closed_form"

    def __init__(self, K_train: Tensor, K_test_train: Tensor, y_train: Tensor, eta: float, *,
                 offset_train: Tensor | None = None, offset_test: Tensor | None = None,
                 linear: LinearModel | None = None):
        self.dtype = y_train.dtype
        y_train, K_train, K_test_train = (t.to(torch.float64) for t in (y_train, K_train, K_test_train))
        offset_train, offset_test = (None if t is None else t.to(torch.float64) for t in (offset_train, offset_test))
        self.y = y_train
        n = y_train.numel()
        if K_train.shape != (n, n) or K_test_train.ndim != 2 or K_test_train.shape[1] != n:
            raise ValueError(f"kernel blocks must be ({n}, {n}) and (n_test, {n}); got "
                             f"{tuple(K_train.shape)} and {tuple(K_test_train.shape)}")
        self.c = kernel_gd.gd_rate(eta, n)
        self.lin = linear
        off_tr = torch.zeros_like(y_train) if offset_train is None else offset_train
        self.off_test = (torch.zeros(K_test_train.shape[0], dtype=y_train.dtype, device=y_train.device)
                         if offset_test is None else offset_test)
        lam, V = torch.linalg.eigh(0.5 * (K_train + K_train.T))  # O(n³), once
        self.lam, self.V = lam, V
        self.z = V.T @ (off_tr - y_train).reshape(-1)               # Vᵀr₀ (n,)
        self.A = K_test_train @ V                                    # K*V (n*, n), once
        self.tol = n * torch.finfo(lam.dtype).eps * float(lam.abs().max())
        self._t, self._w = 0, None  # step count; running mode powers of step()
        self._cache: tuple[float, Tensor, Tensor] | None = None
        self._decay = (1.0 - self.c * lam).square()

    @property
    def t(self) -> int:
        """Steps taken; assigning it jumps the twin to that step (O(n²) at the next read-out)."""
        return self._t

    @t.setter
    def t(self, value: int) -> None:
        self._t, self._w = int(value), None

    def factors(self, t: float) -> tuple[Tensor, Tensor]:
        """(q_t, g_t), both (n,): q = (1 − cλ)^t; g = (1 − q)/λ, tc for λ ≈ 0 — the shared
        :func:`grokscope.theory.kernel_gd.spectral_factors`. t = ∞: q = 1[λ≈0], g = λ⁺ (ridgeless
        K₀ regression) when cλ_max < 2; past the stability limit the divergent modes read inf."""
        return kernel_gd.spectral_factors(self.lam, self.c, t, self.tol)

    def at_step(self, t: float) -> tuple[Tensor, Tensor]:
        """(f̃_t on train, f̃_t on test) after t GD steps (t may be math.inf); O(n² + n*n)."""
        if self._cache is not None and self._cache[0] == t:
            return self._cache[1], self._cache[2]
        q, g = self.factors(t)
        train = self.y + (self.V @ (q * self.z)).reshape(self.y.shape)
        test = self.off_test - (self.A @ (g * self.z)).reshape(self.off_test.shape)
        train, test = train.to(self.dtype), test.to(self.dtype)
        self._cache = (t, train, test)
        return train, test

    def train_loss(self, t: float) -> Tensor:
        """(1/n)‖r_t‖² = (1/n) Σ q_i² z_i²  — O(n)."""
        return (self.factors(t)[0] * self.z).square().sum() / self.y.numel()

    def step(self) -> Tensor:
        """Advance one GD step; returns the train loss before it. O(n): the mode powers
        w_i = q_i² z_i² are advanced by (1 − cλ_i)² and resynchronised exactly every 1024 steps."""
        if self._w is None or self._t % 1024 == 0:
            self._w = (self.factors(self._t)[0] * self.z).square()
        value = self._w.sum() / self.y.numel()
        self._w.mul_(self._decay)
        self._t += 1
        return value

    def advance(self, n: int = 1) -> None:
        """``n`` GD steps with nothing computed (O(1)): the closed form is evaluated at read-out."""
        self.t = self._t + n

    def outputs(self, split: str) -> Tensor:
        return self.at_step(self.t)[0 if split == "train" else 1]

    def delta(self, t: float | None = None) -> Params:
        """δ_t = θ_t − θ₀ = −J̃ᵀV(g_t ⊙ z): one VJP on the train set (needs ``linear``)."""
        if self.lin is None:
            raise ValueError("parameter read-outs of the closed-form twin need linear=LinearModel(...)")
        g = self.factors(self.t if t is None else t)[1]
        return self.lin.vjp("train", -(self.V @ (g * self.z)).reshape(self.y.shape).to(self.dtype))


class ParamTwin(_ReadOuts):
    """The linear model trained in parameter space with any optimiser, loss and batch schedule.

    One ``step()``: on the (mini-)batch, f̃ = offset + αJ₀δ (JVP); θ ← opt(θ, αJ₀ᵀ ∂L/∂f̃) (VJP at
    θ₀). Mini-batches are drawn exactly as ``NetworkEngine`` draws them (give it a generator seeded
    like the network's, not the same object, to get the same batches).
    """

    method = "param"

    def __init__(self, linear: LinearModel, loss: Loss, optimiser: Any, *, batch_size: int | None = None,
                 generator: torch.Generator | None = None):
        self.lin, self.loss, self.opt = linear, loss, optimiser
        self.data = linear.data
        self.params = {k: v.clone() for k, v in linear.params0.items()}
        self.state = optimiser.init({k: self.params[k] for k in linear.trainable})
        self._batches = EpochBatches(self.data.P, batch_size, generator, self.data.X_train.device)

    def _batch(self) -> Tensor | None:
        """Indices of the next mini-batch (None = full batch): see :class:`EpochBatches`."""
        return self._batches.next()

    def delta(self) -> Params:
        return {k: self.params[k] - self.lin.params0[k] for k in self.lin.trainable}

    def advance(self, n: int = 1) -> None:
        """``n`` updates alongside the network (the trainer's call; the losses are not needed)."""
        for _ in range(n):
            self.step()

    def step(self) -> Tensor:
        """One update; returns the (batch) train loss before it."""
        X, y, off = self.data.X_train, self.data.y_train, self.lin.offset["train"]
        idx = self._batch()
        delta = self.delta()
        with torch.no_grad():
            if idx is not None:
                X, y, off = X[idx], y[idx], off[idx]
            out = off + self.lin.jvp("train" if idx is None else X, delta)
            value = self.loss.value(out, y)
            v = self.loss.grad(out, y)
        grads = self.lin.vjp("train" if idx is None else X, v)
        trainable = self.lin.trainable
        self.opt.step({k: self.params[k] for k in trainable}, grads, self.state)
        return value

    def outputs(self, split: str) -> Tensor:
        with torch.no_grad():
            return self.lin.predict(self.delta(), split)


KernelBlocks = tuple[Tensor, Tensor] | Callable[[], tuple[Tensor, Tensor]] | None


def make_twin(model: Any, params0: Params, data: Dataset, loss_name: str, optim_cfg: Any, eta: Any,
              alpha: float, centre: bool, kernel_blocks: KernelBlocks = None,
              batch_size: int | None = None, generator: torch.Generator | None = None
              ) -> ClosedFormTwin | ParamTwin:
    """The linearised twin of a network run; ``twin.method`` ∈ {closed_form, param}, ``twin.reason``.

    kernel_blocks: (K_train (n, n), K_test_train (n*, n)) for the scaled output (α² included), or a
    zero-argument callable returning them (called only when the closed form is chosen).
    batch_size defaults to ``optim_cfg.batch_size``; generator: a fresh one seeded like the network's.
    """
    if batch_size is None:
        batch_size = getattr(optim_cfg, "batch_size", None)
    full = batch_size is None or batch_size >= data.P
    why = []
    if optim_cfg.name not in ("gd", "sgd"):
        why.append(f"optimiser {optim_cfg.name}")
    if not full:
        why.append(f"mini-batch {batch_size}")
    if loss_name != "mse":
        why.append(f"loss {loss_name}")
    if optim_cfg.weight_decay:
        why.append(f"weight decay {optim_cfg.weight_decay}")
    if getattr(optim_cfg, "orthogonal", False):
        why.append("⊥Grad")
    if getattr(optim_cfg, "fixed_norm", None) is not None:
        why.append(f"fixed norm {optim_cfg.fixed_norm}")
    if isinstance(eta, Tensor) and eta.numel() > 1:
        why.append("per-member learning rates")
    if kernel_blocks is None:
        why.append("no kernel blocks")
    linear = LinearModel(model, params0, data, alpha, centre)
    if not why:
        blocks = kernel_blocks() if callable(kernel_blocks) else kernel_blocks
        twin: Any = ClosedFormTwin(blocks[0], blocks[1], data.y_train, float(eta),
                                   offset_train=linear.offset["train"],
                                   offset_test=linear.offset["test"], linear=linear)
        twin.reason = "GD, full batch, MSE, no weight decay: exact function-space closed form"
        return twin
    twin = ParamTwin(linear, get_loss(loss_name), make_optimiser(optim_cfg, eta),
                     batch_size=batch_size, generator=generator)
    twin.reason = "parameter space (JVP/VJP at θ₀): " + ", ".join(why)
    return twin


def lin_metrics(twin: Any, data: Dataset, loss: Loss) -> dict[str, float]:
    """Metric columns of the twin: ``lin_train_loss``, ``lin_test_loss``."""
    return {"lin_train_loss": float(loss.value(twin.outputs("train"), data.y_train)),
            "lin_test_loss": float(loss.value(twin.outputs("test"), data.y_test))}
