"""Li₂ (issue #22 §5): the critical-fraction formula, the sweep spec over (M, n), and the preset's
network generalising above the critical training-set size and not far below it (small M)."""
from __future__ import annotations

import math

from grokscope.config import load_config
from grokscope.config.preset_families.neighbours_more import li2_critical_fraction
from grokscope.config.presets import get_preset


def test_critical_fraction():
    assert abs(li2_critical_fraction(97) - 2.7482 * math.log(97) / 97) < 1e-15
    assert abs(li2_critical_fraction(23) * 23 ** 2 - 2.7482 * 23 * math.log(23)) < 1e-9   # n_c = c·M ln M
    fr = [li2_critical_fraction(M) for M in (23, 31, 47, 71, 97, 127)]
    assert all(a > b for a, b in zip(fr, fr[1:]))


def test_spec_is_a_grid_over_M_and_n():
    from grokscope.sweep.spec import expand, load_spec
    for quick in (False, True):
        plan = expand(load_spec(preset="li2-sweep", quick=quick))
        Ms = sorted({r.cfg.task.p for r in plan})
        fracs = sorted({r.cfg.task.frac_train for r in plan})
        assert len(plan) == len(Ms) * len(fracs) and len(Ms) >= 3
        # the grid brackets the critical fraction of every M
        assert all(fracs[0] < li2_critical_fraction(M) < fracs[-1] for M in Ms)
        m = plan[0].cfg.model
        assert (m.activation, m.bias, len(m.hidden)) == ("square", False, 1)


def test_small_M_generalises_above_the_critical_size_only(tmp_path):
    from grokscope.training.loop import run
    M = 17  # critical fraction 0.459
    out = {}
    for frac in (0.15, 0.8):
        cfg = load_config(get_preset("li2"), {"task.p": M, "task.frac_train": frac, "model.hidden": [64],
                                              "train.steps": 300, "train.log_per_decade": 5, "train.progress": False,
                                              "output.root": str(tmp_path), "output.plots": False})
        out[frac] = float(run(cfg).metrics.test_acc.iloc[-1])
    assert out[0.8] >= 0.9 and out[0.15] < 0.5, out
