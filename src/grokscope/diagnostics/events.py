"""Grokking events from a logged run: threshold crossings, grokking amount, peak test loss.

For a threshold θ: t_train(θ) / t_test(θ) = first logged step whose loss ≤ θ (None if never),
grok_amount = max(0, t_test − t_train) (paper Fig 3(e)), delay_ratio = t_test / max(t_train, 1).
Crossing steps are resolved to the log schedule (log_per_decade points per decade).
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
