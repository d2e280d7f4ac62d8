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

Models with a hand-written gradient (the committee) use the hand-written batched engines and need
train.loss = mse, train.grad = analytic. Other models that declare ``batched`` (the rate RNN) use
:class:`~grokscope.engines.ensemble_autograd.EnsembleAutograd` (vmap of autograd, any loss); their
members may also differ in every ``init.*`` setting (θ₀ is built per member), but they share the
model section except model.seed (``model.eps``/``model.sigma`` are not member values there).
``None`` means the config cannot be batched (a model without a batched engine, task.online, or for
the committee autograd gradients or a loss other than mse). ``run_batched(cfgs, paths, labels)`` trains the configs of one key as
one ensemble (:mod:`grokscope.engines.ensemble`; the loop is :func:`grokscope.training.loop.train`, the
one loop single runs use too) and writes each directory exactly as :func:`grokscope.training.loop.run` would: the same rows, events and summary (plus an ``ensemble`` entry),
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from grokscope.config import Config, ConfigError
from grokscope.models.registry import supports

__all__ = ["MEMBER_KEYS", "batch_key", "check_batchable", "ensemble_of"]

# dotted keys that may differ between the members of one ensemble
MEMBER_KEYS = ("scaling.alpha", "scaling.lr_rule", "model.eps", "model.seed", "model.sigma", "optim.lr",
               "train.steps", "train.log_per_decade", "train.early_stop", "train.progress")
MEMBER_SECTIONS = ("probes", "events", "output")
# the autograd ensemble (models without a hand-written gradient): θ₀ is built per member, the model is shared
AUTOGRAD_MEMBER_KEYS = tuple(k for k in MEMBER_KEYS if k not in ("model.eps", "model.sigma"))
AUTOGRAD_MEMBER_SECTIONS = MEMBER_SECTIONS + ("init",)


def _autograd_ensemble(cfg: Config) -> bool:
    """Whether ``cfg`` batches through EnsembleAutograd (a batched model without a hand-written gradient)."""
    return not supports(cfg.model, "hand_gradient")


def _unbatchable(cfg: Config) -> str | None:
    if not supports(cfg.model, "batched"):
        return f"model.name = {cfg.model.name!r}: this model declares no batched engine"
    if getattr(cfg.task, "online", False):
        return "task.online = true: the batched engines train one fixed train set"
    if _autograd_ensemble(cfg):
        return None
    if cfg.train.loss != "mse":
        return f"train.loss = {cfg.train.loss!r}: the committee's batched engines train the mse loss"
    if cfg.train.grad != "analytic":
        return f"train.grad = {cfg.train.grad!r}: the committee's batched engines use the analytic gradients"
    return None


def _member_keys(cfg: Config) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(dotted member keys, member sections) for the ensemble engine ``cfg`` would use."""
    if _autograd_ensemble(cfg):
        return AUTOGRAD_MEMBER_KEYS, AUTOGRAD_MEMBER_SECTIONS
    return MEMBER_KEYS, MEMBER_SECTIONS


def batch_key(cfg: Config) -> str | None:
    """Key of the ensemble ``cfg`` can join (equal keys ⇒ batchable together), or None."""
    if _unbatchable(cfg) is not None:
        return None
    d = cfg.to_dict()
    keys, sections = _member_keys(cfg)
    for sec in sections:
        d.pop(sec, None)
    for key in keys:
        sec, name = key.split(".")
        d[sec].pop(name, None)
    blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def check_batchable(cfgs: Sequence[Config], paths: Sequence[Any], labels: Sequence[str | None]) -> str:
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
            mk, ms = _member_keys(c)
            raise ConfigError(f"run_batched: config {i} differs from config 0 in a shared (non-member) "
                              f"value; batch only configs with equal batch_key (member values: "
                              f"{', '.join(mk)}, {', '.join(s + '.*' for s in ms)})")
    if len({str(Path(p).resolve()) for p in paths}) != len(paths):
        raise ConfigError("run_batched: two members share a run directory; give distinct paths")
    return keys[0]


def ensemble_of(bs: list[Any], cfg0: Config) -> Any:
    """The batched ensemble engine of the members' single-run engines (their builds ``bs``)."""
    from grokscope.engines.ensemble import EnsembleNetwork, EnsembleReduced
    engines = [b.engine for b in bs]
    if bs[0].engine_name == "reduced":
        return EnsembleReduced(engines)
    if _autograd_ensemble(cfg0):
        from grokscope.engines.ensemble_autograd import EnsembleAutograd
        return EnsembleAutograd(engines, [b.eta for b in bs], cfg0.optim, batch_size=cfg0.optim.batch_size,
                                generator=torch.Generator().manual_seed(cfg0.train.seed))
    return EnsembleNetwork(engines, [b.eta for b in bs], cfg0.optim, batch_size=cfg0.optim.batch_size,
                           generator=torch.Generator().manual_seed(cfg0.train.seed))
