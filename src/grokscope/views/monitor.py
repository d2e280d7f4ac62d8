"""Train-only generalisation monitor (Li, Fan & Zhou 2025 adapted; docs/train-only-monitor.md).

Scoring a run that has test data (``score``), over the logged steps t ≥ t_sat (t_sat: the first step with
train accuracy ≥ SATURATED):
  Pearson r and Spearman ρ (Pearson of average ranks) between each train-only signal and test accuracy;
  half-range crossing t½(s) = the first step where s passes (min s + max s)/2 in the direction of its
  trend (sign of last − first), linearly interpolated between logged steps;
  lead = t½(test_acc) − t½(signal) in steps, and log-lead = log10(t½(test_acc)/t½(signal)).
The monitor (``estimate_onset``) reads train-only columns: it finds t_sat and t½ of the calibrated
signal, and predicts the test-accuracy half-crossing as t½(signal)·10^m with the interval
t½·10^[lo, hi], m, lo, hi the median, min and max log-lead measured in :data:`CALIBRATION`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

SATURATED = 0.99
SIGNALS = ("train_loss", "pathway_distance", "pathway_distance_norm", "pathway_jaccard", "pathway_cos",
           "pathway_consistency", "pathway_consistency_inv", "ntk_eff_dim", "pathway_memorised")

# Measured log10 lead, log10(t½(test_acc)/t½(signal)), per signal: (median, min, max, number of runs), from
# the completed runs with ≥ 5 logged steps after saturation in docs/train-only-monitor.md (fig2 α = 1, 2.25;
# monitor-mlp seeds 0–2; monitor-moe; prieto-parity 3 000 steps): ``calibrate(score_table(runs))``.
CALIBRATION: dict[str, tuple[float, float, float, int]] = {
    "pathway_cos": (0.427, 0.370, 0.891, 4),
    "pathway_distance": (0.153, -0.155, 0.438, 7),
    "pathway_jaccard": (-0.082, -0.287, 0.378, 7),
    "pathway_distance_norm": (0.039, -0.215, 1.323, 7),
    "ntk_eff_dim": (0.237, -0.017, 0.903, 7),
    "pathway_memorised": (1.193, 0.037, 1.448, 7),
    "train_loss": (1.161, -0.033, 1.403, 7),
}
DEFAULT_SIGNAL = None  # auto: the calibrated signal with the narrowest range among the run's columns


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Σ(x − x̄)(y − ȳ)/√(Σ(x − x̄)² Σ(y − ȳ)²); NaN for fewer than 3 points or a constant series."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.size < 3:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    den = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy) / den if den > 0 else float("nan")


def ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    return pd.Series(np.asarray(x, np.float64)).rank(method="average").to_numpy()


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    return pearson(ranks(x), ranks(y))


def half_crossing(steps: np.ndarray, s: np.ndarray) -> float | None:
    """First step at which s passes the middle of its range in the direction of its trend (linear
    interpolation between logged steps); None when s is constant or has fewer than 2 points."""
    steps, s = np.asarray(steps, np.float64), np.asarray(s, np.float64)
    if s.size < 2 or not np.isfinite(s).all() or s.max() == s.min():
        return None
    mid = 0.5 * (s.max() + s.min())
    sign = 1.0 if s[-1] >= s[0] else -1.0
    z = sign * (s - mid)  # crosses from < 0 to ≥ 0
    if z[0] >= 0:
        return float(steps[0])
    k = int(np.argmax(z >= 0))
    t0, t1, z0, z1 = steps[k - 1], steps[k], z[k - 1], z[k]
    return float(t0 + (t1 - t0) * (-z0) / (z1 - z0))


def saturation_step(m: pd.DataFrame) -> float | None:
    """The first logged step with train accuracy ≥ SATURATED, or None."""
    if "train_acc" not in m:
        return None
    rows = m[m["train_acc"] >= SATURATED]
    return float(rows["step"].iloc[0]) if len(rows) else None


@dataclass(frozen=True)
class Score:
    signal: str
    n: int
    pearson: float
    spearman: float
    t_signal: float | None
    t_test: float | None
    lead: float | None
    log_lead: float | None


def score(m: pd.DataFrame, signals: tuple[str, ...] = SIGNALS) -> tuple[float | None, list[Score]]:
    """(t_sat, one :class:`Score` per signal present) for a run's metrics with test accuracy."""
    t_sat = saturation_step(m)
    out: list[Score] = []
    if t_sat is None:
        return None, out
    after = m[m["step"] >= t_sat]
    for sig in signals:
        if sig not in after:
            continue
        rows = after[["step", sig, "test_acc"]].dropna()
        if len(rows) < 3:
            continue
        st, s, acc = rows["step"].to_numpy(), rows[sig].to_numpy(), rows["test_acc"].to_numpy()
        t_s, t_t = half_crossing(st, s), half_crossing(st, acc)
        lead = None if t_s is None or t_t is None else t_t - t_s
        log_lead = math.log10(t_t / t_s) if lead is not None and t_s > 0 and t_t > 0 else None
        out.append(Score(sig, len(rows), pearson(s, acc), spearman(s, acc), t_s, t_t, lead, log_lead))
    return t_sat, out


