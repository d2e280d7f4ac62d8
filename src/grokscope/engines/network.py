"""Network engine: trains the model's parameters directly (hand-written or autograd gradients).

One ``step()`` = one optimiser update on a (mini-)batch of the training set with the loss on the
scaled output f̃ = α(f(θ) − f(θ₀)) (centred) or αf(θ). Every engine offers the same read-outs
(``outputs``, ``quadratic_form``, ``weight_norm``, ``param_change``) so probes never special-case.
"""
from __future__ import annotations

from typing import Any

import torch

from grokscope.engines.registry import EngineInputs, register_engine
from grokscope.models.registry import supports
from grokscope.numerics.batching import EpochBatches
from grokscope.numerics.scaling import scaled_output
from grokscope.tasks.base import Dataset

Params = dict[str, torch.Tensor]


class NetworkEngine:
    name = "network"

    def __init__(self, model: Any, params0: Params, data: Dataset, loss: Any, optimiser: Any, *,
                 alpha: float, centre: bool, grad: str = "analytic", batch_size: int | None = None,
                 generator: torch.Generator | None = None):
        self.model, self.data, self.loss, self.opt = model, data, loss, optimiser
        self.alpha, self.centre, self.grad_mode = alpha, centre, grad
        self.params0 = {k: v.clone() for k, v in params0.items()}
        self.params = {k: v.clone() for k, v in params0.items()}
        self.state = optimiser.init({k: self.params[k] for k in model.trainable})
        self.f0 = {"train": model.apply(self.params0, data.X_train) if centre else None,
                   "test": model.apply(self.params0, data.X_test) if centre else None}
        self._batches = EpochBatches(data.P, batch_size, generator, data.X_train.device)
        self.online = data.meta.get("online")  # task.online: fresh samples every step (tasks/polynomial.py)
        self._generator = generator
        self.norm0 = float(torch.sqrt(sum((v**2).sum() for v in self.params0.values())))

    # -- training ------------------------------------------------------------------------------
    def _batch(self) -> torch.Tensor | None:
        """Indices of the next mini-batch (None = full batch): see :class:`EpochBatches`."""
        return self._batches.next()

    def step(self) -> torch.Tensor:
        """One update; returns the (batch) train loss at the parameters before the update."""
        X, y, f0 = self.data.X_train, self.data.y_train, self.f0["train"]
        idx = self._batch()
        if self.online is not None:
            X, y = self.online(self._generator, X.dtype, X.device)
            f0 = self.model.apply(self.params0, X) if self.centre else None
        elif idx is not None:
            X, y = X[idx], y[idx]
            f0 = f0[idx] if f0 is not None else None
        trainable = self.model.trainable
        if self.grad_mode == "analytic":
            f, H = self.model.forward(self.params, X)
            out = scaled_output(f, f0, self.alpha)
            value = self.loss.value(out, y)
            v = self.alpha * self.loss.grad(out, y)
            grads = self.model.vjp(self.params, X, H, v)
        else:
            value, grads = self._autograd(X, y, f0)
        self.opt.step({k: self.params[k] for k in trainable}, {k: grads[k] for k in trainable}, self.state)
        return value

    def _autograd(self, X: torch.Tensor, y: torch.Tensor, f0: torch.Tensor | None):
        from torch.func import grad_and_value

        fixed = {k: v for k, v in self.params.items() if k not in self.model.trainable}

        def objective(tp: Params) -> torch.Tensor:
            out = scaled_output(self.model.apply({**fixed, **tp}, X), f0, self.alpha)
            return self.loss.value(out, y)

        grads, value = grad_and_value(objective)({k: self.params[k] for k in self.model.trainable})
        return value, grads

    # -- read-outs shared by every engine ------------------------------------------------------
    @torch.no_grad()
    def outputs(self, split: str) -> torch.Tensor:
        """f̃ on the train or test set, shape (P,) or (P, K)."""
        X = self.data.X_train if split == "train" else self.data.X_test
        return scaled_output(self.model.apply(self.params, X), self.f0[split], self.alpha)

    def quadratic_form(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """f̃(x) = c + u·x + ½xᵀSx where the model has such a form (centring subtracts θ₀'s form)."""
        form = self.model.quadratic_form(self.params) if hasattr(self.model, "quadratic_form") else None
        if form is None:
            return None
        if self.centre:
            form0 = self.model.quadratic_form(self.params0)
            form = tuple(t - t0 for t, t0 in zip(form, form0))
        return tuple(self.alpha * t for t in form)  # type: ignore[return-value]

    def ntk(self, X1: torch.Tensor, X2: torch.Tensor | None = None) -> torch.Tensor:
        """Empirical NTK of f̃ at the current parameters (structured path where the model has one)."""
        from grokscope.diagnostics.ntk import ntk
        return ntk(self.model, self.params, X1, X2, alpha=self.alpha)

    def weight_norm(self) -> float:
        """‖θ‖ over all parameters (untrained readouts included, as in the paper's Fig 7)."""
        return float(torch.sqrt(sum((v**2).sum() for v in self.params.values())))

    def param_change(self) -> float:
        """‖θ − θ₀‖/‖θ₀‖."""
        d2 = sum(((v - self.params0[k]) ** 2).sum() for k, v in self.params.items())
        return float(torch.sqrt(d2)) / self.norm0


def _build(inp: EngineInputs) -> NetworkEngine:
    """The network engine for a config: the model's hand-written vjp where it declares one, else autograd."""
    from grokscope.numerics.optim import make_optimiser
    cfg, model = inp.cfg, inp.model
    grad = cfg.train.grad if supports(cfg.model, "hand_gradient") else "autograd"
    return NetworkEngine(model, inp.params0, inp.data, inp.loss, make_optimiser(cfg.optim, inp.eta),
                         alpha=cfg.scaling.alpha, centre=cfg.scaling.centre, grad=grad,
                         batch_size=cfg.optim.batch_size, generator=inp.generator)


register_engine("network", lambda cfg: (True, "network: trains the weights"), _build, priority=0)
