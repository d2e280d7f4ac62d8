"""Build everything a run needs from a config, validated before any training: data, model, engine,
probes, learning rate (``build``), and the resource check."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from grokscope.config import Config, ConfigError
from grokscope.models.registry import supports
from grokscope.numerics.losses import get_loss, with_precision
from grokscope.numerics.scaling import learning_rate
from grokscope.tasks.base import TASKS, Dataset
from grokscope.training import (
    probe_liu,  # noqa: F401  (registers the liu and liu_kernel probes)
    probe_pathways,  # noqa: F401  (registers the pathways probe)
    probe_robust,  # noqa: F401  (registers the local-complexity/robustness/ipr probes)
)
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


@dataclass(frozen=True)
class Built:
    """Everything one run trains with, made by :func:`build` before any work: the task's data on the
    device, the model, the engine (its state is the run's state), the initial params θ₀, the selected
    probes, the loss, the final learning rate η, device and dtype, and the engine's name and why."""

    data: Dataset
    model: Any
    engine: Any
    params0: dict[str, torch.Tensor]
    probes: tuple[Any, ...]
    loss: Any
    eta: float
    device: torch.device
    dtype: torch.dtype
    engine_name: str
    engine_reason: str


def check_resources(cfg: Config, device: torch.device, members: int = 1, extra: list[tuple[int, str]] = ()
                    ) -> None:
    """Refuse sizes that cannot fit, before the allocation: the task's and the model's declared peak-
    memory estimates (times ``members`` for a batched ensemble) and any ``extra`` (bytes, what) parts,
    summed, against 80 % of the device's memory. A family that declares no estimate adds nothing."""
    from grokscope.models.registry import MODELS
    from grokscope.tasks.base import MEMORY
    parts: list[tuple[int, str, str]] = []
    for estimate in filter(None, [MEMORY.get(cfg.task.name), MODELS[cfg.model.name].memory]):
        got = estimate(cfg)
        if got is not None:
            parts.append((got[0] * members, *got[1]))
    parts += [(need, what, "ask for fewer probes (probes.names) or reduce the sizes") for need, what in extra]
    need, have = sum(p[0] for p in parts), _memory_bytes(device)
    if parts and need > 0.8 * have:
        big = max(parts)
        raise ConfigError(
            (f"{members} ensemble members, each " if members > 1 else "") +
            f"{big[1]} needs about {big[0] / 2**30:.1f} GiB" +
            (f" ({need / 2**30:.1f} GiB in all)" if len(parts) > 1 else "") +
            f" in {cfg.train.dtype}, more than 80 % of the {have / 2**30:.1f} GiB on {device}; {big[2]}")


def probe_memory(probes: Any, data: Dataset) -> list[tuple[int, str]]:
    """Bytes the selected probes will hold: the NTK probes keep the (P + P_test)² initial kernel, its
    test block in float64 and this step's test kernel (≈ 4 P_test² more); the K₀ regression and the
    closed-form twin factor the P×P train block (≈ 3 P²)."""
    names = {p.name for p in probes}
    P, Pt = data.P, int(data.X_test.shape[0])
    out = []
    if names & {"ntk", "ntk_spectrum", "kernel_alignment", "twin"}:
        out.append((8 * ((P + Pt) ** 2 + 4 * Pt * Pt + 3 * P * P),
                    f"the NTK probes and K₀ over task.P = {P} + P_test = {Pt} points"))
    return out


def build(cfg: Config, device: torch.device | None = None) -> Built:
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
    check_resources(cfg, device, extra=probe_memory(probes, data))  # the kernels, before any is formed
    from grokscope.models import build_model
    model = build_model(cfg.model, data.D, data)
    params0 = _init_params(cfg, model, data.D, dtype, device)
    if cfg.init.recurrent.kind != "none":  # Liu et al. 2024: one named matrix's initial connectivity
        from grokscope.numerics.initialise import apply_recurrent
        params0 = apply_recurrent(params0, cfg.init.recurrent, model.trainable, cfg.model.seed)
    if cfg.init.interp:  # paper Fig 10: W₀ toward the analytic solution (numerics/interp_init.py)
        from grokscope.numerics.interp_init import interpolate_init
        params0 = interpolate_init(params0, cfg, model, data)
    mask = _ticket_mask(cfg, model, params0) if cfg.init.mask_sparsity else None  # grokking tickets
    if mask is not None:
        from grokscope.numerics.masks import apply_mask
        params0 = apply_mask(params0, mask)  # rewound: the new run's θ₀ ⊙ m
    label = data.meta.get("labels_from_kernel")  # e.g. eigenvector labels of the initial NTK (tasks/eigen.py)
    if label is not None:
        from grokscope.diagnostics.ntk import ntk
        with torch.no_grad():
            K0 = ntk(model, params0, torch.cat([data.X_train, data.X_test]), alpha=cfg.scaling.alpha)
        data = label(data, K0)
    _check_outputs(cfg, model, params0, data)
    eta = learning_rate(cfg.scaling.lr_rule, cfg.optim.lr, cfg.scaling.alpha, model.width)
    loss = with_precision(get_loss(cfg.train.loss), cfg.train.logits_dtype, cfg.train.loss_dtype, dtype)
    from grokscope.engines import EngineInputs, choose_engine
    spec, why = choose_engine(cfg)
    engine = spec.build(EngineInputs(cfg, data, model, params0, loss, eta,
                                     torch.Generator().manual_seed(cfg.train.seed)))
    engine_name = spec.name
    if mask is not None:  # the mask stays fixed: masked gradients, weights re-masked after every update
        if not hasattr(engine, "opt"):
            raise ConfigError(f"init.mask_sparsity = {cfg.init.mask_sparsity!r}: needs an engine that trains the "
                              f"weights (train.engine = network); got {engine_name!r}")
        from grokscope.numerics.masks import Masked
        engine.opt = Masked(engine.opt, mask)
    data.meta["probe_settings"] = cfg.probes  # read by probes with settings (training/probe_robust.py)
    if getattr(engine, "grad_mode", cfg.train.grad) != cfg.train.grad:
        why += f"; gradients by autograd (model.name = {cfg.model.name!r} has no hand-written vjp)"
    return Built(data, model, engine, params0, tuple(probes), loss, eta, device, dtype, engine_name, why)


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
                          + ("; use model.name = mlp for vector targets" if supports(cfg.model, "scalar_output") else ""))


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


