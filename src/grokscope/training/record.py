"""The record of one run: probes on the log schedule, the K₀ baseline and linearised twin, the
logged rows, early stopping, live streams, and writing the run directory (metrics, summary,
figures, report). Shared by :func:`grokscope.training.loop.run` and :func:`grokscope.training.batched.run_batched`.
"""
from __future__ import annotations

import math
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grokscope.config import Config
from grokscope.diagnostics.events import grokking_events
from grokscope.diagnostics.laziness import k0_baseline, laziness_summary
from grokscope.models.registry import supports
from grokscope.store import FINISHED, Run, RunWriter, load_run, run_id
from grokscope.training.probe_cache import ProbeContext, initial_kernel
from grokscope.training.probes import probe_steps
from grokscope.training.schedule import log_schedule
from grokscope.version import __version__


def _versions() -> dict[str, str]:
    return {"grokscope": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": platform.platform()}


class RunState:
    """The per-run bookkeeping shared by :func:`run` and :func:`grokscope.training.batched.run_batched`:
    probes and their schedule, the K₀ baseline and linearised twin, the logged rows, early
    stopping, and writing the run directory. ``b`` is :func:`build`'s dict for this run's config;
    its ``engine`` may be a member view of an ensemble (same read-outs)."""

    def __init__(self, cfg: Config, path: Path, label: str | None, b: Any, t_start: float,
                 force: bool = False, resume: bool = False):
        from grokscope.training.stopping import EventWatch
        self.cfg, self.path, self.label, self.b, self.t_start = cfg, path, label, b, t_start
        engine, data, loss, probes = b.engine, b.data, b.loss, b.probes
        self.ctx = ctx = ProbeContext(engine, data, loss, model=b.model)
        names = {p.name for p in probes}
        extra: dict[str, Any] = {}
        if names & {"ntk", "ntk_spectrum"} or ("twin" in names and supports(cfg.model, "kernel_twin")):
            t0 = time.perf_counter()
            K0 = initial_kernel(ctx)
            f0 = (engine.outputs("train"), engine.outputs("test"))
            if cfg.train.loss == "mse":
                extra["k0"] = k0_baseline(K0.train, K0.test_train, f0[0], f0[1], data.y_train, data.y_test,
                                          cfg.events.k0_ridge)
                extra["k0"]["seconds"] = time.perf_counter() - t0
            else:  # kernel regression is the lazy limit of the squared loss only
                extra["k0"] = {"skipped": f"train.loss = {cfg.train.loss!r}: the K₀ regression baseline "
                                          "is for mse"}
        if "twin" in names and getattr(cfg.model, "init", None) == "infinite":
            probes = [p for p in probes if p.name != "twin"]  # no finite network to linearise
            extra["twin"] = {"method": None, "reason": "infinite-width init: no finite θ₀ to linearise at; "
                                                       "see `grokscope theory` for the kernel-limit curve"}
        elif "twin" in names:
            from grokscope.engines.linearised import make_twin
            # the function-space closed form needs scalar-output kernel blocks (the committee's K₀);
            # other models get the parameter-space twin
            blocks = ((ctx.cache.K0.train, ctx.cache.K0.test_train)
                      if ctx.cache.K0 is not None and data.y_train.ndim == 1 else None)  # (P, K): K₀ is the output trace
            ctx.twin = make_twin(b.model, b.params0, data, cfg.train.loss, cfg.optim, b.eta,
                                 cfg.scaling.alpha, cfg.scaling.centre, kernel_blocks=blocks,
                                 batch_size=cfg.optim.batch_size,
                                 generator=torch.Generator().manual_seed(cfg.train.seed))
            extra["twin"] = {"method": ctx.twin.method, "reason": ctx.twin.reason}
        self.probes = probes
        self.writer = RunWriter(path, cfg, force=force, keep=resume)
        self.streams = None
        if cfg.output.stream:
            from grokscope.training.exporters import Streams
            self.streams = Streams(cfg, path)
        self.schedule = log_schedule(cfg.train.steps, cfg.train.log_per_decade)
        self.when = {p.name: probe_steps(p, cfg, self.schedule) for p in probes}
        self.rows: list[dict[str, Any]] = []
        self.probe_s = {p.name: 0.0 for p in probes}
        self.summary: dict[str, Any] = {
            "status": "running", "run_id": run_id(cfg), "label": label,
            "engine": {"name": b.engine_name, "reason": b.engine_reason},
            "eta": b.eta, "device": str(b.device), "dtype": cfg.train.dtype, "versions": _versions(),
            "sizes": {"P": int(data.y_train.shape[0]), "P_test": int(data.y_test.shape[0]),
                      "width": int(b.model.width)},
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), **extra,
        }
        self.watch = EventWatch(cfg)
        self.event_probes, self.event_metric = _event_probes(cfg, probes)
        self.watch.metric = self.event_metric
        self._event_row: tuple[int, dict[str, dict[str, float]]] | None = None
        self.j = 0
        self.train_s = 0.0

    def due(self, step: int) -> bool:
        """Whether ``step`` is the next point of the log schedule."""
        return self.j < len(self.schedule) and step == self.schedule[self.j]

    def probe(self, step: int) -> tuple[str, str] | None:
        """Log the row of ``step``; (status, reason) when the run must stop here (the train loss is not
        finite: diverged; events settled under ``train.early_stop``: completed), else None. A diagnostic
        that raises or is not finite never stops the run: its metrics are NaN (or as computed) and the
        first reason is kept in the summary's ``diagnostics``."""
        row: dict[str, Any] = {"step": step}
        self.ctx.cache.step = step
        for p in self.probes:
            if step in self.when[p.name]:
                t0 = time.perf_counter()
                try:
                    hit = self._event_row
                    # the loop evaluated the event probes at this very state (exact_events.StepSearch.end)
                    row.update(hit[1][p.name] if hit is not None and hit[0] == step and p.name in hit[1]
                               else p.fn(self.ctx))
                except Exception as exc:  # noqa: BLE001 — recorded; only the model's own loss ends a run
                    if p.name == "loss":
                        raise
                    row.update({m: math.nan for m in p.metrics})
                    self._note(p.name, f"{type(exc).__name__}: {exc} (step {step})")
                self.probe_s[p.name] += time.perf_counter() - t0
        self._event_row = None
        self.rows.append(row)
        if self.streams is not None:
            self.streams.log(row)
        self.j += 1
        train_loss = row.get("train_loss")
        if train_loss is not None and not math.isfinite(train_loss):
            return "diverged", f"train_loss not finite at step {step}"
        for k, v in row.items():
            if k != "step" and v is not None and not math.isfinite(v):
                self._note(k, f"not finite ({v}) from step {step}")
        if self.watch.update(row) and step < self.cfg.train.steps:
            self.summary["early_stop"] = {"step": step, "last_crossing": self.watch.last_crossing,
                                          "factor": self.cfg.train.early_stop}
            return "completed", self.watch.reason(step)
        return None

    def event_values(self, step: int) -> tuple[float, float]:
        """(train_loss, events.test_metric) of the engine's current state, by the probes that log them
        (training/exact_events.py evaluates them between logged steps); NaN where a probe fails."""
        row: dict[str, Any] = {}
        done: dict[str, dict[str, float]] = {}
        before, self.ctx.cache.step = self.ctx.cache.step, step
        try:
            for p in self.event_probes:
                try:
                    done[p.name] = p.fn(self.ctx)
                    row.update(done[p.name])
                except Exception:  # noqa: BLE001 — the logged row records the failure; NaN never crosses
                    row.update({m: math.nan for m in p.metrics})
        finally:
            self.ctx.cache.step = before
        self._event_row = (step, done)  # reused by probe(step) if the state is still this step's
        return row["train_loss"], row[self.event_metric]

    def _note(self, key: str, reason: str) -> None:
        """Keep the first reason a diagnostic failed or went non-finite (summary['diagnostics'])."""
        self.summary.setdefault("diagnostics", {}).setdefault(key, reason)

    def next_due(self) -> int | None:
        """The next step of the log schedule (None after the last)."""
        return int(self.schedule[self.j]) if self.j < len(self.schedule) else None

    def step_twin(self, n: int = 1) -> None:
        """Advance the linearised twin ``n`` steps. The closed-form twin is exact at any step, so it
        only counts (its read-outs evaluate the closed form at t): O(1) instead of O(P) per step."""
        if self.ctx.twin is not None and n > 0:
            try:
                self.ctx.twin.advance(n)
            except Exception as exc:  # noqa: BLE001 — a diagnostic: recorded, the twin is dropped (NaN)
                self.ctx.twin = None
                self._note("twin", f"{type(exc).__name__}: {exc}")

    def flush(self) -> None:
        self.writer.write_metrics(self.rows)

    def checkpoint(self, step: int) -> None:
        """Write checkpoint.pt: this record, its engine and twin at ``step`` (a probe point)."""
        from grokscope.training import checkpoint
        self.writer.write_metrics(self.rows)
        checkpoint.save(self.path, checkpoint.record_state(self, step))

    def finish(self, status: str, reason: str | None, step: int, *, after: Any = None,
               raise_: bool = True) -> Run:
        """Write metrics and summary, then ``after(run)`` (figures, report: grokscope.api) when rows were
        logged; with ``raise_``, re-raise an interrupt or failure."""
        rows, cfg = self.rows, self.cfg
        if status in ("interrupted", "diverged") and rows and rows[-1]["step"] != step:
            try:  # record the state where the run stopped, so nothing reached is lost
                row = {"step": step}
                self.ctx.cache.step = step
                for p in self.probes:
                    row.update(p.fn(self.ctx))
                rows.append(row)
            except Exception:  # noqa: BLE001, S110 — a failed extra probe must not lose the rows we have
                pass
        summary = self.summary
        summary.update(_finish(cfg, rows, status, reason, step, self.train_s, self.probe_s, self.t_start))
        if "events" in summary:  # t_train / t_test at single-step resolution (training/exact_events.py)
            summary["events"] = self.watch.exact.apply(summary["events"])
            summary["event_resolution"] = self.watch.exact.report()
        if self.streams is not None:
            summary["stream"] = self.streams.close(rows, summary)
        corrupted = self.ctx.data.meta.get("corrupted")
        if corrupted is not None:  # task.label_noise: which train labels were replaced (sorted indices)
            summary["label_noise"] = {"corrupted": [int(i) for i in corrupted]}
        try:
            self.writer.write_metrics(rows)
            self.writer.write_summary(summary)
            result = load_run(self.path)
            if after is not None and rows:
                after(result)
            if status in FINISHED:
                from grokscope.training.checkpoint import FILE
                params = getattr(self.ctx.engine, "params", None)
                if isinstance(params, dict) and params:  # final weights (init.mask_from reads them)
                    from grokscope.store import save_final_params
                    save_final_params(self.path, params)
                (self.path / FILE).unlink(missing_ok=True)
        finally:
            self.writer.close()
        if raise_ and status == "interrupted":
            raise KeyboardInterrupt(reason)
        if raise_ and status == "failed":
            raise RuntimeError(f"run failed, partial results kept in {self.path}: {reason}")
        return result


def _event_probes(cfg: Config, probes: list[Any]) -> tuple[list[Any], str]:
    """The probes that write train_loss and the events' test metric (test_loss when no probe writes
    ``events.test_metric``, as :func:`_finish` falls back), and that metric's column name."""
    metric = cfg.events.test_metric if any(cfg.events.test_metric in p.metrics for p in probes) else "test_loss"
    return [p for p in probes if {"train_loss", metric} & set(p.metrics)], metric


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
