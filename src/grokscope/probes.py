"""Probes: functions of an engine (never mutating it) called on the log schedule.

Each probe declares the metrics it writes and whether a config supports it, so asking for an
unsupported probe fails at config time with a message saying which models support it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from grokscope.config import Config, ConfigError
from grokscope.losses import accuracy
from grokscope.tasks.base import Dataset


@dataclass
class ProbeContext:
    """What probes read: the engine, the data, the loss, and a cache for things computed once
    (e.g. the initial kernel K₀). Probes never mutate the engine."""

    engine: Any
    data: Dataset
    loss: Any
    model: Any = None
    twin: Any = None
    cache: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Probe:
    name: str
    metrics: tuple[str, ...]
    fn: Callable[[ProbeContext], dict[str, float]]
    supports: Callable[[Config], str | None]  # None if supported, else the reason
    meaning: str
    expensive: bool = False  # expensive probes run on their own sparser cadence


def _always(cfg: Config) -> str | None:
    return None


def _quadratic_form(cfg: Config) -> str | None:
    m, t = cfg.model, cfg.task
    if m.name != "committee" or not (m.phi == "quadratic" or (m.phi == "hermite" and m.k == 2)):
        return ("needs a predictor that is a quadratic form of x: the committee model with "
                "phi = quadratic (or hermite with k = 2)")
    if t.name != "polynomial":
        return "needs Gaussian inputs and a polynomial target (task.name = polynomial)"
    f = t.files
    if (f.y_train or f.y_test) and not f.beta:
        return "needs a known target: give task.files.beta along with y files, or let grokscope make y"
    return None


def _classification(cfg: Config) -> str | None:
    if cfg.task.name == "polynomial":
        return "needs a classification task (the polynomial task is a regression)"
    return None


def _loss(ctx: ProbeContext) -> dict[str, float]:
    return {"train_loss": float(ctx.loss.value(ctx.engine.outputs("train"), ctx.data.y_train)),
            "test_loss": float(ctx.loss.value(ctx.engine.outputs("test"), ctx.data.y_test))}


def _exact(ctx: ProbeContext) -> dict[str, float]:
    from grokscope.diagnostics.sufficient import population_loss
    return {"test_loss_exact": float(population_loss(*ctx.engine.quadratic_form(), ctx.data.target))}


def _decomposition(ctx: ProbeContext) -> dict[str, float]:
    from grokscope.diagnostics.sufficient import decomposition
    terms = decomposition(*ctx.engine.quadratic_form(), ctx.data.target)
    return {f"decomp_{k}": float(v) for k, v in terms.items()}


def _accuracy(ctx: ProbeContext) -> dict[str, float]:
    return {"train_acc": accuracy(ctx.engine.outputs("train"), ctx.data.y_train),
            "test_acc": accuracy(ctx.engine.outputs("test"), ctx.data.y_test)}


def _weights(ctx: ProbeContext) -> dict[str, float]:
    return {"weight_norm": ctx.engine.weight_norm(), "param_change": ctx.engine.param_change()}


PROBES: dict[str, Probe] = {p.name: p for p in [
    Probe("loss", ("train_loss", "test_loss"), _loss, _always, "train and test loss"),
    Probe("exact_loss", ("test_loss_exact",), _exact, _quadratic_form, "exact population test loss"),
    Probe("decomposition", ("decomp_variance", "decomp_misalignment", "decomp_linear", "decomp_orthogonal"),
          _decomposition, _quadratic_form, "paper eq. 6 three-term test-loss decomposition"),
    Probe("accuracy", ("train_acc", "test_acc"), _accuracy, _classification, "argmax accuracy"),
    Probe("weights", ("weight_norm", "param_change"), _weights, _always, "‖θ‖ and ‖θ − θ₀‖/‖θ₀‖"),
]}


def select_probes(cfg: Config) -> list[Probe]:
    """The probes a run uses: every supported one ('auto'), or the named ones (validated)."""
    names = cfg.probes.names
    if names == "auto":
        return [p for p in PROBES.values() if p.supports(cfg) is None]
    chosen = []
    for n in names:
        if n not in PROBES:
            raise ConfigError(f"probes.names contains {n!r}: unknown probe; allowed: {', '.join(PROBES)}")
        why = PROBES[n].supports(cfg)
        if why is not None:
            raise ConfigError(f"probes.names contains {n!r}: not supported by this config; it {why}")
        chosen.append(PROBES[n])
    if "loss" not in names:
        chosen.insert(0, PROBES["loss"])  # events and the progress bar need the losses
    return chosen


def probe_steps(probe: Probe, cfg: Config, schedule: np.ndarray) -> set[int]:
    """The steps at which a probe runs: every log-schedule point, or for expensive probes
    ``probes.expensive_points`` of them (``probes.cadence[name]`` overrides), evenly spaced in
    schedule index (so still log-spaced), always including the first and the last step."""
    n = cfg.probes.cadence.get(probe.name, cfg.probes.expensive_points if probe.expensive else None)
    if n is None or n >= len(schedule):
        return set(int(s) for s in schedule)
    idx = np.unique(np.round(np.linspace(0, len(schedule) - 1, max(n, 2))).astype(int))
    return set(int(s) for s in schedule[idx])