def _ticket_mask(cfg: Config, model: Any, params0: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """init.mask_*: the magnitude mask of ``init.mask_from``'s final weights, or a random mask with the
    same per-tensor counts (or, without a source run, round((1 − s)·n) kept entries per tensor)."""
    from grokscope.numerics import masks
    if supports(cfg.model, "batched"):
        raise ConfigError(f"init.mask_sparsity = {cfg.init.mask_sparsity!r}: masks are for the network engine "
                          f"of the mlp and transformer; model.name = {cfg.model.name!r} can train as a batched "
                          "ensemble, which would drop the mask")
    names = masks.prunable(params0, tuple(model.trainable))
    shapes = {k: tuple(params0[k].shape) for k in names}
    like = None
    if cfg.init.mask_from is not None:
        final = final_params(cfg.init.mask_from)
        bad = [k for k in names if k not in final or tuple(final[k].shape) != shapes[k]]
        if bad:
            raise ConfigError(f"init.mask_from = {cfg.init.mask_from!r}: its weights {', '.join(bad)} are missing "
                              f"or of another shape than this model's {[shapes[k] for k in bad]}")
        like = masks.magnitude_mask(final, cfg.init.mask_sparsity, names, cfg.init.mask_scope)
        if cfg.init.mask_kind == "magnitude":
            return like
    return masks.random_mask(shapes, torch.Generator().manual_seed(cfg.init.mask_seed), like=like,
                             sparsity=cfg.init.mask_sparsity)


def final_params(run_dir: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The final weights of a finished run (status completed): its saved ``params_final.pt`` where the run
    directory holds one (store.load_final_params), else replayed: the run's config rebuilt (data and θ₀ are
    deterministic) and its engine stepped ``summary.steps_done`` times without probes, which reproduces the
    run's weights bit for bit on the machine and thread count that ran it (probes never touch the engine)."""
    from grokscope.store import load_final_params, load_run
    try:
        src = load_run(run_dir)
    except FileNotFoundError:
        raise ConfigError(f"init.mask_from = {str(run_dir)!r}: no such run directory") from None
    if src.status != "completed":
        raise ConfigError(f"init.mask_from = {str(run_dir)!r}: the run is {src.status}; a ticket needs a "
                          "completed run (its final weights)")
    saved = load_final_params(run_dir)
    if saved is not None:
        return saved
    b = build(src.config)
    if not hasattr(b.engine, "params"):
        raise ConfigError(f"init.mask_from = {str(run_dir)!r}: its engine {b.engine_name!r} holds no weights")
    for _ in range(int(src.summary["steps_done"])):
        b.engine.step()
    return {k: v.detach().clone() for k, v in b.engine.params.items()}
