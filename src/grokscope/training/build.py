"""Build everything a run needs from a config, validated before any training: data, model, engine,
probes, learning rate (``build``), and the resource check."""
from __future__ import annotations

import os
from typing import Any

import torch

from grokscope.config import Config, ConfigError
from grokscope.numerics.losses import get_loss, with_precision
from grokscope.numerics.optim import make_optimizer
from grokscope.numerics.scaling import learning_rate
from grokscope.tasks.base import TASKS
from grokscope.training.probes import select_probes

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device = {name!r}: CUDA is not available on this machine; use auto or cpu")
    return dev


def _memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def check_resources(cfg: Config, device: torch.device, members: int = 1) -> None:
    """Refuse sizes that cannot fit: ~6 parameter-sized buffers (θ, θ₀, grad, optimiser state)
    plus the (P + P_test)·N activations and the data, against 80 % of the device's memory
    (times ``members`` for a batched ensemble). Estimated for the committee on the polynomial task and
    for the modular task (other families: no check)."""
    t, m = cfg.task, cfg.model
    if t.name == "modular":
        from grokscope.tasks.modular import memory_bytes
        need, have = memory_bytes(cfg), _memory_bytes(device)
        if need > 0.8 * have:
            raise ConfigError(f"task.p = {t.p}: a full-batch run over its {t.p**2} pairs needs about "
                              f"{need / 2**30:.1f} GiB in {cfg.train.dtype}, more than 80 % of the "
                              f"{have / 2**30:.1f} GiB on {device}; reduce task.p (or the model)")
        return
    if not all(hasattr(t, k) for k in ("D", "P", "P_test")) or m.name != "committee":
        return  # the estimate below is for committee models on tasks with D, P, P_test
    item = 8 if cfg.train.dtype == "float64" else 4
    need = item * (6 * m.N * (t.D + 1) + 2 * (t.P + t.P_test) * m.N + (t.P + t.P_test) * (t.D + 1))
    need *= members
    have = _memory_bytes(device)
    if need > 0.8 * have:
        raise ConfigError(
            (f"{members} ensemble members, each " if members > 1 else "") +
            f"model.N = {m.N} with task.D = {t.D}, task.P = {t.P}, task.P_test = {t.P_test}: needs about "
            f"{need / 2**30:.1f} GiB in {cfg.train.dtype}, more than 80 % of the {have / 2**30:.1f} GiB "
            f"on {device}; reduce N, D or P (or use float32)")


