"""Teacher–student regression (Omnigrok's task; paper §5.5, Figs 8, 17, 18).

Teacher: a D-100-100-K tanh MLP with biases and PyTorch's default ``nn.Linear`` init
(U(±1/√fan_in) for weights and biases), drawn from ``torch.Generator().manual_seed(seed)``; then the
inputs from the same generator: X_train (P, D), X_test (P_test, D), x ~ N(0, I_D). Labels
y = teacher(x), shape (n, K). The student is a ``model: {name: mlp}`` of the same shape whose init is
scaled (σ = 2 in the paper, Omnigrok's weight-norm increase), drawn with ``model.seed`` (paper: 1).

"Accuracy" (paper Figs 8, 17): the fraction of samples whose per-sample MSE (mean over the K outputs)
is below a threshold θ, ``threshold_accuracy``.
"""
from __future__ import annotations

import torch
from torch import Tensor

from grokscope.config import TeacherTask
from grokscope.models.mlp import MLP
from grokscope.tasks.base import Dataset, register_task


def teacher_model(cfg: TeacherTask) -> MLP:
    """The teacher network (tanh, biases, PyTorch default init, no forward normalisation)."""
    return MLP(cfg.D, tuple(cfg.hidden), cfg.K, activation="tanh", bias=True, init_kind="torch_default",
               sigma=1.0, norm="none")


def threshold_accuracy(pred: Tensor, y: Tensor, theta: float) -> float:
    """mean_μ 1[(1/K) Σ_k (pred_μk − y_μk)² < θ]; pred, y (n, K) or (n,)."""
    r2 = (pred - y).square()
    per = r2 if r2.ndim == 1 else r2.mean(1)
    return float((per < theta).double().mean())


def threshold_key(theta: float) -> str:
    """Metric column suffix for a threshold: 0.001 → '1e-03'."""
    return f"{theta:.0e}"


@register_task("teacher", TeacherTask,
               lambda cfg: frozenset({"regression", "threshold_accuracy"}))
def build_teacher(cfg: TeacherTask) -> Dataset:
    """Teacher weights, then X_train, X_test from one generator seeded with ``cfg.seed``; y = teacher(X)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    net = teacher_model(cfg)
    params = net.init(gen, torch.float64)
    X_train = torch.randn(cfg.P, cfg.D, generator=gen, dtype=torch.float64)
    X_test = torch.randn(cfg.P_test, cfg.D, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        y_train, y_test = net.apply(params, X_train), net.apply(params, X_test)
    meta = {"teacher_params": params, "thresholds": list(cfg.thresholds), "threshold": cfg.threshold}
    return Dataset(X_train, y_train, X_test, y_test, meta=meta)
