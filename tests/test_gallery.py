"""Gallery: every figure type grokscope writes, rendered for small runs and a tiny sweep, checked with
matplotlib's own bounding boxes (issue #18 item 5).

Runs: one preset per model family (their ``SMALL`` overrides, shrunk further to a few steps),
so every run panel (fig1, ntk_alignment, decomposition, movement, twin, accuracy) and the theory
overlay is drawn; a tiny (α, ε) sweep with two seeds gives the heatmap, curves and collapse views.
Checks on each laid-out figure:
- no two legend entries draw the same data (labelled lines compared with ``style.same_data``), and no
  two legend entries look alike (same text, or the same colour, line style and marker);
- every drawn tick label sits inside its axes' extent along the axis, every text inside the figure;
- axes have x and y labels (colour bars a label);
- no two drawn texts overlap (window extents from the Agg renderer).
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from conftest import small_config

from grokscope.api import run
from grokscope.config import load_config
from grokscope.config.presets import PRESETS, SMALL, get_preset
from grokscope.views.canvas import Canvas
from grokscope.views.plots import run_panels
from grokscope.views.style import declutter_ticks, drawn_ticklabels, same_data

SHRINK = {"task.D": 10, "task.P": 24, "task.P_test": 24, "task.j": 5, "task.p": 7, "task.n_train": 30,
          "task.n_test": 30, "model.N": 12, "model.d_model": 8, "model.d_mlp": 16, "optim.batch_size": None}
COMMON = {"train.steps": 12, "train.log_per_decade": 4, "train.dtype": "float64", "train.progress": False,
          "probes.expensive_points": 3, "output.plots": False}


# one preset per model family: fig1 has every committee panel, fig8 the MLP with the teacher thresholds
# on the accuracy panel, fig6b the transformer; families added later join automatically
# (tests/test_views_all_presets.py draws every preset's figures, without these checks)
GALLERY = ("fig1", "fig8", "fig6b")


def families() -> list[str]:
    """GALLERY, plus the first preset of any model family it does not cover (added later)."""
    names = list(GALLERY)
    covered = {load_config(get_preset(n)).model.name for n in GALLERY}
    for n in PRESETS:
        m = load_config(get_preset(n), SMALL.get(n, {})).model.name
        if m not in covered:
            covered.add(m)
            names.append(n)
    return names


def tiny(name: str, root):
    small = dict(SMALL.get(name, {}))
    cfg = load_config(get_preset(name), small)
    over = {}
    for key, v in SHRINK.items():
        sec, field = key.split(".")
        cur = getattr(getattr(cfg, sec), field, None)
        if cur is not None:
            over[key] = min(cur, v) if v is not None else min(cur, 10)
    for key in ("task.hidden", "model.hidden"):
        sec, field = key.split(".")
        cur = getattr(getattr(cfg, sec), field, None)
        if cur is not None:
            over[key] = [8] * len(cur)
    return load_config(get_preset(name), {**small, **over, **COMMON, "output.root": str(root), "output.name": name})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("gallery")
    return {name: run(tiny(name, root), quiet=True, threads=1) for name in families()}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    from grokscope.sweep.runner import run_sweep
    from grokscope.sweep.spec import parse_spec
    base = {"task.D": 8, "task.P": 30, "task.P_test": 40, "model.N": 10, "optim.lr": 2, "train.steps": 150,
            "train.log_per_decade": 8, "probes.names": ["loss", "exact_loss", "weights"], "output.plots": False,
            "output.formats": ["png", "pdf", "svg"]}
    spec = parse_spec({"name": "gallery", "base": {"preset": "fig1", "set": base},
                       "axes": {"scaling.alpha": [0.25, 1, 4], "model.eps": [0.1, 0.3]}, "seeds": 2,
                       "plots": [{"heatmap": "grok_amount_0.1", "x": "scaling.alpha", "y": "model.eps"},
                                 {"curves": "test_loss", "colour": "scaling.alpha", "normalise": True},
                                 {"collapse": "final_param_change", "derived": "model.eps**2*scaling.alpha",
                                  "colour": "model.eps"}]})
    sw = tmp_path_factory.mktemp("gallery_sweep") / "sw"
    df = run_sweep(spec, sw, progress=False)
    assert (df["status"] == "completed").all()
    return spec, sw, df


# ---------------------------------------------------------------------------------------------- checks

def _texts(fig):
    """Every Text the last draw rendered: visible, non-empty; tick labels only when drawn."""
    from matplotlib.text import Text
    ticks, drawn = set(), set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for t in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks |= {id(t.label1), id(t.label2)}
            drawn |= {id(t) for t in drawn_ticklabels(axis)}
    out = []
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip() and (id(t) not in ticks or id(t) in drawn):
            out.append(t)
    return out


def check_figure(fig, what: str) -> None:
    """The checks of the module docstring on ``fig``, laid out and drawn by the caller."""
    r = fig.canvas.get_renderer()
    W, H = fig.bbox.width, fig.bbox.height
    texts = _texts(fig)
    for t in texts:  # inside the figure (1 px slack)
        b = t.get_window_extent(r)
        assert b.x0 >= -1 and b.y0 >= -1 and b.x1 <= W + 1 and b.y1 <= H + 1, (what, t.get_text(), b)
    for a, b in combinations(texts, 2):
        ba, bb = a.get_window_extent(r), b.get_window_extent(r)
        assert not ba.overlaps(bb), (what, a.get_text(), b.get_text())
    for ax in fig.axes:
        is_cbar = hasattr(ax, "_colorbar")
        box = ax.get_window_extent(r)
        for axis, (lo, hi) in ((ax.xaxis, (box.x0, box.x1)), (ax.yaxis, (box.y0, box.y1))):
            for lab in drawn_ticklabels(axis):
                vlo, vhi = sorted(axis.get_view_interval())
                loc = next(t.get_loc() for t in axis._update_ticks() if lab in (t.label1, t.label2))
                assert vlo - 1e-9 * abs(vlo) <= loc <= vhi + 1e-9 * abs(vhi), (what, lab.get_text(), loc)
                tb = lab.get_window_extent(r)  # the label's centre within the axes, ± half its size
                c, half = (((tb.x0 + tb.x1) / 2, tb.width / 2) if axis is ax.xaxis
                           else ((tb.y0 + tb.y1) / 2, tb.height / 2))
                assert lo - half - 1 <= c <= hi + half + 1, (what, "tick label outside its axes", lab.get_text())
        if is_cbar:
            assert ax.get_ylabel() or ax.get_xlabel(), (what, "colour bar without a label")
        elif ax.get_visible() and ax.axison and ax.lines + ax.collections:
            assert ax.get_ylabel(), (what, "no y label")
            if not _is_twin(ax, fig):
                assert ax.get_xlabel(), (what, "no x label")
    _check_legends(fig, what)


def _is_twin(ax, fig) -> bool:
    return any(o is not ax and ax in o.get_shared_x_axes().get_siblings(o) for o in fig.axes) and not ax.get_xlabel()


def _check_legends(fig, what: str) -> None:
    from matplotlib.colors import to_rgba
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    labelled = [ln for ax in fig.axes for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    for a, b in combinations(labelled, 2):
        assert not same_data(*a.get_data(), *b.get_data()), (what, "same data", a.get_label(), b.get_label())
    for leg in legends:
        labels = [t.get_text() for t in leg.get_texts()]
        assert len(set(labels)) == len(labels), (what, labels)
        looks = []
        for h in leg.legend_handles:
            if hasattr(h, "get_linestyle") and hasattr(h, "get_color"):
                looks.append((to_rgba(h.get_color()), str(h.get_linestyle()), str(getattr(h, "get_marker", str)())))
        assert len(set(looks)) == len(looks), (what, "two legend entries look alike", labels)


# ---------------------------------------------------------------------------------------------- tests

def test_every_run_panel_of_every_family(runs):
    kinds = set()
    canvas = Canvas()
    for name, r in runs.items():
        for panel, draw in run_panels(r):
            canvas.draw(draw, r)
            check_figure(canvas.fig, f"{name}/{panel}")
            kinds.add(panel)
    assert kinds == {"fig1", "ntk_alignment", "decomposition", "movement", "twin", "accuracy"}


def test_theory_overlay(runs, tmp_path):
    import matplotlib.pyplot as plt

    from grokscope.views.theory_overlay import save_theory_figure
    r = runs["fig1"]
    captured = []
    orig = plt.close
    try:
        plt.close = lambda fig=None: captured.append(fig)
        save_theory_figure(r)
    finally:
        plt.close = orig
    check_figure(captured[0], "theory")
    orig(captured[0])


def test_sweep_views(sweep):
    from grokscope.sweep.views import canonical_view, render_view
    spec, sw, df = sweep
    for v in spec.plots:
        fig, name = render_view(df, spec, sw, canonical_view(v))
        declutter_ticks(fig)
        check_figure(fig, name)
        import matplotlib.pyplot as plt
        plt.close(fig)


def test_heatmap_ticks_at_cell_centres_with_sampled_values(sweep):
    """Ticks sit at the sampled values, labelled with them; α is log-spaced so its axis is log; cell
    colours are the seed means and the cell text their interquartile range (numpy quantiles)."""
    from grokscope.sweep.views import heatmap
    spec, sw, df = sweep
    ax = heatmap(df, "final_test_loss", "scaling.alpha", "model.eps", spec.scales)
    ax.figure.draw_without_rendering()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert [t.get_text() for t in drawn_ticklabels(ax.xaxis)] == ["0.25", "1", "4"]
    assert [t.get_text() for t in drawn_ticklabels(ax.yaxis)] == ["0.1", "0.3"]
    np.testing.assert_allclose(ax.get_xticks(), [0.25, 1, 4], rtol=0)
    Z = np.ma.filled(ax.collections[0].get_array().reshape(2, 3), np.nan)
    g = df.groupby(["model.eps", "scaling.alpha"])["final_test_loss"]
    np.testing.assert_allclose(Z, g.mean().unstack().to_numpy(), rtol=1e-12)
    from grokscope.views.labels import fmt_compact
    want = g.quantile(0.75) - g.quantile(0.25)
    texts = {(round(t.get_position()[0], 9), round(t.get_position()[1], 9)): t.get_text() for t in ax.texts}
    for (e, a), v in want.items():
        assert texts[(round(a, 9), round(e, 9))] == fmt_compact(v)
    import matplotlib.pyplot as plt
    plt.close(ax.figure)


def test_log_colour_scale_only_over_a_decade():
    from grokscope.views.phase import colour_norm
    norm, is_log = colour_norm(np.array([[0.0, 5.0], [60.0, np.nan]]))
    assert is_log and norm.vmin == 5.0 and norm.vmax == 60.0
    assert norm(np.array([0.0]))[0] < 0  # ≤ 0 maps below the scale: the "under" colour
    assert not colour_norm(np.array([[2.0, 15.0]]))[1]


def test_coinciding_curves_are_drawn_once():
    import matplotlib.pyplot as plt

    from grokscope.views.style import plot_series
    fig, ax = plt.subplots()
    x = np.arange(1, 6)
    y = np.array([0.0, 1, 2, 3, 4])
    series = [("centred", y, {}), ("CKA", y * (1 + 1e-9), {}), ("other", y + 1, {}), ("near", (y + 1) * 1.001, {}),
              ("apart", y * 1.01, {})]
    lines = plot_series(ax, x, series, logy=True)
    assert [ln.get_label() for ln in lines] == ["centred = CKA (identical)", "other ≈ near (differ by ≤ 0.1 %)",
                                                "apart"]
    np.testing.assert_array_equal(lines[0].get_xdata(), [2, 3, 4, 5])  # the step-0 zero is dropped (log y)
    plt.close(fig)


def test_secondary_axis_starts_at_zero_when_its_range_is_tiny():
    import matplotlib.pyplot as plt

    from grokscope.views.style import honest_twin
    fig, ax = plt.subplots()
    y = np.linspace(0.0100, 0.0135, 20)
    ax.plot(y)
    honest_twin(ax, y, "alignment")
    assert ax.get_ylim()[0] == 0 and ax.get_ylabel() == "alignment; varies by 26% of its max"
    plt.close(fig)


def test_every_format_is_written(sweep, tmp_path):
    """output.formats: each run figure and each sweep figure in every requested format (pdf, svg
    without png here)."""
    from grokscope.sweep.views import draw
    spec, sw, _ = sweep
    paths = draw(sw, spec.plots[:1])
    assert [p.suffix for p in paths] == [".png", ".pdf", ".svg"] and len({p.stem for p in paths}) == 1
    r = run(small_config(tmp_path, **{"train.steps": 20, "output.plots": True, "output.report": False,
                                      "probes.names": ["loss"], "output.formats": ["svg", "pdf"]}),
            tmp_path / "r", quiet=True)
    figs = r.summary["figures"]
    assert figs == [f"figures/{n}.{f}" for n, _ in run_panels(r) for f in ("svg", "pdf")] and figs
    for f in figs + [str(p) for p in paths]:
        data = (r.path / f).read_bytes()
        assert data.startswith(b"%PDF") if f.endswith(".pdf") else b"<svg" in data[:2000] or data[:4] == b"\x89PNG"
    assert not list((r.path / "figures").glob("*.png"))


def test_bad_formats_fail_at_config_time(tmp_path):
    from grokscope.config import ConfigError
    for bad, msg in ((["jpg"], "output.formats"), ([], "output.formats"), (["png", "png"], "at most once")):
        with pytest.raises(ConfigError, match=msg):
            small_config(tmp_path, **{"output.formats": bad})

