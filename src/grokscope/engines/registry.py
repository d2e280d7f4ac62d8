"""The engine registry: each engine registers ``exact_for(cfg) -> (bool, why)`` (whether it reproduces the
network for a config) and ``build(EngineInputs) -> engine``. ``train.engine = auto`` takes the
registered engine of highest ``priority`` that is exact; the network engine (priority 0) always is."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class EngineInputs:
    """What an engine is built from: the config, the task's data (on device), the model, its initial
    params, the loss (with its working precision), the final η, and the mini-batch generator."""

    cfg: Any
    data: Any
    model: Any
    params0: dict[str, torch.Tensor]
    loss: Any
    eta: float
    generator: torch.Generator


@dataclass(frozen=True)
class EngineSpec:
    name: str
    exact_for: Callable[[Any], tuple[bool, str]]
    build: Callable[[EngineInputs], Any]
    priority: int = 0
    infinite_width: bool = False  # simulates model.init = infinite


ENGINES: dict[str, EngineSpec] = {}


def register_engine(name: str, exact_for: Callable[[Any], tuple[bool, str]], build: Callable[[EngineInputs], Any],
                    *, priority: int = 0, infinite_width: bool = False) -> EngineSpec:
    """Register an engine: ``exact_for(cfg) -> (exact?, why)``, ``build(EngineInputs) -> engine`` (with
    step/outputs/ntk/quadratic_form/weight_norm/param_change, see engines/network.py); ``train.engine =
    name`` becomes valid, and ``auto`` picks the exact engine of highest ``priority``."""
    from grokscope.config.extend import register_engine_name
    register_engine_name(name)
    spec = ENGINES[name] = EngineSpec(name, exact_for, build, priority, infinite_width)
    return spec


def choose_engine(cfg: Any) -> tuple[EngineSpec, str]:
    """The engine for ``cfg`` and why: ``train.engine`` if exact (else a ConfigError naming the reason),
    or under ``auto`` the exact engine of highest priority."""
    from grokscope.config import ConfigError
    asked = cfg.train.engine
    if asked != "auto":
        if asked not in ENGINES:
            raise ConfigError(f"train.engine = {asked!r}: unknown; allowed are auto, {', '.join(ENGINES)}")
        ok, why = ENGINES[asked].exact_for(cfg)
        if not ok:
            raise ConfigError(f"train.engine = {asked!r}: not exact for this config: {why}")
        reason = "requested"
        if not ENGINES[asked].infinite_width:
            reason = _infinite_check(cfg, asked, why)
        return ENGINES[asked], reason
    ranked = sorted(ENGINES.values(), key=lambda s: -s.priority)
    reasons = []
    for spec in ranked:
        ok, why = spec.exact_for(cfg)
        reasons.append(why)
        if ok:
            if not spec.infinite_width:
                _infinite_check(cfg, spec.name, reasons[0])
            return spec, f"auto: {reasons[0]}"
    raise ConfigError("train.engine = auto: no registered engine is exact for this config: " + "; ".join(reasons))


def _infinite_check(cfg: Any, name: str, why: str) -> str:
    from grokscope.config import ConfigError
    if getattr(cfg.model, "init", "sampled") == "infinite":
        raise ConfigError("model.init = 'infinite': only the reduced engine simulates the infinite-width "
                          f"limit, but this run uses the {name} engine ({why})")
    return "requested"
