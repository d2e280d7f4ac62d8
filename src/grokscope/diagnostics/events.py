"""Grokking events from a logged run: threshold crossings, grokking amount, peak test loss.

For a threshold θ: t_train(θ) / t_test(θ) = first logged step whose loss ≤ θ (None if never),
grok_amount = max(0, t_test − t_train) (paper Fig 3(e)), delay_ratio = t_test / max(t_train, 1).
From a metrics table the crossing steps are resolved to the log schedule; a run's summary holds them
at single-step resolution (grokscope.training.exact_events replaces them while the run trains).

Seed spread (docs/seeds.md): :func:`percentile_rank` places one run's t_test among a packaged table of
seeds (``config/specs/fig1_seed_table.json``), :func:`seed_spread_line` says so in one line.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def first_crossing(steps: np.ndarray, values: np.ndarray, threshold: float) -> int | None:
    """First step with value ≤ threshold (NaN never counts), or None."""
    hit = np.nonzero(values <= threshold)[0]
    return int(steps[hit[0]]) if hit.size else None


def _crossings(steps: np.ndarray, train: np.ndarray, test: np.ndarray,
               th_train: float, th_test: float) -> dict[str, Any]:
    t_tr = first_crossing(steps, train, th_train)
    t_te = first_crossing(steps, test, th_test)
    both = t_tr is not None and t_te is not None
    return {"threshold_train": th_train, "threshold_test": th_test, "t_train": t_tr, "t_test": t_te,
            "grok_amount": max(0, t_te - t_tr) if both else None,
            "delay_ratio": t_te / max(t_tr, 1) if both else None}


def _num(x: Any) -> Any:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def grokking_events(metrics: pd.DataFrame, thresholds: list[float], relative: list[float],
                    test_metric: str = "test_loss") -> dict[str, Any]:
    """Events of one run (one member) from its metrics table (columns step, train_loss, test_metric)."""
    df = metrics.sort_values("step")
    steps = df["step"].to_numpy()
    train = df["train_loss"].to_numpy(dtype=float)
    test = df[test_metric].to_numpy(dtype=float)
    out: dict[str, Any] = {"test_metric": test_metric, "absolute": {}, "relative": {}}
    for th in thresholds:
        out["absolute"][f"{th:g}"] = _crossings(steps, train, test, th, th)
    for r in relative:
        out["relative"][f"{r:g}"] = _crossings(steps, train, test, r * train[0], r * test[0])
    finite = np.isfinite(test)
    if finite.any():
        i = int(np.nanargmax(np.where(finite, test, -np.inf)))
        out["peak_test_loss"], out["peak_test_step"] = _num(test[i]), int(steps[i])
        out["min_test_loss"] = _num(np.nanmin(test))
    out["initial"] = {"train_loss": _num(train[0]), "test_loss": _num(test[0])}
    last = df.iloc[-1]
    out["final"] = {c: _num(last[c]) for c in df.columns if c not in ("step", "member")}
    out["final"]["step"] = int(last["step"])
    return out


def format_events(ev: dict[str, Any]) -> list[str]:
    """Human-readable lines for the printed summary."""
    lines = []
    for kind, label in (("absolute", "loss ≤ {th}"), ("relative", "loss ≤ {th}·L(0)")):
        for th, c in ev[kind].items():
            tr = c["t_train"] if c["t_train"] is not None else "never"
            te = c["t_test"] if c["t_test"] is not None else "never"
            g = c["grok_amount"]
            gtxt = f", grokking amount {g}" if g is not None else ""
            if c["delay_ratio"] is not None:
                gtxt += f" (test/train time ratio {c['delay_ratio']:.3g})"
            lines.append(f"{label.format(th=th)}: train at step {tr}, test at step {te}{gtxt}")
    if ev.get("peak_test_loss") is not None:
        lines.append(f"peak {ev['test_metric']} {ev['peak_test_loss']:.4g} at step {ev['peak_test_step']}")
    return lines


# -- seed spread ---------------------------------------------------------------------------------
SEED_TABLE = "fig1_seed_table.json"
# keys that do not change a member's trajectory or that the table varies: left out when matching a
# run's config to the table's
_FREE = {"model": ("seed",), "train": ("steps", "early_stop", "dtype", "progress", "log_per_decade", "engine"),
         "probes": None, "output": None, "events": None}


def percentile_rank(value: float, sample: list[float]) -> float:
    """Mid-rank percentile of ``value`` in ``sample``: 100·(#{s < v} + ½·#{s = v})/n, in [0, 100]."""
    x = np.asarray(sample, dtype=float)
    return float(100.0 * ((x < value).sum() + 0.5 * (x == value).sum()) / x.size)


def seed_free(config: dict[str, Any], data: bool = False) -> dict[str, Any]:
    """A resolved config dict without the keys of ``_FREE`` (init seed, run length, precision, logging)
    and, with ``data``, without the data seeds too (task.data_seed, test_seed, beta_seed)."""
    free = {**_FREE, "task": ("data_seed", "test_seed", "beta_seed")} if data else _FREE
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in config.items() if k not in free or free[k]}
    for sec, keys in free.items():
        for k in keys or ():
            out.get(sec, {}).pop(k, None)
    return out


