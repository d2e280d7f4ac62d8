"""Functional optimisers over ``params: dict[str, Tensor]``, updated in place.

``opt = make_optimiser(cfg.optim, lr)``; ``state = opt.init(params)``; each step
``opt.step(params, grads, state)``. Semantics match ``torch.optim`` (SGD, SGD(momentum), Adam,
AdamW). ``lr`` is the final η (the scaling rule is already applied): a float, or a tensor of
per-member rates, shape (E,) or (E, 1, ..., 1), for ensembles whose params carry a leading member
axis E; it is viewed as (E, 1, ..., 1) against each param. ``grads`` is never modified; every
parameter-sized buffer is allocated once in ``init``. A gradient wrapper (e.g. ⊥Grad) composes as
``opt.step(params, transform(params, grads), state)``.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor

from grokscope.config import Optim

__all__ = ["GD", "OPTIMISERS", "Adam", "FixedNorm", "Momentum", "Optimiser", "Orthogonal", "Warmup",
           "make_optimiser", "orthogonal_grad", "warmup_factor"]

LR = float | Tensor
Params = dict[str, Tensor]


class Optimiser(Protocol):
    def init(self, params: Params) -> dict[str, Any]: ...

    def step(self, params: Params, grads: Params, state: dict[str, Any]) -> None: ...


class _Base:
    """Holds η and weight decay λ; ``_lr(p)`` gives η as a float or a view broadcastable to p."""

    def __init__(self, lr: LR, weight_decay: float = 0.0, decoupled: bool = False) -> None:
        self.weight_decay = float(weight_decay)
        self.decoupled = decoupled
        self.lr = lr

    @property
    def lr(self) -> LR:
        return self._lr_value

    @lr.setter
    def lr(self, lr: LR) -> None:
        if isinstance(lr, Tensor) and lr.numel() == 1:
            lr = float(lr.item())
        self._lr_value = lr if isinstance(lr, Tensor) else float(lr)
        self._lr_views: dict[tuple[Any, ...], Tensor] = {}

    def _lr(self, p: Tensor) -> LR:
        lr = self._lr_value
        if not isinstance(lr, Tensor):
            return lr
        key = (p.ndim, p.dtype, p.device)
        view = self._lr_views.get(key)
        if view is None:
            if p.ndim == 0 or p.shape[0] != lr.numel():
                raise ValueError(f"tensor lr with {lr.numel()} members needs params with leading "
                                 f"member axis {lr.numel()}; got a param of shape {tuple(p.shape)}")
            view = lr.detach().to(device=p.device, dtype=p.dtype).reshape((-1,) + (1,) * (p.ndim - 1))
            self._lr_views[key] = view
        return view

    def _decayed(self, p: Tensor, g: Tensor, buf: Tensor | None) -> Tensor:
        """g + λ p (coupled L2 weight decay) written into ``buf``; g itself when λ = 0. Decoupled decay
        instead shrinks p ← p(1 − ηλ) here, before the update (torch AdamW's order), and returns g."""
        if self.weight_decay == 0.0:
            return g
        if self.decoupled:
            p.mul_(1.0 - self._lr(p) * self.weight_decay)
            return g
        return torch.add(g, p, alpha=self.weight_decay, out=buf)

    def _bufs(self, params: Params) -> dict[str, Tensor] | None:
        if self.weight_decay == 0.0 or self.decoupled:
            return None
        return {k: torch.empty_like(p) for k, p in params.items()}

    @staticmethod
    def _descend(p: Tensor, d: Tensor, lr: LR, scale: float = 1.0) -> None:
        """p ← p − (η·scale) d."""
        if isinstance(lr, Tensor):
            p.addcmul_(d, lr, value=-scale)
        else:
            p.add_(d, alpha=-lr * scale)


class GD(_Base):
    """Gradient descent (``gd``, ``sgd``): p ← p − η (g + λp); decoupled: p ← p(1 − ηλ) − ηg (equal in
    exact arithmetic). Mini-batching is the trainer's job."""

    def init(self, params: Params) -> dict[str, Any]:
        return {"step": 0, "wd_buf": self._bufs(params)}

    def step(self, params: Params, grads: Params, state: dict[str, Any]) -> None:
        bufs = state["wd_buf"]
        for k, p in params.items():
            d = self._decayed(p, grads[k], bufs[k] if bufs else None)
            self._descend(p, d, self._lr(p))
        state["step"] += 1


class Momentum(_Base):
    """Heavy ball (torch SGD(momentum=μ), no dampening): v ← μv + (g + λp); p ← p − ηv.
    Decoupled: p ← p(1 − ηλ); v ← μv + g; p ← p − ηv (the decay never enters the velocity)."""

    def __init__(self, lr: LR, momentum: float = 0.9, weight_decay: float = 0.0,
                 decoupled: bool = False) -> None:
        super().__init__(lr, weight_decay, decoupled)
        self.momentum = float(momentum)

    def init(self, params: Params) -> dict[str, Any]:
        return {"step": 0, "v": {k: torch.zeros_like(p) for k, p in params.items()},
                "wd_buf": self._bufs(params)}

    def step(self, params: Params, grads: Params, state: dict[str, Any]) -> None:
        bufs = state["wd_buf"]
        for k, p in params.items():
            d = self._decayed(p, grads[k], bufs[k] if bufs else None)
            v = state["v"][k].mul_(self.momentum).add_(d)
            self._descend(p, v, self._lr(p))
        state["step"] += 1


class Adam(_Base):
    """Adam (torch.optim.Adam; ``decoupled=True``: AdamW). With t the step count, g ← g + λp
    (Adam) or p ← p(1 − ηλ) (AdamW); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
    p ← p − η/(1−β₁ᵗ) · m / (√v / √(1−β₂ᵗ) + ε)."""

    def __init__(self, lr: LR, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled: bool = False) -> None:
        super().__init__(lr, weight_decay, decoupled)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.eps = float(eps)

    def init(self, params: Params) -> dict[str, Any]:
        zeros = lambda: {k: torch.zeros_like(p) for k, p in params.items()}
        return {"step": 0, "m": zeros(), "v": zeros(),
                "buf": {k: torch.empty_like(p) for k, p in params.items()}}

    def step(self, params: Params, grads: Params, state: dict[str, Any]) -> None:
        state["step"] += 1
        t = state["step"]
        b1, b2, wd = self.beta1, self.beta2, self.weight_decay
        bc1 = 1.0 - b1 ** t
        bc2_sqrt = math.sqrt(1.0 - b2 ** t)
        for k, p in params.items():
            g, m, v, buf = grads[k], state["m"][k], state["v"][k], state["buf"][k]
            lr = self._lr(p)
            if wd != 0.0:
                if self.decoupled:
                    p.mul_(1.0 - lr * wd)
                else:
                    g = torch.add(g, p, alpha=wd, out=buf)
            m.lerp_(g, 1.0 - b1)
            v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
            denom = torch.sqrt(v, out=buf).div_(bc2_sqrt).add_(self.eps)  # g no longer needed
            if isinstance(lr, Tensor):
                self._descend(p, torch.div(m, denom, out=buf), lr / bc1)
            else:
                p.addcdiv_(m, denom, value=-lr / bc1)


def decoupled_decay(cfg: Optim) -> bool:
    """Whether weight decay is decoupled: ``optim.weight_decay_mode``, where auto = (name == adamw)."""
    mode = getattr(cfg, "weight_decay_mode", "auto")
    return cfg.name == "adamw" if mode == "auto" else mode == "decoupled"


def _adam(cfg: Optim, lr: LR, decoupled: bool) -> Adam:
    return Adam(lr, cfg.betas, cfg.adam_eps, cfg.weight_decay, decoupled=decoupled)


OPTIMISERS: dict[str, Callable[[Optim, LR], Optimiser]] = {
    "gd": lambda cfg, lr: GD(lr, cfg.weight_decay, decoupled_decay(cfg)),
    "sgd": lambda cfg, lr: GD(lr, cfg.weight_decay, decoupled_decay(cfg)),
    "momentum": lambda cfg, lr: Momentum(lr, cfg.momentum, cfg.weight_decay, decoupled_decay(cfg)),
    "adam": lambda cfg, lr: _adam(cfg, lr, decoupled=decoupled_decay(cfg)),
    "adamw": lambda cfg, lr: _adam(cfg, lr, decoupled=decoupled_decay(cfg)),
}


def make_optimiser(cfg: Optim, lr: LR, *, members: bool | None = None) -> Optimiser:
    """The optimiser ``cfg.name`` with final learning rate η = ``lr`` (float or per-member tensor),
    wrapped by :class:`Orthogonal` (``cfg.orthogonal``), :class:`FixedNorm` (``cfg.fixed_norm``) and
    :class:`Warmup` (``cfg.warmup_steps``).
    ``members``: params carry a leading member axis (per-member projections and norms); None infers
    it from a per-member tensor ``lr``. An ensemble with a scalar lr must pass ``members=True``."""
    try:
        factory = OPTIMISERS[cfg.name]
    except KeyError:
        raise ValueError(f"optim.name = {cfg.name!r}: allowed are {', '.join(OPTIMISERS)}") from None
    opt = factory(cfg, lr)
    if members is None:
        members = isinstance(lr, Tensor) and lr.numel() > 1
    if getattr(cfg, "orthogonal", False):
        opt = Orthogonal(opt, members=members)
    if getattr(cfg, "fixed_norm", None) is not None:
        opt = FixedNorm(opt, cfg.fixed_norm, members=members)
    if getattr(cfg, "warmup_steps", 0):
        opt = Warmup(opt, cfg.warmup_steps)
    return opt


def _dot(a: Tensor, b: Tensor, members: bool) -> Tensor:
    """Σ a·b over the whole tensor (shape ()), or per member over all but axis 0 (shape (E, 1, ..., 1))."""
    if not members or a.ndim == 0:
        return (a * b).sum()
    return (a * b).sum(dim=tuple(range(1, a.ndim)), keepdim=True)


def orthogonal_grad(w: Tensor, g: Tensor, members: bool = False) -> Tensor:
    """⊥Grad of one tensor (Prieto et al. 2025, per parameter tensor as their code):
    g⊥ = g − (w·g / w·w) w, returned rescaled to ‖g‖: g⊥·‖g‖/‖g⊥‖. Where w = 0 or g⊥ = 0 (g ∥ w) the
    division is guarded (the reference adds 1e-30 to both denominators; we use the dtype's ``tiny``),
    giving g (w = 0) or 0 (g ∥ w). ``members``: per slice of the leading axis."""
    tiny = torch.finfo(g.dtype).tiny
    ww = _dot(w, w, members)
    proj = _dot(w, g, members) / ww.clamp_min(tiny)
    gp = g - proj * w
    return gp * (_dot(g, g, members).sqrt() / _dot(gp, gp, members).sqrt().clamp_min(tiny))


class _Wrapper:
    """Reads and writes every attribute it does not own (lr, weight_decay, betas, ...) through to the
    base optimiser, so ``opt.lr = new_eta`` on a wrapped optimiser reaches the base."""

    _own: tuple[str, ...] = ("base", "members")

    def __getattr__(self, name: str) -> Any:
        if name in type(self)._own:
            raise AttributeError(name)
        return getattr(self.base, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in type(self)._own:
            object.__setattr__(self, name, value)
        else:
            setattr(self.base, name, value)


class Orthogonal(_Wrapper):
    """⊥Grad wrapper over any optimiser: ``step`` replaces each trainable tensor's gradient by
    :func:`orthogonal_grad` and calls the base optimiser with every one of its options untouched
    (betas, eps, momentum, weight decay: the base adds λθ or decays θ itself, after the projection, as
    torch optimisers do inside the reference wrapper)."""

    def __init__(self, base: Optimiser, members: bool = False) -> None:
        self.base, self.members = base, members

    def init(self, params: Params) -> dict[str, Any]:
        return self.base.init(params)

    def step(self, params: Params, grads: Params, state: dict[str, Any]) -> None:
        gp = {k: orthogonal_grad(p, grads[k], self.members) for k, p in params.items()}
        self.base.step(params, gp, state)


class FixedNorm(_Wrapper):
    """Omnigrok's reduced landscape: after every base step, θ ← θ·(n★/‖θ‖) with ‖θ‖ the global norm
    over all trainable tensors (per member with ``members``); n★ = ‖θ₀‖ at ``init`` for 'initial',
    else the given float."""

    _own = ("base", "members", "target")

    def __init__(self, base: Optimiser, target: str | float, members: bool = False) -> None:
        self.base, self.target, self.members = base, target, members

    def _norm(self, params: Params) -> Tensor:
        return sum(_dot(p, p, self.members).reshape(-1) for p in params.values()).sqrt()  # () or (E,)

    def init(self, params: Params) -> dict[str, Any]:
        state = self.base.init(params)
        target = self._norm(params) if self.target == "initial" else float(self.target)
        state["fixed_norm"] = target.clone() if isinstance(target, Tensor) else target
        return state

    def step(self, params: Params, grads: Params, state: dict[str, Any]) -> None:
        self.base.step(params, grads, state)
        factor = state["fixed_norm"] / self._norm(params)
        for p in params.values():
            p.mul_(factor.reshape((-1,) + (1,) * (p.ndim - 1)) if self.members and p.ndim else factor)


def warmup_factor(t: int, warmup_steps: int) -> float:
    """Linear warm-up factor of update t (0-based): min(t/W, 1) (1 when W = 0). Nanda et al.'s
    ``LambdaLR(opt, lambda step: min(step/W, 1))`` stepped after each update: update 0 has η = 0."""
    return 1.0 if warmup_steps <= 0 else min(t / warmup_steps, 1.0)


class Warmup(_Wrapper):
    """Linear learning-rate warm-up over any optimiser: update t (the base's ``state["step"]`` before
    it, 0-based) runs with η_t = η·min(t/W, 1), η the peak rate (float or per-member tensor).
    ``opt.lr`` reads and sets the peak η; the base's own lr is rewritten before each warm-up update
    and set to η once t ≥ W. The first update has η = 0: the parameters stay, Adam's moments and step
    count still advance (as torch's AdamW under LambdaLR)."""

    _own = ("base", "members", "warmup_steps", "peak")

    def __init__(self, base: Optimiser, warmup_steps: int) -> None:
        self.base, self.warmup_steps = base, int(warmup_steps)
        self.peak = base.lr

    @property
    def lr(self) -> LR:
        return self.peak

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "lr":
            object.__setattr__(self, "peak", value)
            self.base.lr = value
        else:
            super().__setattr__(name, value)

    def init(self, params: Params) -> dict[str, Any]:
        return self.base.init(params)

    def step(self, params: Params, grads: Params, state: dict[str, Any]) -> None:
        t = int(state["step"])
        if t <= self.warmup_steps:
            self.base.lr = self.peak * warmup_factor(t, self.warmup_steps)
        self.base.step(params, grads, state)
