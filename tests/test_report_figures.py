"""report.html embeds the PNGs a run wrote and draws only what is missing or older than the metrics."""
from __future__ import annotations

import base64
import os
import re

import pytest
from conftest import small_config

from grokscope.api import run
from grokscope.views import canvas
from grokscope.views.report import RUN_CAPTIONS, write_report

# the report's order: fig1, ntk_alignment, movement, decomposition, twin (the committee logs no accuracy)
NAMES = [n for n in RUN_CAPTIONS if n != "accuracy"]


def _imgs(text):
    return [base64.b64decode(b) for b in re.findall(r'<img src="data:image/png;base64,([^"]+)"', text)]


@pytest.fixture
def count_draws(monkeypatch):
    """Count the panels drawn through grokscope.views.canvas (the only way run figures are drawn)."""
    drawn = []
    png = canvas.Canvas.png

    def counting(self, draw, *args):
        drawn.append(draw)
        return png(self, draw, *args)
    monkeypatch.setattr(canvas.Canvas, "png", counting)
    return drawn


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("repfig")
    cfg = small_config(tmp, **{"train.steps": 30, "output.plots": True})
    return run(cfg, tmp / "plots", quiet=True), run(cfg.replace(**{"output.plots": False}), tmp / "noplots",
                                                       quiet=True)


def test_run_saves_every_report_panel(runs):
    r, _ = runs
    assert r.summary["figures"] == [f"figures/{n}.png" for n in
                                    ("fig1", "ntk_alignment", "decomposition", "movement", "twin")]
    text = (r.path / "report.html").read_text()
    assert _imgs(text) == [(r.path / "figures" / f"{n}.png").read_bytes() for n in NAMES]


def test_report_of_a_finished_run_draws_nothing(runs, count_draws):
    r, _ = runs
    text = write_report(r.path).read_text()
    assert count_draws == []
    assert _imgs(text) == [(r.path / "figures" / f"{n}.png").read_bytes() for n in NAMES]


def test_figures_older_than_the_metrics_are_drawn_again(runs, tmp_path, count_draws):
    import shutil
    r, _ = runs
    d = tmp_path / "stale"
    shutil.copytree(r.path, d)
    m = (d / "metrics.parquet").stat()
    for n in ("fig1", "twin"):  # written before the metrics were last rewritten: stale
        os.utime(d / "figures" / f"{n}.png", ns=(m.st_atime_ns, m.st_mtime_ns - 10**9))
    (d / "figures" / "movement.png").unlink()
    imgs = _imgs(write_report(d).read_text())
    assert len(count_draws) == 3 and len(imgs) == 5
    for i, n in enumerate(NAMES):
        if n in ("ntk_alignment", "decomposition"):
            assert imgs[i] == (d / "figures" / f"{n}.png").read_bytes()
        else:  # drawn now from the same metrics, on the same canvas settings: the same pixels
            assert imgs[i] == (r.path / "figures" / f"{n}.png").read_bytes()


def test_run_without_plots_gets_its_figures_drawn_by_report(runs, count_draws):
    r, bare = runs
    assert not (bare.path / "figures").exists() and not (bare.path / "report.html").exists()
    imgs = _imgs(write_report(bare.path).read_text())
    assert len(count_draws) == 5 and len(imgs) == 5
    assert imgs == [(r.path / "figures" / f"{n}.png").read_bytes() for n in NAMES]
