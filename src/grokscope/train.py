"""The training loop: build task, model and engine from a config, step, probe on the log
schedule, and write the run directory (metrics flushed periodically; summary at the end).

Divergence (NaN/inf) stops the run and is recorded; Ctrl-C leaves a readable directory whose
summary says ``interrupted``.
"""
from __future__ import annotations

import math
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grokscope import __version__
from grokscope.config import Config, ConfigError
from grokscope.diagnostics.events import format_events, grokking_events
from grokscope.diagnostics.laziness import k0_baseline, laziness_summary
from grokscope.losses import get_loss
from grokscope.optim import make_optimizer
from grokscope.probes import ProbeContext, initial_kernel, probe_steps, select_probes
from grokscope.scaling import learning_rate
from grokscope.schedule import log_schedule
from grokscope.store import Run, RunWriter, load_run, run_id
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


def check_resources(cfg: Config, device: torch.device) -> None:
    """Refuse sizes that cannot fit: ~6 parameter-sized buffers (θ, θ₀, grad, optimiser state)
    plus the (P + P_test)·N activations and the data, against 80 % of the device's memory."""
    t, m = cfg.task, cfg.model
    item = 8 if cfg.train.dtype == "float64" else 4
    need = item * (6 * m.N * (t.D + 1) + 2 * (t.P + t.P_test) * m.N + (t.P + t.P_test) * (t.D + 1))
    have = _memory_bytes(device)
    if need > 0.8 * have:
        raise ConfigError(
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
    data = TASKS[cfg.task.name](cfg.task).to(device, dtype)
    from grokscope.models import build_model
    model = build_model(cfg.model, data.D)
    params0 = _init_params(cfg, model, data.D, dtype, device)
    eta = learning_rate(cfg.scaling.lr_rule, cfg.optim.lr, cfg.scaling.alpha, model.width)
    loss = get_loss(cfg.train.loss)
    engine_name, why = cfg.train.engine, "requested"
    from grokscope.engines.reduced import build_reduced, reduced_exact_for
    exact, reason = reduced_exact_for(cfg)
    if engine_name == "auto":
        engine_name, why = ("reduced", f"auto: {reason}") if exact else ("network", f"auto: {reason}")
    if engine_name == "reduced" and not exact:
        raise ConfigError(f"train.engine = 'reduced': not exact for this config: {reason}")
    if cfg.model.init == "infinite" and engine_name != "reduced":
        raise ConfigError("model.init = 'infinite': only the reduced engine simulates the infinite-width "
                          f"limit, but this run uses the {engine_name} engine ({reason})")
    if engine_name == "reduced":
        engine = build_reduced(cfg, data, eta, W=params0["W"], init=cfg.model.init)
    else:
        from grokscope.engines.network import NetworkEngine
        gen = torch.Generator().manual_seed(cfg.train.seed)
        engine = NetworkEngine(model, params0, data, loss, make_optimizer(cfg.optim, eta),
                               alpha=cfg.scaling.alpha, centre=cfg.scaling.centre, grad=cfg.train.grad,
                               batch_size=cfg.optim.batch_size, generator=gen)
    return {"data": data, "model": model, "engine": engine, "params0": params0, "probes": probes, "loss": loss, "eta": eta,
            "device": device, "dtype": dtype, "engine_name": engine_name, "engine_reason": why}


def _init_params(cfg: Config, model: Any, D: int, dtype: torch.dtype, device: torch.device):
    gen = torch.Generator().manual_seed(cfg.model.seed)
    params = model.init(gen, dtype)
    if cfg.model.init_W:
        from grokscope.arrays import load_array
        params["W"] = load_array(cfg.model.init_W, "model.init_W", (cfg.model.N, D),
                                 shape_names=("model.N", "task.D")).to(dtype)
    return {k: v.to(device) for k, v in params.items()}


def default_run_dir(cfg: Config, label: str | None = None) -> Path:
    name = cfg.output.name or f"{label or 'run'}-{run_id(cfg)}"
    return Path(cfg.output.root) / name


def _versions() -> dict[str, str]:
    return {"grokscope": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": platform.platform()}


def run(cfg: Config, path: str | os.PathLike[str] | None = None, *, label: str | None = None,
        quiet: bool = False) -> Run:
    """Train one config and write its run directory; returns the loaded :class:`Run`."""
    path = Path(path) if path is not None else default_run_dir(cfg, label)
    t_start = time.perf_counter()
    b = build(cfg)  # every bad input fails here, before the directory is touched
    engine, data, loss, probes = b["engine"], b["data"], b["loss"], b["probes"]
    ctx = ProbeContext(engine, data, loss, model=b["model"])
    names = {p.name for p in probes}
    extra: dict[str, Any] = {}
    if names & {"ntk", "ntk_spectrum", "twin"}:
        t0 = time.perf_counter()
        K0 = initial_kernel(ctx)
        f0 = (engine.outputs("train"), engine.outputs("test"))
        extra["k0"] = k0_baseline(K0, f0[0], f0[1], data.y_train, data.y_test, cfg.events.k0_ridge)
        extra["k0"]["seconds"] = time.perf_counter() - t0
    if "twin" in names and cfg.model.init == "infinite":
        probes = [p for p in probes if p.name != "twin"]  # no finite network to linearise
        extra["twin"] = {"method": None, "reason": "infinite-width init: no finite θ₀ to linearise at; "
                                                   "see `grokscope theory` for the kernel-limit curve"}
    elif "twin" in names:
        from grokscope.engines.linearized import make_twin
        ctx.twin = make_twin(b["model"], b["params0"], data, cfg.train.loss, cfg.optim, b["eta"],
                             cfg.scaling.alpha, cfg.scaling.centre,
                             kernel_blocks=(ctx.cache["K0"]["train"], ctx.cache["K0"]["test_train"]),
                             batch_size=cfg.optim.batch_size,
                             generator=torch.Generator().manual_seed(cfg.train.seed))
        extra["twin"] = {"method": ctx.twin.method, "reason": ctx.twin.reason}
    writer = RunWriter(path, cfg)
    streams = None
    if cfg.output.stream:
        from grokscope.exporters import Streams
        streams = Streams(cfg, path)
    schedule = log_schedule(cfg.train.steps, cfg.train.log_per_decade)
    when = {p.name: probe_steps(p, cfg, schedule) for p in probes}
    rows: list[dict[str, Any]] = []
    probe_s = {p.name: 0.0 for p in probes}
    summary: dict[str, Any] = {
        "status": "running", "run_id": run_id(cfg), "label": label,
        "engine": {"name": b["engine_name"], "reason": b["engine_reason"]},
        "eta": b["eta"], "device": str(b["device"]), "dtype": cfg.train.dtype, "versions": _versions(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), **extra,
    }
    bar = None
    if cfg.train.progress and not quiet:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.train.steps, unit="step", dynamic_ncols=True, mininterval=0.5)
    check_every = 1 if b["device"].type == "cpu" else 100
    last_flush = time.perf_counter()
    train_s, step, j = 0.0, 0, 0
    status, reason = "completed", None
    try:
        while True:
            if step == schedule[j]:
                row: dict[str, Any] = {"step": step}
                ctx.cache["step"] = step
                for p in probes:
                    if step in when[p.name]:
                        t0 = time.perf_counter()
                        row.update(p.fn(ctx))
                        probe_s[p.name] += time.perf_counter() - t0
                rows.append(row)
                if streams is not None:
                    streams.log(row)
                j += 1
                if not all(math.isfinite(v) for k, v in row.items() if k != "step" and v is not None):
                    bad = [k for k, v in row.items() if k != "step" and v is not None and not math.isfinite(v)]
                    status, reason = "diverged", f"{', '.join(bad)} not finite at step {step}"
                    break
                if bar is not None:
                    bar.update(step - bar.n)
                    bar.set_postfix(train=f"{row['train_loss']:.3g}", test=f"{row['test_loss']:.3g}",
                                    refresh=False)
                if time.perf_counter() - last_flush > cfg.output.flush_every_s:
                    writer.write_metrics(rows)
                    last_flush = time.perf_counter()
            if step >= cfg.train.steps:
                break
            t0 = time.perf_counter()
            value = engine.step()
            if ctx.twin is not None:
                ctx.twin.step()
            step += 1
            if step % check_every == 0 and not math.isfinite(float(value)):
                status, reason = "diverged", f"train loss {float(value)} at step {step}"
                break
            train_s += time.perf_counter() - t0
    except KeyboardInterrupt:
        status, reason = "interrupted", f"interrupted (Ctrl-C) at step {step}"
    except Exception as exc:  # recorded, then re-raised: nothing logged so far is lost
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        if bar is not None:
            bar.close()
    if status in ("interrupted", "diverged") and rows and rows[-1]["step"] != step:
        try:  # record the state where the run stopped, so nothing reached is lost
            row = {"step": step}
            for p in probes:
                row.update(p.fn(ctx))
            rows.append(row)
        except Exception:  # noqa: BLE001 — a failed extra probe must not lose the rows we have
            pass
    summary.update(_finish(cfg, rows, status, reason, step, train_s, probe_s, t_start))
    if streams is not None:
        summary["stream"] = streams.close(rows, summary)
    writer.write_metrics(rows)
    writer.write_summary(summary)
    result = load_run(path)
    if cfg.output.plots and rows:
        from grokscope.plots import save_run_figures
        summary["figures"] = save_run_figures(result)
        writer.write_summary(summary)
        result.summary = summary
        if cfg.output.report:
            from grokscope.report import write_report
            write_report(path)
    if status == "interrupted":
        raise KeyboardInterrupt(reason)
    if status == "failed":
        raise RuntimeError(f"run failed, partial results kept in {path}: {reason}")
    return result


def _finish(cfg: Config, rows: list[dict[str, Any]], status: str, reason: str | None, step: int,
            train_s: float, probe_s: dict[str, float], t_start: float) -> dict[str, Any]:
    import pandas as pd
    out: dict[str, Any] = {"status": status, "steps_done": step,
                           "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if reason:
        out["reason"] = reason
    if status == "diverged":
        out["diverged_at"] = step
    if rows:
        df = pd.DataFrame(rows)
        metric = cfg.events.test_metric if cfg.events.test_metric in df else "test_loss"
        out["events"] = grokking_events(df, cfg.events.thresholds, cfg.events.relative, metric)
        out["laziness"] = laziness_summary(df, cfg.events.departure)
    total = time.perf_counter() - t_start
    out["timings"] = {"total_s": total, "train_s": train_s, "probes_s": probe_s,
                      "steps_per_s": step / train_s if train_s > 0 else None}
    return out


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
    if k0:
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
