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

import torch

from grokscope.config import Config
from grokscope.store import Run, run_id
from grokscope.training.build import build
from grokscope.training.record import RunState


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
    engine = b.engine
    rs = RunState(cfg, path, label, b, t_start)
    bar = None
    if cfg.train.progress and not quiet:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.train.steps, unit="step", dynamic_ncols=True, mininterval=0.5)
    check_every = 1 if b.device.type == "cpu" else 100
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
