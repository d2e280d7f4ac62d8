"""The training loop: build task, model and engine from a config, step, probe on the log
schedule, and write the run directory (metrics flushed periodically; summary at the end).

Divergence (NaN/inf) stops the run and is recorded; Ctrl-C leaves a readable directory whose
summary says ``interrupted``.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from grokscope.config import Config, ConfigError
from grokscope.diagnostics.events import format_events
from grokscope.losses import get_loss, with_precision
from grokscope.optim import make_optimizer
from grokscope.probes import select_probes
from grokscope.runstate import RunState
from grokscope.scaling import learning_rate
from grokscope.store import Run, run_id
from grokscope.tasks.base import TASKS

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
        from grokscope.exporters import require
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
        from grokscope.arrays import load_array
        params["W"] = load_array(cfg.model.init_W, "model.init_W", (cfg.model.N, D),
                                 shape_names=("model.N", "task.D")).to(dtype)
    if cfg.init.rank is not None or cfg.init.scale != 1.0:
        if getattr(cfg.model, "init", None) == "infinite":
            raise ConfigError("init.rank / init.scale: transform sampled weights, but model.init = 'infinite' "
                              "has none (set model.sigma for the infinite-width scale)")
        from grokscope.initialise import apply_init
        params = apply_init(params, cfg.init, model.trainable)
    return {k: v.to(device) for k, v in params.items()}


def default_run_dir(cfg: Config, label: str | None = None) -> Path:
    name = cfg.output.name or f"{label or 'run'}-{run_id(cfg)}"
    return Path(cfg.output.root) / name


def run(cfg: Config, path: str | os.PathLike[str] | None = None, *, label: str | None = None,
        quiet: bool = False, threads: int | None = None) -> Run:
    """Train one config and write its run directory; returns the loaded :class:`Run`.
    ``threads``: CPU threads for the training steps only (probes, K₀ and figures keep torch's
    setting); None leaves torch's setting everywhere. One thread avoids the collapse of spin-waiting
    OpenMP threads on a busy machine (README, Performance)."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads = {threads!r}: allowed are None (torch's setting) or an integer ≥ 1")
    path = Path(path) if path is not None else default_run_dir(cfg, label)
    t_start = time.perf_counter()
    b = build(cfg)  # every bad input fails here, before the directory is touched
    engine = b["engine"]
    rs = RunState(cfg, path, label, b, t_start)
    bar = None
    if cfg.train.progress and not quiet:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.train.steps, unit="step", dynamic_ncols=True, mininterval=0.5)
    check_every = 1 if b["device"].type == "cpu" else 100
    last_flush = time.perf_counter()
    step = 0
    status, reason = "completed", None
    try:
        while True:
            if rs.due(step):
                stop = rs.probe(step)
                if stop is not None:
                    status, reason = stop
                    break
                if bar is not None:
                    row = rs.rows[-1]
                    bar.update(step - bar.n)
                    bar.set_postfix(train=f"{row['train_loss']:.3g}", test=f"{row['test_loss']:.3g}",
                                    refresh=False)
                if time.perf_counter() - last_flush > cfg.output.flush_every_s:
                    rs.flush()
                    last_flush = time.perf_counter()
            if step >= cfg.train.steps:
                break
            # a tight loop up to the next logged step; the twin catches up after it (O(1))
            nxt = rs.next_due()
            stop_at = cfg.train.steps if nxt is None else min(nxt, cfg.train.steps)
            start, t0 = step, time.perf_counter()
            probe_threads = torch.get_num_threads()
            if threads is not None:
                torch.set_num_threads(threads)
            try:
                while step < stop_at:
                    value = engine.step()
                    step += 1
                    if step % check_every == 0 and not math.isfinite(float(value)):
                        status, reason = "diverged", f"train loss {float(value)} at step {step}"
                        break
            finally:
                torch.set_num_threads(probe_threads)
                rs.step_twin(step - start)
                rs.train_s += time.perf_counter() - t0
            if status == "diverged":
                break
    except KeyboardInterrupt:
        status, reason = "interrupted", f"interrupted (Ctrl-C) at step {step}"
    except Exception as exc:  # noqa: BLE001 — recorded, then re-raised: nothing logged so far is lost
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        if bar is not None:
            bar.close()
    return rs.finish(status, reason, step)


def summary_lines(r: Run) -> list[str]:
    """The printed end-of-run summary."""
    s = r.summary or {}
    lines = [f"run {r.path}  status: {r.status}" + (f" ({s['reason']})" if s.get("reason") else "")]
    if s.get("engine"):
        lines.append(f"engine: {s['engine']['name']} ({s['engine']['reason']}); η = {s.get('eta'):.6g}")
    ev = s.get("events")
    if ev:
        fin = ev["final"]
        parts = [f"{k} {v:.4g}" for k, v in fin.items() if k != "step" and v is not None]
        lines.append(f"final (step {fin['step']}): " + ", ".join(parts))
        lines.extend(format_events(ev))
    k0 = s.get("k0")
    if k0 and "test_mse" in k0:
        warn = f"  WARNING: {k0['warning']}" if k0.get("warning") else ""
        lines.append(f"K₀ kernel regression (lazy limit): train MSE {k0['train_mse']:.4g}, test MSE "
                     f"{k0['test_mse']:.4g} (cond {k0['cond']:.3g}){warn}")
    lz = s.get("laziness", {})
    if lz.get("verdict"):
        extra = ", ".join(f"{k.removeprefix('final_').replace('_', ' ')} {lz[k]:.3g}"
                          for k in ("final_kernel_distance", "final_param_change") if k in lz)
        lines.append(f"laziness: {lz['verdict']}" + (f" (final {extra})" if extra else ""))
    tm = s.get("timings")
    if tm:
        sps = f", {tm['steps_per_s']:.0f} steps/s" if tm.get("steps_per_s") else ""
        lines.append(f"wall time {tm['total_s']:.1f} s (training {tm['train_s']:.1f} s{sps})")
    return lines
