"""The goldilocks sweep: the authors' Figure 4 cell (D = 40, N = 2, ε = 0.25, η = 1, uncentred, α = 1)
with P ∈ {50, 120, 500}. One weight seed at 3 000 steps (300 test points, the --quick test set) shows the
window: P = 50 fails, P = 120 groks, P = 500 generalises with the train loss (docs/sweeps.md)."""
from __future__ import annotations

import pytest

from grokscope.api import run
from grokscope.sweep.spec import load_spec
from grokscope.training.build import build


def _first_below(m, col: str, frac: float) -> int | None:
    s = m.loc[m[col] <= frac * m[col].iloc[0], "step"]
    return int(s.iloc[0]) if len(s) else None


def test_spec_is_the_fig4_cell_over_P():
    spec = load_spec(preset="goldilocks")
    b = spec.base
    assert (b.task.D, b.task.P_test, b.model.N, b.model.eps, b.model.phi) == (40, 1000, 2, 0.25, "quadratic")
    assert (b.scaling.alpha, b.scaling.centre, b.optim.name, b.train.steps) == (1.0, False, "gd", 50_000)
    assert build(b.replace(**{"train.steps": 1})).eta == pytest.approx(1.0, rel=1e-15)  # 0.5·N/α²
    assert spec.axes["task.P"] == [50, 120, 500] and spec.seeds >= 4 and spec.seed_keys == ["model.seed"]


def test_window_fails_groks_generalises(tmp_path):
    """model.seed 2 (measured, reduced engine, float64): P = 50 never gets below 0.8·L(0); P = 120 fits
    the train set (L ≤ 0.1·L(0)) at step 245 and the test set at 1 810 (7.4× later); P = 500 at 292 and
    335 (1.15×). Margins: P = 50 stays above 0.5·L(0); delay ratio ≥ 4 at 120, ≤ 1.5 at 500."""
    base = load_spec(preset="goldilocks", quick=True).base
    t = {}
    for P in (50, 120, 500):
        cfg = base.replace(**{"task.P": P, "model.seed": 2, "train.steps": 3000, "train.progress": False,
                              "probes.names": ["loss"], "output.root": str(tmp_path)})
        m = run(cfg, tmp_path / f"P{P}", quiet=True).metrics
        t[P] = (_first_below(m, "train_loss", 0.1), _first_below(m, "test_loss", 0.1))
        if P == 50:
            assert m.test_loss.min() >= 0.5 * m.test_loss.iloc[0] and t[P][0] is not None, t
    (tr120, te120), (tr500, te500) = t[120], t[500]
    assert None not in (tr120, te120, tr500, te500), t
    assert te120 >= 4 * tr120 and te500 <= 1.5 * tr500, t
    assert te500 * 3 <= te120, t
