"""The one training loop. A single run is an ensemble of one: :func:`run` and :func:`run_batched` both
build their members, wrap the engine(s) in a stepper and call :func:`train`, which probes each member
on its log schedule and steps every running member at once in tight chunks between probe points.

Divergence (NaN/inf train loss) stops that member and is recorded; Ctrl-C leaves readable directories
whose summaries say ``interrupted``. In an ensemble a member whose probe or twin fails is recorded as
``failed`` and stops alone; in a single run that failure ends the run (status ``failed``, re-raised).
"""
from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from grokscope.config import Config, ConfigError
from grokscope.store import Run, check_target, run_id
from grokscope.training import checkpoint
from grokscope.training.batched import check_batchable, ensemble_of
from grokscope.training.build import build, check_resources, resolve_device
from grokscope.training.exact_events import StepSearch
from grokscope.training.record import RunState
from grokscope.training.threads import ThreadPolicy, check_threads

After = Callable[[Run], None]  # what to write once a run directory is finished (figures, report)


class SingleStepper:
    """One engine as a stepper: ``step()`` returns its train loss (shape ()), ``nonfinite`` the
    positions (0 or none) whose loss is not finite, ``keep([])`` stops it."""

    def __init__(self, engine: Any):
        self.engine = self.target = engine  # target: what holds the state the steps change

    def step(self) -> torch.Tensor:
        return self.engine.step()

    @staticmethod
    def nonfinite(values: torch.Tensor) -> list[int]:
        return [] if math.isfinite(float(values)) else [0]

    @staticmethod
    def value(values: torch.Tensor, pos: int) -> float:
        return float(values)

    def keep(self, positions: Sequence[int]) -> None:
        pass


class EnsembleStepper:
    """A batched ensemble (engines/ensemble.py) as a stepper: losses (E,), members dropped by ``keep``."""

    def __init__(self, ensemble: Any):
        self.ensemble = self.target = ensemble

    def step(self) -> torch.Tensor:
        return self.ensemble.step()

    @staticmethod
    def nonfinite(values: torch.Tensor) -> list[int]:
        return torch.nonzero(~torch.isfinite(values)).flatten().tolist()

    @staticmethod
    def value(values: torch.Tensor, pos: int) -> float:
        return float(values[pos])

    def keep(self, positions: Sequence[int]) -> None:
        self.ensemble.keep(positions)


def train(states: list[RunState], stepper: Any, *, check_every: int = 1, policy: ThreadPolicy | None = None,
          bar: Any = None, start: int = 0, checkpoint_every_s: float | None = None
          ) -> dict[int, tuple[str, str | None, int]]:
    """Train the members of ``states`` (stepped together by ``stepper``) until each one completes,
    stops early, diverges or fails; returns {member: (status, reason, steps done)}. Between probe
    points the members step in a tight loop; the linearised twins then catch up (O(1) for the
    closed-form twin). ``policy`` (threads 'auto') re-reads the free cores before each chunk. A single
    run writes a checkpoint at a probe point once ``checkpoint_every_s`` seconds have passed since the
    last one (None: never) and goes on from ``start`` (a resumed checkpoint's step)."""
    E, isolate = len(states), len(states) > 1
    active, done = list(range(E)), {}
    step, last_flush = start, time.perf_counter()
    last_checkpoint = last_flush
    flush_every = min(rs.cfg.output.flush_every_s for rs in states)
    search = StepSearch(states, stepper, stepper.target)  # events at single-step resolution

    def stop(ids: dict[int, tuple[str, str | None]], at: int) -> None:
        nonlocal active
        for i, (status, why) in ids.items():
            done[i] = (status, why, at)
        stepper.keep([p for p, i in enumerate(active) if i not in ids])
        active = [i for i in active if i not in ids]

    try:
        while active:
            ended: dict[int, tuple[str, str | None]] = {}
            for i in active:
                rs = states[i]
                if rs.due(step):
                    try:
                        res = rs.probe(step)
                    except Exception as exc:  # noqa: BLE001 — a member of an ensemble fails alone
                        if not isolate:
                            raise
                        res = ("failed", f"{type(exc).__name__}: {exc}")
                    if res is not None:
                        ended[i] = res
                        continue
                if step >= rs.cfg.train.steps:
                    ended[i] = ("completed", None)
            if ended:
                stop(ended, step)
            if not active:
                break
            if bar is not None and states[0].rows:
                row = states[0].rows[-1]
                bar.update(step - bar.n)
                bar.set_postfix(train=f"{row['train_loss']:.3g}", test=f"{row['test_loss']:.3g}", refresh=False)
            if time.perf_counter() - last_flush > flush_every:
                for i in active:
                    states[i].flush()
                last_flush = time.perf_counter()
            if checkpoint_every_s is not None and not isolate and \
                    time.perf_counter() - last_checkpoint >= checkpoint_every_s:
                states[0].checkpoint(step)
                last_checkpoint = time.perf_counter()
            # a tight loop up to the next point where any running member probes or ends
            stop_at = min(min(states[i].cfg.train.steps, states[i].next_due() or math.inf) for i in active)
            running, start = list(active), step
            reached = {i: None for i in running}   # the step each member stopped at within the chunk
            if policy is not None and policy.threads == "auto":
                policy.apply()
            track, low = search.begin(step, stop_at, running), None
            t0 = time.perf_counter()
            try:
                while step < stop_at:
                    values = stepper.step()
                    if track:  # the running minimum of L_train(t), t in the chunk (exact_events.py)
                        low = values.detach().clone() if low is None else torch.fmin(low, values, out=low)
                    step += 1
                    if step % check_every == 0:
                        bad = stepper.nonfinite(values)
                        if bad:
                            ids = {active[p]: ("diverged", f"train loss {stepper.value(values, p)} at step {step}")
                                   for p in bad}
                            for i in ids:
                                reached[i] = step
                            stop(ids, step)
                            track = False  # the ensemble shrank: this chunk is not replayed
                            if not active:
                                break
            finally:
                dt = (time.perf_counter() - t0) / len(running)
                failed = {}
                for i in running:
                    states[i].train_s += dt
                    try:
                        states[i].step_twin((reached[i] or step) - start)
                    except Exception as exc:  # noqa: BLE001 — a member of an ensemble fails alone
                        if not isolate:
                            raise
                        failed[i] = ("failed", f"{type(exc).__name__}: {exc}")
                if failed:
                    stop({i: v for i, v in failed.items() if i in active}, step)
            search.end(step, running, active, low)
    except KeyboardInterrupt as exc:
        how = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
        for i in active:
            done[i] = ("interrupted", f"interrupted ({how}) at step {step}", step)
    except Exception as exc:  # noqa: BLE001 — recorded for every running member, then re-raised by the caller
        for i in active:
            done[i] = ("failed", f"{type(exc).__name__}: {exc}", step)
        raise _Crashed(done, step, exc) from exc
    return done