def build(cfg: Config, device: torch.device | None = None) -> dict[str, Any]:
    """Everything a run needs, validated before any training: data, model, engine, probes."""
    device = device or resolve_device(cfg.train.device)
    dtype = DTYPES[cfg.train.dtype]
    check_resources(cfg, device)
    probes = select_probes(cfg)
    if cfg.output.stream:
        from grokscope.training.exporters import require
        for backend in cfg.output.stream:
            require(backend)
    data = TASKS[cfg.task.name](cfg.task)
    if cfg.train.loss != "mse" and data.classes is None:
        raise ConfigError(f"train.loss = {cfg.train.loss!r} needs class labels; task.name = {cfg.task.name!r} "
                          "has none (use mse)")
    if cfg.train.loss == "mse":
        from grokscope.tasks.base import onehot_targets
        data = onehot_targets(data)  # class labels → one-hot targets for per-class outputs
    data = data.to(device, dtype)
    from grokscope.models import build_model
    model = build_model(cfg.model, data.D, data)
    params0 = _init_params(cfg, model, data.D, dtype, device)
    if data.meta.get("labels_from_model"):  # e.g. eigenvector labels of the initial NTK (tasks/eigen.py)
        from grokscope.tasks.eigen import eigen_labels
        data = eigen_labels(data, model, params0, cfg.scaling.alpha)
    _check_outputs(cfg, model, params0, data)
    eta = learning_rate(cfg.scaling.lr_rule, cfg.optim.lr, cfg.scaling.alpha, model.width)
    loss = with_precision(get_loss(cfg.train.loss), cfg.train.logits_dtype, cfg.train.loss_dtype, dtype)
    engine_name, why = cfg.train.engine, "requested"
    from grokscope.engines.reduced import build_reduced, reduced_exact_for
    exact, reason = reduced_exact_for(cfg)
    if engine_name == "auto":
        engine_name, why = ("reduced", f"auto: {reason}") if exact else ("network", f"auto: {reason}")
    if engine_name == "reduced" and not exact:
        raise ConfigError(f"train.engine = 'reduced': not exact for this config: {reason}")
    init = getattr(cfg.model, "init", "sampled")
    if init == "infinite" and engine_name != "reduced":
        raise ConfigError("model.init = 'infinite': only the reduced engine simulates the infinite-width "
                          f"limit, but this run uses the {engine_name} engine ({reason})")
    if engine_name == "reduced":
        engine = build_reduced(cfg, data, eta, W=params0["W"], init=init)
    else:
        from grokscope.engines.network import NetworkEngine
        gen = torch.Generator().manual_seed(cfg.train.seed)
        grad = cfg.train.grad if hasattr(model, "vjp") else "autograd"  # no hand-written gradient
        if grad != cfg.train.grad:
            why += f"; gradients by autograd (model.name = {cfg.model.name!r} has no hand-written vjp)"
        engine = NetworkEngine(model, params0, data, loss, make_optimizer(cfg.optim, eta),
                               alpha=cfg.scaling.alpha, centre=cfg.scaling.centre, grad=grad,
                               batch_size=cfg.optim.batch_size, generator=gen)
    return {"data": data, "model": model, "engine": engine, "params0": params0, "probes": probes, "loss": loss, "eta": eta,
            "device": device, "dtype": dtype, "engine_name": engine_name, "engine_reason": why}


def _check_outputs(cfg: Config, model: Any, params: dict[str, torch.Tensor], data: Any) -> None:
    """The model's output shape per sample must match the targets the loss gets (before any work)."""
    with torch.no_grad():
        out = tuple(model.apply(params, data.X_train[:1]).shape[1:])
    y = tuple(data.y_train.shape[1:])
    if cfg.train.loss != "mse":  # cross_entropy, stablemax: class logits and integer labels
        if data.y_train.dtype.is_floating_point or len(out) != 1:
            raise ConfigError(f"train.loss = {cfg.train.loss!r}: needs logits (P, K) and integer labels (P,); got "
                              f"outputs {out or 'scalar'} per sample and {data.y_train.dtype} targets {y or 'scalar'}")
    elif out != y:
        raise ConfigError(f"model.name = {cfg.model.name!r}: outputs {out or 'a scalar'} per sample, but task "
                          f"{cfg.task.name!r} has targets of shape {y or 'scalar'} per sample"
                          + ("; use model.name = mlp for vector targets" if cfg.model.name == "committee" else ""))


def _init_params(cfg: Config, model: Any, D: int, dtype: torch.dtype, device: torch.device):
    gen = torch.Generator().manual_seed(cfg.model.seed)
    params = model.init(gen, dtype)
    if getattr(cfg.model, "init_W", None):
        from grokscope.config.arrays import load_array
        params["W"] = load_array(cfg.model.init_W, "model.init_W", (cfg.model.N, D),
                                 shape_names=("model.N", "task.D")).to(dtype)
    if cfg.init.rank is not None or cfg.init.scale != 1.0:
        if getattr(cfg.model, "init", None) == "infinite":
            raise ConfigError("init.rank / init.scale: transform sampled weights, but model.init = 'infinite' "
                              "has none (set model.sigma for the infinite-width scale)")
        from grokscope.numerics.initialise import apply_init
        params = apply_init(params, cfg.init, model.trainable)
    return {k: v.to(device) for k, v in params.items()}
