"""`grokscope theory --asymptotic`: the finite-sample-ratio theory of docs/theory-asymptotic.md for a
config — the lazy kernel floor, the feature-escape budget (will features be learned before the train
set is memorised?) and the predicted threshold crossings, with the theory's stated limits."""
from __future__ import annotations

import math
from typing import Any

from grokscope.config import Config, ConfigError
from grokscope.models.registry import supports
from grokscope.numerics.scaling import learning_rate
from grokscope.tasks.base import task_supports
from grokscope.theory import asymptotic

LIMITS = ("feature-learning phase not closed (docs/theory-asymptotic.md §6–7): the predicted crossings order "
          "grokking times well (Spearman 0.94–0.96 on Fig 3(e) grids) but miss their size (median |log "
          "ratio| ≈ 1–1.4); the lazy floor and the escape budget are the derived parts")


def _theory_args(cfg: Config) -> tuple[tuple[float, float, int, int], float, dict[str, Any]]:
    """((α, ε, D, P), η₀, {sigma, centre, N}) of the theory for ``cfg``; η₀ = η·α²/N whatever the lr rule,
    N = None (∞) for ``model.init: infinite``. ConfigError outside the setting the theory covers."""
    t, m, sc = cfg.task, cfg.model, cfg.scaling
    if not (task_supports(t, "quadratic_target") and supports(m, "reduced")) or \
            getattr(t, "target", None) != "single_index" or cfg.optim.name != "gd" or cfg.optim.weight_decay:
        raise ConfigError("theory --asymptotic: covers the quadratic committee (readouts fixed to 1) on the "
                          "single-index polynomial task with full-batch gd and no weight decay")
    eta0 = learning_rate(sc.lr_rule, cfg.optim.lr, sc.alpha, m.N) * sc.alpha**2 / m.N
    kw = {"sigma": m.sigma, "centre": sc.centre, "N": None if m.init == "infinite" else m.N}
    return (sc.alpha, m.eps, t.D, t.P), eta0, kw


def asymptotic_curves(cfg: Config, steps: list[int], max_points: int = 400) -> dict[str, Any]:
    """The limit's train/test loss on a run's own step axis (at most ``max_points`` of its steps, evenly
    spread in log step): {"step", "train_loss", "test_loss"} (arrays). ConfigError outside the setting."""
    import numpy as np
    args, eta0, kw = _theory_args(cfg)
    s = np.unique(np.asarray(steps, dtype=np.int64))
    if len(s) > max_points:
        idx = np.unique(np.round(np.geomspace(1, len(s), max_points)).astype(int) - 1)
        s = s[idx]
    c = asymptotic.curves(*args, eta0, [int(v) for v in s], **kw)
    return {"step": np.asarray(c["step"]), "train_loss": np.asarray(c["train_loss"]),
            "test_loss": np.asarray(c["test_loss"])}


def asymptotic_report(cfg: Config, max_steps: int | None = None) -> dict[str, Any]:
    """The theory's numbers for ``cfg`` (the committee with quadratic φ on the single-index polynomial
    task, full-batch GD): η₀ = η·α²/N whatever the lr rule; N = ∞ for ``model.init: infinite``."""
    args, eta0, kw = _theory_args(cfg)
    t, m, sc = cfg.task, cfg.model, cfg.scaling
    args, eta0, kw = _theory_args(cfg)
    steps = max_steps or cfg.train.steps
    cross = asymptotic.crossing_times(*args, eta0, tuple(cfg.events.thresholds), max_steps=steps, **kw)
    return {"alpha": sc.alpha, "eps": m.eps, "D": t.D, "P": t.P, "gamma": t.P / t.D, "eta0": eta0,
            "steps": steps, "lazy": asymptotic.lazy_limits(*args, sigma=m.sigma, centre=sc.centre),
            "escape": asymptotic.escape_budget(*args, sigma=m.sigma),
            "crossings": {str(k): v for k, v in cross.items()}, "limits": LIMITS}


def format_asymptotic(rep: dict[str, Any]) -> list[str]:
    def step(v: float) -> str:
        return "never" if math.isinf(v) else ("-" if math.isnan(v) else f"{v:.0f}")

    esc = rep["escape"]
    lines = [f"asymptotic theory (D → ∞ at P/D = {rep['gamma']:.3g}; α = {rep['alpha']:g}, ε = {rep['eps']:g}, "
             f"η₀ = {rep['eta0']:.4g})",
             f"lazy kernel floor (t → ∞ on the initial NTK): test loss {rep['lazy']['test_loss']:.4g}",
             f"feature escape: budget {esc['budget']:.3g} against {esc['needed']:.3g} needed → "
             + ("features are learned before the train set is memorised" if esc["margin"] > 0 else
                "the train set is memorised first: no generalisation beyond the kernel floor")]
    for th, c in rep["crossings"].items():
        lines.append(f"predicted crossings of {th} within {rep['steps']} steps: train at {step(c['t_train'])}, "
                     f"test at {step(c['t_test'])}, grokking amount {step(c['grok_amount'])}")
    lines.append(f"limits: {rep['limits']}")
    return lines
