"""The train-only monitor (views/monitor.py): correlations against explicit loops, the half-range crossing against
a dense brute-force scan, the estimate never reading test columns, and ``grokscope monitor`` on a run."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from grokscope.views import monitor as mon


def _pearson_loop(x, y):
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def _ranks_loop(x):
    """Average 1-based ranks: rank of v = (#smaller) + (#equal + 1)/2."""
    return [sum(w < v for w in x) + (sum(w == v for w in x) + 1) / 2 for v in x]


def test_correlations_equal_loops():
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = 0.5 * x + rng.normal(size=40)
    y[3] = y[7]  # ties
    x[10] = x[11]
    xs, ys = x.tolist(), y.tolist()
    assert mon.pearson(x, y) == pytest.approx(_pearson_loop(xs, ys), rel=1e-12)
    assert mon.spearman(x, y) == pytest.approx(_pearson_loop(_ranks_loop(xs), _ranks_loop(ys)), rel=1e-12)
    assert math.isnan(mon.pearson(np.ones(5), y[:5]))


def _scan(steps, s):
    """Dense reference: sample the piecewise-linear interpolant on a fine grid, first point past the middle."""
    mid = 0.5 * (max(s) + min(s))
    sign = 1 if s[-1] >= s[0] else -1
    grid = np.linspace(steps[0], steps[-1], 2_000_001)
    vals = np.interp(grid, steps, s)
    return grid[np.argmax(sign * (vals - mid) >= 0)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_half_crossing_equals_dense_scan(seed):
    rng = np.random.default_rng(seed)
    steps = np.cumsum(rng.integers(1, 50, size=30)).astype(float)
    s = np.tanh((steps - steps[15]) / 100) * (1 if seed % 2 else -1) + 0.05 * rng.normal(size=30)
    got = mon.half_crossing(steps, s)
    assert got == pytest.approx(_scan(steps, s), abs=(steps[-1] - steps[0]) * 1e-6)
    assert mon.half_crossing(steps, np.ones(30)) is None


def _frame(lag: float):
    """Synthetic run: train accuracy saturates at step 50, a signal falls at step 300, test accuracy
    rises at 300·10^lag."""
    steps = np.unique(np.round(np.logspace(0, 4, 120)))
    sig = 1 - 1 / (1 + np.exp(-(np.log10(steps) - math.log10(300)) * 8))
    acc = 1 / (1 + np.exp(-(np.log10(steps) - math.log10(300) - lag) * 8))
    return pd.DataFrame({"step": steps, "train_acc": np.where(steps >= 50, 1.0, 0.5), "test_acc": acc,
                         "pathway_jaccard": sig, "train_loss": 1 / steps})


def test_score_and_estimate_use_train_columns_only():
    m = _frame(0.3)
    t_sat, scores = mon.score(m)
    assert t_sat == m.step[m.step >= 50].iloc[0]
    jac = next(s for s in scores if s.signal == "pathway_jaccard")
    assert jac.pearson < -0.9 and jac.spearman == pytest.approx(-1.0)
    assert jac.log_lead == pytest.approx(0.3, abs=0.02)
    table = mon.score_table({"a": m, "b": _frame(0.1), "short": m[m.step <= 60]})
    assert set(table.run) == {"a", "b", "short"}
    cal = mon.calibrate(table)  # "short" has < 5 points after saturation: left out
    med, lo, hi, n = cal["pathway_jaccard"]
    assert n == 2 and lo == pytest.approx(0.1, abs=0.02) and hi == pytest.approx(0.3, abs=0.02)
    assert mon.best_signal(cal, min_runs=2) in cal and mon.best_signal(cal, min_runs=3) is None
    blind = m.drop(columns=["test_acc"])  # a run without test data
    o = mon.estimate_onset(blind, "pathway_jaccard", cal)
    assert o.estimate == pytest.approx(o.t_signal * 10**med) and o.low < o.estimate < o.high
    assert o.estimate == mon.estimate_onset(m, "pathway_jaccard", cal).estimate
    assert mon.estimate_onset(blind.assign(train_acc=0.5), "pathway_jaccard", cal).estimate is None


def test_cli_monitor_on_a_run(tmp_path, capsys):
    from grokscope.cli import main
    from grokscope.config import load_config
    from grokscope.config.presets import SMALL, get_preset
    cfg = load_config(get_preset("monitor-mlp"), {**SMALL["monitor-mlp"], "output.root": str(tmp_path),
                                                  "output.name": "m", "output.plots": False, "output.report": False,
                                                  "train.progress": False})
    from grokscope import run
    r = run(cfg, quiet=True)
    assert {"pathway_jaccard", "pathway_distance", "ntk_eff_dim"} <= set(r.metrics.columns)
    assert main(["monitor", str(r.path), "--score"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("signal: pathway_") and "train accuracy ≥ 0.99" in out


def test_auto_signal_is_the_narrowest_calibrated_column_present():
    cal = {"a": (0.1, 0.0, 0.2, 3), "b": (0.1, -0.5, 0.5, 3), "c": (0.0, 0.0, 0.01, 2)}
    m = pd.DataFrame({"step": [1.0, 2.0], "a": [np.nan, np.nan], "b": [1.0, 2.0], "c": [1.0, 2.0]})
    assert mon.best_signal(cal) == "a"  # c has too few runs
    assert mon.best_signal(cal, columns=m) == "b"  # a holds no value in this run
    assert mon.estimate_onset(m.assign(train_acc=1.0), None, cal).signal == "b"