class Terminated(KeyboardInterrupt):
    """SIGTERM (what `kill` and cluster schedulers send), handled like Ctrl-C: flush, status interrupted."""


@contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (elsewhere: unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated("SIGTERM")

    before = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


class _Crashed(Exception):
    def __init__(self, done: dict[int, tuple[str, str | None, int]], step: int, exc: BaseException):
        super().__init__(str(exc))
        self.done, self.step, self.exc = done, step, exc


def default_run_dir(cfg: Config, label: str | None = None) -> Path:
    """``output.root / output.name``, or ``<label>-<config hash>`` (the label cut so the name stays ≤ NAME_MAX)."""
    from grokscope.config.limits import NAME_MAX
    label = (label or "run")[: NAME_MAX - 13]  # '-' + the 12-character hash
    name = cfg.output.name or f"{label}-{run_id(cfg)}"
    return Path(cfg.output.root) / name


def _check_every(device: torch.device) -> int:
    return 1 if device.type == "cpu" else 100  # a GPU sync per step would stall the queue


def run(cfg: Config, path: str | os.PathLike[str] | None = None, *, label: str | None = None,
        quiet: bool = False, threads: int | str | None = "auto", after: After | None = None,
        force: bool = False, checkpoint_every_s: float | None = 60.0) -> Run:
    """Train one config and write its run directory; returns the loaded :class:`Run`. ``after(run)``
    writes what the run directory holds beyond metrics and summary (grokscope.api: figures, report).
    A finished run of the same config already in ``path`` is returned as it is, and a directory holding
    another config's run is refused (ConfigError naming both hashes), unless ``force``. The directory
    is locked while the run writes it; SIGTERM is handled like Ctrl-C. Every ``checkpoint_every_s``
    seconds (at the next probe point; None: never) the run's state is checkpointed, and a rerun of an
    unfinished run of the same config resumes from its last checkpoint (:mod:`.checkpoint`).
    ``threads`` governs the whole run, probes and K₀ included (:mod:`grokscope.training.threads`):
    'auto' uses the cores no other process keeps busy, re-read at every probe point; an integer fixes
    the count; None leaves torch's setting. Torch's setting is restored afterwards."""
    check_threads(threads)
    if checkpoint_every_s is not None and (isinstance(checkpoint_every_s, bool) or
                                           not isinstance(checkpoint_every_s, (int, float)) or
                                           not 0 <= checkpoint_every_s < math.inf):
        raise ValueError(f"checkpoint_every_s = {checkpoint_every_s!r}: allowed are None (no checkpoints) "
                         "or a finite number of seconds ≥ 0 (0: at every probe point)")
    path = Path(path) if path is not None else default_run_dir(cfg, label)
    t_start = time.perf_counter()
    existing = check_target(path, cfg, force)
    if existing is not None:
        return existing
    policy = ThreadPolicy(threads)
    policy.apply()
    try:
        b = build(cfg)  # every bad input fails here, before the directory is touched
        saved = None if force else checkpoint.load(path)
        if saved is not None and saved.get("config_hash") != run_id(cfg):
            saved = None
        rs = RunState(cfg, path, label, b, t_start, force=force, resume=saved is not None)
        start = 0 if saved is None else checkpoint.resume_record(rs, saved)
        bar = None
        if cfg.train.progress and not quiet:
            from tqdm.auto import tqdm
            bar = tqdm(total=cfg.train.steps, initial=start, unit="step", dynamic_ncols=True, mininterval=0.5)
        try:
            with sigterm_as_interrupt():
                done = train([rs], SingleStepper(b.engine), check_every=_check_every(b.device), policy=policy,
                             bar=bar, start=start, checkpoint_every_s=checkpoint_every_s)
        except _Crashed as crash:
            done = crash.done
        finally:
            if bar is not None:
                bar.close()
        return rs.finish(*done[0], after=after)
    finally:
        policy.restore()


def run_batched(cfgs: Sequence[Config], paths: Sequence[str | os.PathLike[str]],
                labels: Sequence[str | None], *, after: After | None = None,
                threads: int | str | None = "auto", force: bool = False) -> list[Run]:
    """Train ``cfgs`` (equal :func:`~grokscope.training.batched.batch_key`) as one batched ensemble and
    write each run directory exactly as :func:`run` would (plus an ``ensemble`` summary entry); member
    i equals the single run to rounding. Ctrl-C and a failing batched step are re-raised after every
    directory is written; a member that fails alone is recorded (check each run's status). ``threads``
    as for :func:`run`. A directory holding a finished run, or another config's run, is refused (a
    ConfigError naming it) unless ``force``: an ensemble trains every member or none."""
    key = check_batchable(cfgs, paths, labels)
    for c, p in zip(cfgs, paths):
        if check_target(p, c, force) is not None:
            raise ConfigError(f"{p}: holds a finished run of this config; leave it out of the ensemble, "
                              "or force to train it again")
    policy = ThreadPolicy(threads)
    policy.apply()
    try:
        return _run_batched(cfgs, paths, labels, key, after, policy)
    finally:
        policy.restore()


def _run_batched(cfgs: Sequence[Config], paths: Sequence[str | os.PathLike[str]], labels: Sequence[str | None],
                 key: str, after: After | None, policy: ThreadPolicy) -> list[Run]:
    check_resources(cfgs[0], resolve_device(cfgs[0].train.device), members=len(cfgs))
    t_start = time.perf_counter()
    bs = [build(c) for c in cfgs]  # every bad input fails here, before any directory is touched
    ens = ensemble_of(bs, cfgs[0])
    states: list[RunState] = []
    try:
        for c, p, lab, b in zip(cfgs, paths, labels, bs):
            states.append(RunState(c, Path(p), lab, b, t_start, force=True))
    except BaseException:
        for rs in states:
            rs.writer.close()
        raise
    for i, rs in enumerate(states):
        rs.summary["ensemble"] = {"size": len(cfgs), "member": i, "batch_key": key, "engine": type(ens).__name__}
    crashed: _Crashed | None = None
    try:
        with sigterm_as_interrupt():
            done = train(states, EnsembleStepper(ens), check_every=_check_every(bs[0].device), policy=policy)
    except _Crashed as crash:
        done, crashed = crash.done, crash
    runs, errors = [], []
    for i, rs in enumerate(states):  # every member's directory is written, even if another one's fails
        try:
            runs.append(rs.finish(*done[i], after=after, raise_=False))
        except Exception as exc:  # noqa: BLE001 — re-raised below, after the other members
            errors.append(exc)
    if errors:
        raise errors[0]
    last = max(d[2] for d in done.values())
    if any(d[0] == "interrupted" for d in done.values()):
        raise KeyboardInterrupt(f"ensemble interrupted at step {last}; partial results kept")
    if crashed is not None:
        raise RuntimeError(f"ensemble failed at step {crashed.step}, partial results kept: "
                           f"{type(crashed.exc).__name__}: {crashed.exc}") from crashed.exc
    return runs