def _within(want: Any, got: Any) -> bool:
    """Every key of ``want`` is in ``got`` with an equal value (nested dicts compared key by key), so
    config fields added after the table was measured are not compared."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and _within(v, got[k]) for k, v in want.items())
    return bool(want == got)


def seed_table(values: dict[str, list[Any]], config: dict[str, Any], data: bool = False,
               **meta: Any) -> dict[str, Any]:
    """The packaged table: per event column the values over the seeds (None: never crossed) and the
    percentiles 0, 10, 25, 50, 75, 90, 100 of the crossed ones; ``config`` (seed-free; ``data``: the
    data seeds were resampled too) says which runs it describes."""
    table: dict[str, Any] = {**meta, "config": seed_free(config, data), "values": values, "percentiles": {}}
    for col, v in values.items():
        x = np.array([t for t in v if t is not None], dtype=float)
        table["percentiles"][col] = ({f"{q:g}": float(np.percentile(x, q)) for q in (0, 10, 25, 50, 75, 90, 100)}
                                     if x.size else None)
    return table


def load_seed_table() -> dict[str, Any] | None:
    """The packaged seed table (None if the package has none)."""
    import json
    from importlib import resources
    f = resources.files("grokscope.config") / "specs" / SEED_TABLE
    return json.loads(f.read_text()) if f.is_file() else None


def _place(t: int, table: dict[str, Any], col: str) -> tuple[float, str]:
    """(mid-rank percentile of t among the table's seeds, 'median …, IQR …–… over n …')."""
    vals = table["values"][col]
    q = table["percentiles"][col] or {}
    never = sum(v is None for v in vals)
    spread = (f"median {q.get('50', math.nan):.0f}, IQR {q.get('25', math.nan):.0f}–{q.get('75', math.nan):.0f} "
              f"over {len(vals)} {table.get('seeds_of', 'seeds')}" + (f", {never} never crossed" if never else ""))
    everyone = [math.inf if v is None else v for v in vals]  # never crossed: later than any run
    return percentile_rank(t, everyone), spread


def seed_spread_line(ev: dict[str, Any], config: dict[str, Any], table: dict[str, Any] | None,
                     threshold: str = "0.1") -> str | None:
    """One line: where this run's t_test(θ) falls among the table's init seeds (and, if the table has
    ``resampled_data`` / ``full_size_data`` parts, among draws of data and init at that part's size), or
    why it cannot be placed."""
    col = f"t_test_{threshold}"
    if not table or col not in table.get("values", {}):
        return None
    t = ((ev.get("absolute") or {}).get(threshold) or {}).get("t_test")
    mine = _within(table["config"], seed_free(config))
    subs = [s for s in (table.get("resampled_data"), table.get("full_size_data"))
            if s and col in s.get("values", {}) and _within(s["config"], seed_free(config, data=True))]
    _, spread = _place(0, table, col)
    if not (mine or subs):
        return (f"seed spread: the packaged {table.get('name', 'seed')} table is for {table.get('size', 'another size')} "
                f"(t_test({threshold}) {spread}); this run's config differs, so it has no percentile there")
    if t is None:
        _, spread = _place(0, table if mine else subs[0], col)
        return f"seed spread: t_test({threshold}) not reached in this run; the table's seeds: {spread}"
    parts = []
    if mine:
        pct, spread = _place(t, table, col)
        parts.append(f"percentile {pct:.0f} of the {table.get('name', 'seed')} table ({spread})")
    for sub in subs:
        pct, spread = _place(t, sub, col)
        parts.append(f"percentile {pct:.0f} over draws of data and init ({spread})")
    return f"seed spread: t_test({threshold}) = {t} is at " + "; ".join(parts)
