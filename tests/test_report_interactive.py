"""Interactive report curves: the plotted data are the stored metrics, every figure is valid plotly,
identical curves are drawn once, plotly.js is embedded once and inflates to the package's own file, a
missing plotly degrades to the static figures with the extra named, and every PNG of figures/ (theory.png
included) is embedded. (Rendering in headless Chromium: tests/test_report.py.)"""
from __future__ import annotations

import base64
import gzip
import html
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import small_config

from grokscope.api import run
from grokscope.cli import main
from grokscope.store import load_run
from grokscope.views.interactive import PLOTS, plotly_js_packed, run_plots
from grokscope.views.report import run_html

go = pytest.importorskip("plotly.graph_objects")


@pytest.fixture(scope="module")
def one(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inter")
    return run(small_config(tmp, **{"train.steps": 60, "output.plots": True}), tmp / "r", quiet=True)


def _plot_data(text):
    return json.loads(re.search(r'<script type="application/json" id="gs-plot-data">(.*?)</script>', text,
                                re.S).group(1).replace("<\\/", "</"))


def test_plotted_data_are_the_stored_metrics(one):
    r = load_run(one.path)
    figs = run_plots(r)
    assert [f["id"] for f in figs] == ["gs-plot-loss", "gs-plot-alignment", "gs-plot-decomposition",
                                       "gs-plot-movement"]
    labels = {f"gs-plot-{key}": {lab: col for col, lab in cols.items()} for key, _, cols, _, _ in PLOTS}
    logy = {f"gs-plot-{key}": lg for key, _, _, _, lg in PLOTS}
    df = r.metrics
    n_curves = 0
    for f in figs:
        go.Figure(data=f["data"], layout=f["layout"])  # plotly validates every property name and value
        for tr in f["data"]:
            col = labels[f["id"]].get(tr["name"])
            if col is None:
                continue  # the threshold, t_train/t_test and K₀ lines, checked below
            y = df[col].to_numpy(dtype=float, na_value=np.nan)
            m = np.isfinite(y) & ((y > 0) if logy[f["id"]] else True)
            np.testing.assert_array_equal(tr["x"], np.maximum(df["step"].to_numpy(), 1)[m])
            np.testing.assert_allclose(tr["y"], y[m], rtol=5e-7, atol=0)  # 7 significant digits
            n_curves += 1
    assert n_curves >= 12
    loss = {t["name"]: t for t in figs[0]["data"]}
    ev = r.summary["events"]["absolute"]["0.1"]
    assert loss["threshold 0.1"]["y"] == [0.1, 0.1]
    assert loss[f"t_train = {ev['t_train']}"]["x"] == [ev["t_train"]] * 2
    assert loss["K₀ regression test MSE"]["y"] == [r.summary["k0"]["test_mse"]] * 2
    text = run_html(r.path)
    assert _plot_data(text) == json.loads(json.dumps(figs))  # the page carries exactly these figures


def test_identical_curves_are_drawn_once(one, tmp_path):
    d = tmp_path / "same"
    shutil.copytree(one.path, d)
    df = pd.read_parquet(d / "metrics.parquet")
    df["ntk_cka"] = df["ntk_alignment"]  # CKA equal to the centred alignment, as in fig1
    df["ntk_alignment_uncentred"] = df["ntk_alignment"] * (1 + 1e-3)  # close, but not the same curve
    df.to_parquet(d / "metrics.parquet")
    (fig,) = [f for f in run_plots(load_run(d)) if f["id"] == "gs-plot-alignment"]
    assert [t["name"] for t in fig["data"]] == ["centred alignment = CKA (identical)", "uncentred alignment"]


def test_plotly_js_is_embedded_once_and_inflates_to_the_package_file(one):
    import plotly
    packed = plotly_js_packed()
    js = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    assert gzip.decompress(base64.b64decode(packed)) == js
    text = run_html(one.path)
    assert text.count(packed) == 1
    assert len(text.encode()) < 0.6 * len(js)  # compressed: the page is smaller than plotly.min.js alone


def test_without_plotly_the_report_names_the_extra(one, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)  # `import plotly` now raises ImportError
    text = run_html(one.path)
    assert 'id="no-interactive"' in text and "pip install 'grokscope[interactive]'" in html.unescape(text)
    assert 'id="gs-plotly"' not in text and 'id="gs-plot-data"' not in text
    assert len(re.findall(r'<img src="data:image/png;base64,', text)) == 5  # the static figures stay


def test_every_figure_the_run_wrote_is_embedded(one, tmp_path, capsys):
    d = tmp_path / "th"
    shutil.copytree(one.path, d)
    assert main(["theory", "--run", str(d)]) == 0
    capsys.readouterr()
    png = (d / "figures" / "theory.png").read_bytes()
    (d / "figures" / "fig1.pdf").write_bytes(b"%PDF-1.4 stand-in")  # as output.formats: [png, pdf] saves it
    text = run_html(d)
    assert ' · <a href="figures/fig1.pdf">PDF</a></figcaption>' in text
    i = text.index(base64.b64encode(png).decode())
    assert text.rfind('<a href="figures/theory.png">', 0, i) > text.rfind("<figure>", 0, i)
    assert "Theory curves over the run" in text[i:text.index("</figure>", i)]
