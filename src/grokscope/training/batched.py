"""Train many configs as one batched ensemble (leading member axis) and write one run directory each.

``batch_key(cfg)`` groups configs that can share one ensemble: equal keys mean the configs differ
only in per-member values —

  per member (free):  scaling.alpha, model.eps, model.seed, model.sigma, optim.lr, scaling.lr_rule
                      (η is computed per member), train.steps, train.log_per_decade,
                      train.early_stop, train.progress, probes.*, events.*, output.*
  shared (in the key): everything else — task.* (the data is shared, so its seeds too), model.N,
                      phi, k, readouts, readout_init, init, init_W, scaling.centre, optim.* except
                      lr (kind, momentum, betas, weight decay, batch size), train.engine, loss, grad,
                      device, dtype, seed (the mini-batch sequence is shared).

``None`` means the config cannot be batched (autograd gradients, a loss other than mse, a model
without a batched engine). ``run_batched(cfgs, paths, labels)`` trains the configs of one key as
one ensemble (:mod:`grokscope.engines.ensemble`) and writes each directory exactly as
:func:`grokscope.training.loop.run` would: the same rows, events and summary (plus an ``ensemble`` entry),
member i equal to the single run to rounding. A member whose loss turns NaN/inf stops alone and is
recorded as diverged at that step; members stop at their own ``train.steps`` or early stop, and
stopped members are dropped from the batched step. A member whose probe or twin raises is
recorded as ``failed`` with the error and stops alone (the call returns normally; check each run's
status); an error in the batched step itself fails every running member and is re-raised, as is
Ctrl-C, after every directory is written.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from grokscope.config import Config, ConfigError
from grokscope.models.registry import supports
from grokscope.store import Run

__all__ = ["MEMBER_KEYS", "batch_key", "run_batched"]

# dotted keys that may differ between the members of one ensemble
MEMBER_KEYS = ("scaling.alpha", "scaling.lr_rule", "model.eps", "model.seed", "model.sigma", "optim.lr",
               "train.steps", "train.log_per_decade", "train.early_stop", "train.progress")
MEMBER_SECTIONS = ("probes", "events", "output")


def _unbatchable(cfg: Config) -> str | None:
    if not supports(cfg.model, "batched"):
        return f"model.name = {cfg.model.name!r}: only the committee has a batched engine"
    if cfg.train.loss != "mse":
        return f"train.loss = {cfg.train.loss!r}: the batched engines train the mse loss"
    if cfg.train.grad != "analytic":
        return f"train.grad = {cfg.train.grad!r}: the batched engines use the analytic gradients"
    return None


def batch_key(cfg: Config) -> str | None:
    """Key of the ensemble ``cfg`` can join (equal keys ⇒ batchable together), or None."""
    if _unbatchable(cfg) is not None:
        return None
    d = cfg.to_dict()
    for sec in MEMBER_SECTIONS:
        d.pop(sec, None)
    for key in MEMBER_KEYS:
        sec, name = key.split(".")
        d[sec].pop(name, None)
    blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _check(cfgs: Sequence[Config], paths: Sequence[Any], labels: Sequence[str | None]) -> str:
    if not cfgs:
        raise ConfigError("run_batched: no configs given")
    if not len(cfgs) == len(paths) == len(labels):
        raise ConfigError(f"run_batched: {len(cfgs)} configs, {len(paths)} paths and {len(labels)} labels; "
                          "give one path and one label per config")
    keys = [batch_key(c) for c in cfgs]
    for i, (c, k) in enumerate(zip(cfgs, keys)):
        if k is None:
            raise ConfigError(f"run_batched: config {i} cannot be batched: {_unbatchable(c)}")
        if k != keys[0]:
            raise ConfigError(f"run_batched: config {i} differs from config 0 in a shared (non-member) "
                              f"value; batch only configs with equal batch_key (member values: "
                              f"{', '.join(MEMBER_KEYS)}, {', '.join(s + '.*' for s in MEMBER_SECTIONS)})")
    if len({str(Path(p).resolve()) for p in paths}) != len(paths):
        raise ConfigError("run_batched: two members share a run directory; give distinct paths")
    return keys[0]


def _ensemble(bs: list[dict[str, Any]], cfg0: Config) -> Any:
    from grokscope.engines.ensemble import EnsembleNetwork, EnsembleReduced
    engines = [b.engine for b in bs]
    if bs[0].engine_name == "reduced":
        return EnsembleReduced(engines)
    return EnsembleNetwork(engines, [b.eta for b in bs], cfg0.optim, batch_size=cfg0.optim.batch_size,
                           generator=torch.Generator().manual_seed(cfg0.train.seed))


def run_batched(cfgs: Sequence[Config], paths: Sequence[str | os.PathLike[str]],
                labels: Sequence[str | None]) -> list[Run]:
    """Train ``cfgs`` (equal :func:`batch_key`) as one ensemble; write and return each run."""
    from grokscope.training.build import build, check_resources, resolve_device
    from grokscope.training.record import RunState
    key = _check(cfgs, paths, labels)
    check_resources(cfgs[0], resolve_device(cfgs[0].train.device), members=len(cfgs))
    t_start = time.perf_counter()
    bs = [build(c) for c in cfgs]  # every bad input fails here, before any directory is touched
    ens = _ensemble(bs, cfgs[0])
    states = [RunState(c, Path(p), lab, b, t_start) for c, p, lab, b in zip(cfgs, paths, labels, bs)]
    E = len(cfgs)
    for i, rs in enumerate(states):
        rs.summary["ensemble"] = {"size": E, "member": i, "batch_key": key, "engine": type(ens).__name__}
    active = list(range(E))          # member ids, in the ensemble's current order
    done: dict[int, tuple[str, str | None, int]] = {}
    check_every = 1 if bs[0].device.type == "cpu" else 100
    last_flush = time.perf_counter()
    flush_every = min(c.output.flush_every_s for c in cfgs)
    step = 0

    def stop(ids: dict[int, tuple[str, str | None]]) -> None:
        nonlocal active
        for i, (st, why) in ids.items():
            done[i] = (st, why, step)
        ens.keep([p for p, i in enumerate(active) if i not in ids])
        active = [i for i in active if i not in ids]

    try:
        while active:
            ended: dict[int, tuple[str, str | None]] = {}
            for i in active:
                rs = states[i]
                if rs.due(step):
                    try:
                        res = rs.probe(step)
                    except Exception as exc:  # noqa: BLE001 — this member fails alone, recorded
                        res = ("failed", f"{type(exc).__name__}: {exc}")
                    if res is not None:
                        ended[i] = res
                        continue
                if step >= cfgs[i].train.steps:
                    ended[i] = ("completed", None)
            if ended:
                stop(ended)
            if not active:
                break
            if time.perf_counter() - last_flush > flush_every:
                for i in active:
                    states[i].flush()
                last_flush = time.perf_counter()
            t0 = time.perf_counter()
            ids_at_step = list(active)
            values = ens.step()
            twin_failed: dict[int, tuple[str, str | None]] = {}
            for i in active:
                try:
                    states[i].step_twin()
                except Exception as exc:  # noqa: BLE001 — this member fails alone, recorded
                    twin_failed[i] = ("failed", f"{type(exc).__name__}: {exc}")
            if twin_failed:  # as a single run: the engine stepped, the step is not counted
                stop(twin_failed)
            step += 1
            if step % check_every == 0 and active:
                bad = torch.nonzero(~torch.isfinite(values)).flatten().tolist()
                if bad:
                    vals = values.tolist()
                    stop({ids_at_step[p]: ("diverged", f"train loss {vals[p]} at step {step}")
                          for p in bad if ids_at_step[p] in active})
            dt = (time.perf_counter() - t0) / max(len(active), 1)
            for i in active:
                states[i].train_s += dt
    except KeyboardInterrupt:
        for i in active:
            done[i] = ("interrupted", f"interrupted (Ctrl-C) at step {step}", step)
    except Exception as exc:  # noqa: BLE001 — the batched step failed: every running member, re-raised
        for i in active:
            done[i] = ("failed", f"{type(exc).__name__}: {exc}", step)
        crashed: BaseException | None = exc
    else:
        crashed = None
    runs, errors = [], []
    for i in range(E):  # every member's directory is written, even if another one's writing fails
        try:
            runs.append(states[i].finish(*done[i][:2], done[i][2], raise_=False))
        except Exception as exc:  # noqa: BLE001 — re-raised below, after the other members
            errors.append(exc)
    if errors:
        raise errors[0]
    if any(done[i][0] == "interrupted" for i in range(E)):
        raise KeyboardInterrupt(f"ensemble interrupted at step {step}; partial results kept")
    if crashed is not None:
        raise RuntimeError(f"ensemble failed at step {step}, partial results kept: "
                           f"{type(crashed).__name__}: {crashed}") from crashed
    return runs


def member_paths(cfgs: Sequence[Config], labels: Sequence[str | None]) -> list[Path]:
    """The default run directory of each config (as :func:`grokscope.training.loop.default_run_dir`)."""
    from grokscope.training.loop import default_run_dir
    return [default_run_dir(c, lab) for c, lab in zip(cfgs, labels)]
