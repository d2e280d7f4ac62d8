"""Sweep spec: expansion (grid, ranges, zip, seeds, quick), validation errors naming the axis,
the packaged figure specs, and the safe derived-quantity evaluator of the views."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from grokscope.config import ConfigError
from grokscope.store import run_id
from grokscope.sweep.spec import expand, load_spec, parse_spec, spec_presets
from grokscope.sweep.views import derived

BASE = {"task": {"D": 6, "P": 20, "P_test": 30}, "model": {"N": 8, "eps": 0.3},
        "train": {"steps": 20, "engine": "network"}, "output": {"plots": False}}


def spec(**kw):
    return parse_spec({"name": "t", "base": BASE, **kw})


def test_grid_ranges_zip_and_order():
    s = spec(axes={"scaling.alpha": {"log": [0.25, 4], "num": 5}, "model.eps": {"lin": [0.1, 0.3], "num": 3}},
             zip=[{"model.sigma": [0.5, 2], "optim.lr": [2, 0.125]}])
    assert s.axes["scaling.alpha"] == [0.25, 0.5, 1.0, 2.0, 4.0]  # exact powers of two after rounding
    assert s.axes["model.eps"] == [0.1, 0.2, 0.3]
    assert s.scales == {"scaling.alpha": "log", "model.eps": "lin", "model.sigma": "lin", "optim.lr": "lin"}
    plan = expand(s)
    assert len(plan) == 5 * 3 * 2
    assert s.axes_keys == ["scaling.alpha", "model.eps", "model.sigma", "optim.lr"]
    # first axis slowest, zip group last and varied together
    assert [p.axes["scaling.alpha"] for p in plan[:6]] == [0.25] * 6
    assert [(p.axes["model.sigma"], p.axes["optim.lr"]) for p in plan[:2]] == [(0.5, 2.0), (2.0, 0.125)]
    for p in plan:
        assert p.run_id == run_id(p.cfg)
        assert p.cfg.scaling.alpha == p.axes["scaling.alpha"] and p.cfg.model.sigma == p.axes["model.sigma"]
        assert p.cfg.task.D == 6 and p.cfg.train.progress is False
    assert len({p.run_id for p in plan}) == len(plan)


def test_seeds_vary_seed_keys_and_duplicates_collapse():
    s = spec(axes={"scaling.alpha": [1, 2]}, seeds=3)
    plan = expand(s)
    assert len(plan) == 6
    assert [(p.cfg.model.seed, p.cfg.train.seed, p.seed_index) for p in plan[:3]] == [(0, 0, 0), (1, 1, 1), (2, 2, 2)]
    assert all(p.cfg.task.data_seed == 0 for p in plan)  # default: the data set is fixed
    assert s.axes_keys == ["scaling.alpha", "model.seed", "train.seed"]
    s2 = spec(axes={"scaling.alpha": [1]}, seeds=2, seed_keys=["model.seed", "task.data_seed"])
    assert [(p.cfg.model.seed, p.cfg.task.data_seed) for p in expand(s2)] == [(0, 0), (1, 1)]
    # 1 and 1.0 resolve to the same config: one run
    assert len(expand(spec(axes={"scaling.alpha": [1, 1.0, 2]}))) == 2


def test_quick_section_merges():
    data = {"name": "t", "base": BASE, "axes": {"scaling.alpha": [1, 2, 4], "model.eps": [0.1, 0.2]},
            "quick": {"set": {"train.steps": 5}, "axes": {"scaling.alpha": [1]}, "seeds": 2, "pack_size": 1}}
    full, quick = parse_spec(data), parse_spec(data, quick=True)
    assert len(expand(full)) == 6 and full.base.train.steps == 20
    assert quick.axes == {"scaling.alpha": [1], "model.eps": [0.1, 0.2]} and quick.seeds == 2
    assert quick.base.train.steps == 5 and quick.pack_size == 1 and quick.quick
    with pytest.raises(ConfigError, match="no quick"):
        parse_spec({"name": "t", "base": BASE, "axes": {"scaling.alpha": [1]}}, quick=True)


def test_base_forms(tmp_path):
    s = parse_spec({"base": {"preset": "fig1", "set": {"task.D": 7}}, "axes": {"model.N": [3]}})
    assert s.base.task.D == 7 and s.base.task.P == 550
    (tmp_path / "c.yaml").write_text("task: {D: 9}\n")
    s = parse_spec({"base": {"config": "c.yaml", "model": {"N": 4}}, "axes": {"scaling.alpha": [1]}}, root=tmp_path)
    assert s.base.task.D == 9 and s.base.model.N == 4


@pytest.mark.parametrize("kw, pattern", [
    ({"axes": {"scaling.alpah": [1]}}, r"sweep axis 'scaling\.alpah': unknown dotted config key"),
    ({"axes": {"alpha": [1]}}, r"'alpha'.*did you mean scaling\.alpha"),
    ({"axes": {"model.N": [4, -3]}}, r"(?s)sweep axis values model\.N = -3: .*greater than 0"),
    ({"axes": {"model.phi": ["cubic"]}}, r"model\.phi = 'cubic'"),
    ({"axes": {"scaling.alpha": []}}, r"scaling\.alpha: empty list"),
    ({"axes": {"scaling.alpha": {"log": [0, 1], "num": 3}}}, r"scaling\.alpha: log = \[0, 1\].*lo > 0"),
    ({"axes": {"scaling.alpha": {"log": [1, 2], "num": 0}}}, r"scaling\.alpha: num = 0"),
    ({"axes": {"scaling.alpha": {"lin": [1], "num": 2}}}, r"scaling\.alpha: lin = \[1\]"),
    ({"axes": {"scaling.alpha": 3}}, r"scaling\.alpha = 3: expected a list"),
    ({"axes": {"scaling.alpha": {"log": [1, 2], "num": 2, "step": 1}}}, r"scaling\.alpha: unknown range keys"),
    ({"zip": [{"model.sigma": [1, 2], "optim.lr": [1]}]}, r"zip\[0\]: lists of unequal length"),
    ({"axes": {"model.sigma": [1]}, "zip": [{"model.sigma": [1, 2]}]}, r"'model\.sigma': appears twice"),
    ({"axes": {"output.root": ["a"]}}, r"'output\.root': output settings cannot be swept"),
    ({"axes": {"model.seed": [1, 2]}, "seeds": 2}, r"'model\.seed': is swept and also a seed key"),
    ({"seeds": 0}, r"seeds = 0"),
    ({"seed_keys": ["model.eps"]}, r"'model\.eps': not a seed key"),
    ({"pack_size": "big"}, r"pack_size = 'big'"),
    ({"axess": {}}, r"unknown keys \['axess'\]"),
])
def test_validation_errors_name_the_axis(kw, pattern):
    with pytest.raises(ConfigError, match=pattern):
        spec(**kw)


def test_combination_error_names_every_axis_value():
    # optim.batch_size is only allowed with sgd: the point (optim.name = gd, batch_size = 4) is invalid
    with pytest.raises(ConfigError, match=r"sweep axis values optim\.name = 'gd', optim\.batch_size = 4"):
        spec(axes={"optim.name": ["sgd", "gd"], "optim.batch_size": [4]})


def test_packaged_figure_specs():
    assert set(spec_presets()) >= {"fig3a", "fig3e", "fig7", "fig9"}
    counts = {"fig3a": (9, 9), "fig3e": (196, 25), "fig7": (45, 9), "fig9": (3, 3)}
    for name, (n_full, n_quick) in counts.items():
        full, quick = load_spec(preset=name), load_spec(preset=name, quick=True)
        assert (len(expand(full)), len(expand(quick))) == (n_full, n_quick), name
        assert full.plots, name
    e = load_spec(preset="fig3e")
    assert e.axes["scaling.alpha"] == [round(0.4 * k, 10) for k in range(1, 15)]
    assert e.axes["model.eps"] == [round(0.02 * k, 10) for k in range(1, 15)]
    assert (e.base.task.D, e.base.task.P, e.base.model.N, e.base.optim.lr, e.base.train.steps) == \
        (100, 550, 500, 20.0, 110000)
    with pytest.raises(ConfigError, match="unknown sweep preset"):
        load_spec(preset="fig99")


def test_derived_expression_is_evaluated_safely():
    df = pd.DataFrame({"model.sigma": [0.5, 1.0, 2.0], "scaling.alpha": [4.0, 1.0, 0.25]})
    np.testing.assert_allclose(derived("model.sigma**2*scaling.alpha", df), [1.0, 1.0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(derived("log(scaling.alpha) - 2", df), np.log([4.0, 1.0, 0.25]) - 2, rtol=1e-15)
    np.testing.assert_allclose(derived("-scaling.alpha / 2 + 1", df), [-1.0, 0.5, 0.875], rtol=1e-15)
    for bad in ("__import__('os').system('true')", "model.sigma.__class__", "open('x')", "[1, 2]",
                "scaling.alpha if 1 else 2", "lambda: 1"):
        with pytest.raises(ConfigError, match="--derived"):
            derived(bad, df)
    with pytest.raises(ConfigError, match="'model.eps' is not a results column"):
        derived("model.eps", df)


def test_heatmap_cells_are_means_over_seeds_with_markers():
    from grokscope.sweep.views import collapse, heatmap
    rows = []
    for a in (0.5, 1.0, 2.0):
        for e in (0.1, 0.2):
            for s in (0, 1):
                rows.append({"scaling.alpha": a, "model.eps": e, "status": "completed",
                             "grok_amount_0.1": a * 100 + e * 10 + s, "model.sigma": 1.0 + s})
    df = pd.DataFrame(rows)
    df.loc[(df["scaling.alpha"] == 2.0) & (df["model.eps"] == 0.2), "grok_amount_0.1"] = np.nan  # never
    df.loc[(df["scaling.alpha"] == 0.5) & (df["model.eps"] == 0.1) & (df["model.sigma"] == 2.0), "status"] = "diverged"
    ax = heatmap(df, "grok_amount_0.1", "scaling.alpha", "model.eps", {"scaling.alpha": "log"})
    Z = ax.collections[0].get_array().reshape(2, 3)  # rows: eps, columns: alpha
    want = df.pivot_table(index="model.eps", columns="scaling.alpha", values="grok_amount_0.1", aggfunc="mean")
    np.testing.assert_allclose(np.ma.filled(Z, np.nan), want.reindex(columns=[0.5, 1.0, 2.0]).to_numpy(),
                               rtol=1e-15, equal_nan=True)
    assert np.ma.getmaskarray(Z)[1, 2]  # the never-crossed cell is blank
    marks = {c.get_label(): c.get_offsets().tolist() for c in ax.collections[1:]}
    assert marks == {"never crossed": [[2.0, 0.2]], "diverged": [[0.5, 0.1]]}
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    ax2 = collapse(df, "grok_amount_0.1", "model.sigma**2*scaling.alpha")
    pts = np.asarray(ax2.collections[0].get_offsets())
    ok = (df["grok_amount_0.1"].notna() & (df["status"] == "completed")).to_numpy()  # the diverged run is left out
    np.testing.assert_allclose(pts[:, 0], (df["model.sigma"] ** 2 * df["scaling.alpha"]).to_numpy()[ok], rtol=1e-15)
    np.testing.assert_allclose(pts[:, 1], df["grok_amount_0.1"].to_numpy()[ok], rtol=1e-15)


def test_collapse_coloured_by_a_categorical_key_draws_one_series_per_value():
    """liu-rank's view: a measure against the W_rec rank, one marker per task (task.env is a string)."""
    from grokscope.sweep.views import collapse
    df = pd.DataFrame({"init.recurrent.rank": [1, 30, 300, 1, 30, 300], "task.env": ["2AF"] * 3 + ["DMS"] * 3,
                       "final_liu_kernel_alignment": [0.04, 0.3, 0.5, 0.2, 0.0, 0.6]})
    ax = collapse(df, "final_liu_kernel_alignment", "init.recurrent.rank", "task.env")
    series = {c.get_label(): np.asarray(c.get_offsets()).tolist() for c in ax.collections}
    assert series == {"2AF": [[1, 0.04], [30, 0.3], [300, 0.5]], "DMS": [[1, 0.2], [300, 0.6]]}  # 0 dropped (log)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["2AF", "DMS"]
    df["status"] = ["completed"] * 5 + ["diverged"]  # a diverged run's last values are not drawn
    ax = collapse(df, "final_liu_kernel_alignment", "init.recurrent.rank", "task.env")
    series = {c.get_label(): np.asarray(c.get_offsets()).tolist() for c in ax.collections}
    assert series == {"2AF": [[1, 0.04], [30, 0.3], [300, 0.5]], "DMS": [[1, 0.2]]}
    assert "1 diverged or failed run left out" in ax.get_title()
    # human labels for the measures, the rank and the task (no raw column names on the figure)
    assert ax.get_ylabel() == "final tangent-kernel alignment KA" and ax.get_xlabel() == "rank r of W_rec(0)"
    assert ax.get_legend().get_title().get_text() == "task"