def score_table(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (run, signal): the :func:`score` fields."""
    rows = []
    for name, m in runs.items():
        t_sat, scores = score(m)
        rows += [{"run": name, "t_sat": t_sat, **s.__dict__} for s in scores]
    return pd.DataFrame(rows)


def calibrate(table: pd.DataFrame, min_points: int = 5) -> dict[str, tuple[float, float, float, int]]:
    """Per signal: (median, min, max, count) of the finite log-leads in a :func:`score_table`, from runs
    with at least ``min_points`` logged steps after saturation."""
    out = {}
    rows = table[table["n"] >= min_points].dropna(subset=["log_lead"])
    for sig, g in rows.groupby("signal"):
        v = g["log_lead"].to_numpy()
        out[str(sig)] = (float(np.median(v)), float(v.min()), float(v.max()), int(v.size))
    return out


def best_signal(cal: dict[str, tuple[float, float, float, int]], min_runs: int = 3,
                columns: pd.DataFrame | None = None) -> str | None:
    """The calibrated signal with the narrowest log-lead range (max − min) over ≥ ``min_runs`` runs (among
    the columns of ``columns`` that hold a value, when given)."""
    ok = {k: v[2] - v[1] for k, v in cal.items() if v[3] >= min_runs
          and (columns is None or (k in columns and columns[k].notna().any()))}
    return min(ok, key=ok.__getitem__) if ok else None


@dataclass(frozen=True)
class Onset:
    signal: str
    t_sat: float | None
    t_signal: float | None
    estimate: float | None
    low: float | None
    high: float | None
    reason: str


def estimate_onset(m: pd.DataFrame, signal: str | None = DEFAULT_SIGNAL,
                   calibration: dict[str, tuple[float, float, float, int]] | None = None) -> Onset:
    """The predicted step of test accuracy's half-crossing from train-only columns (never test_*);
    ``signal`` None: :func:`best_signal` among the run's columns."""
    table = calibration if calibration is not None else CALIBRATION
    signal = signal or best_signal(table, columns=m) or "pathway_distance"
    cal = table.get(signal)
    t_sat = saturation_step(m)
    if t_sat is None:
        return Onset(signal, None, None, None, None, None, f"train accuracy never reached {SATURATED}")
    if signal not in m:
        return Onset(signal, t_sat, None, None, None, None, f"the run has no {signal} column "
                     "(add the pathways probe to probes.names)")
    rows = m[m["step"] >= t_sat][["step", signal]].dropna()
    t_s = half_crossing(rows["step"].to_numpy(), rows[signal].to_numpy())
    if t_s is None:
        return Onset(signal, t_sat, None, None, None, None, f"{signal} has not moved since saturation")
    if cal is None:
        return Onset(signal, t_sat, t_s, None, None, None, f"no calibration for {signal}")
    med, lo, hi, _ = cal
    return Onset(signal, t_sat, t_s, t_s * 10**med, t_s * 10**lo, t_s * 10**hi, "ok")


def monitor_lines(m: pd.DataFrame, signal: str | None = DEFAULT_SIGNAL, with_score: bool = False) -> list[str]:
    """The text of ``grokscope monitor``."""
    o = estimate_onset(m, signal)
    signal = o.signal
    cal = CALIBRATION.get(signal)
    lines = [f"signal: {signal}"]
    lines.append(f"train accuracy ≥ {SATURATED} from step: " + (f"{o.t_sat:g}" if o.t_sat is not None else "never"))
    if o.t_signal is not None:
        lines.append(f"{signal} crossed half its range at step {o.t_signal:.0f}")
    if o.estimate is not None and cal is not None:
        lines.append(f"estimated onset of generalisation (test accuracy at half its rise): step {o.estimate:.0f} "
                     f"(range {o.low:.0f}–{o.high:.0f}: the min–max lead measured over {cal[3]} calibration runs, "
                     "docs/train-only-monitor.md)")
    else:
        lines.append(f"no estimate: {o.reason}")
    if with_score and "test_acc" in m:
        t_sat, scores = score(m)
        lines.append("score against test accuracy after saturation (needs test data):")
        lines.append(f"  {'signal':24s} {'n':>3s} {'pearson':>8s} {'spearman':>8s} {'t½ signal':>10s} "
                     f"{'t½ test':>8s} {'lead':>8s}")
        for s in scores:
            def f(v: Any, fmt: str) -> str:
                return format(v, fmt) if v is not None and np.isfinite(v) else "–"
            lines.append(f"  {s.signal:24s} {s.n:3d} {f(s.pearson, '8.3f')} {f(s.spearman, '8.3f')} "
                         f"{f(s.t_signal, '10.0f')} {f(s.t_test, '8.0f')} {f(s.lead, '8.0f')}")
    return lines