def test_presets_command_lists_run_presets_and_sweep_specs(capsys):
    from grokscope.cli import main
    from grokscope.sweep.spec import spec_presets
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "fig1 " in out and "sweeps (grokscope sweep --preset NAME" in out
    for name in spec_presets():
        assert f"  {name} " in out
    assert {"fig3a", "fig3e", "fig7", "fig9"} <= set(spec_presets())


@pytest.mark.parametrize("n_values", [3, 9])
def test_curves_legend_for_few_colour_values_colour_bar_for_many(tmp_path, n_values):
    """A handful of colour values (fig9's three P) get a legend naming each; many get a colour bar."""
    import matplotlib
    matplotlib.use("Agg")
    from grokscope.sweep.views import LEGEND_MAX, curves
    assert 3 <= LEGEND_MAX < 9
    rows = []
    for i in range(n_values):
        for rep in range(2):  # two runs per value: one legend entry per value, not per run
            rd = f"r{i}-{rep}"
            (tmp_path / rd).mkdir()
            pd.DataFrame({"step": [0, 10, 100], "test_loss": [1.0, 0.5 / (i + 1), 0.1 / (i + 1)]}).to_parquet(
                tmp_path / rd / "metrics.parquet")
            rows.append({"run_id": rd, "run_dir": rd, "status": "completed", "task.P": 50 * (i + 1)})
    ax = curves(pd.DataFrame(rows), tmp_path, "test_loss", "task.P")
    assert len(ax.lines) == 2 * n_values
    legend = ax.get_legend()
    if n_values <= LEGEND_MAX:
        assert [t.get_text() for t in legend.get_texts()] == [f"P = {50 * (i + 1)}" for i in range(n_values)]
        assert len(ax.figure.axes) == 1
    else:
        assert legend is None and len(ax.figure.axes) == 2  # the colour bar's axes
    import matplotlib.pyplot as plt
    plt.close(ax.figure)
