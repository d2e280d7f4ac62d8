"""The run figures' single-draw canvas against matplotlib's own references: the PNG equals ``savefig``
of the same laid-out figure byte for byte, and the fitted axes box equals constrained layout's."""
from __future__ import annotations

import io

import pytest
from conftest import small_config

from grokscope.api import run
from grokscope.views.canvas import DPI, FIGSIZE, MIN_AXES, PAD_IN, Canvas, shared_canvas
from grokscope.views.plots import run_panels


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("canvas")
    return run(small_config(tmp, **{"train.steps": 40}), tmp / "r", quiet=True)


def _reference_figure(draw, run_, **layout):
    from matplotlib.figure import Figure
    fig = Figure(figsize=FIGSIZE, dpi=DPI, **layout)
    ax = fig.add_subplot()
    draw(run_, ax)
    return fig, ax


def test_panels_cover_every_logged_diagnostic(small_run):
    names = [n for n, _ in run_panels(small_run)]
    assert names == ["fig1", "ntk_alignment", "decomposition", "movement", "twin"]


def test_png_is_savefig_of_the_laid_out_figure(small_run):
    """One draw + encode of the drawn buffer == fig.savefig (which draws again) at the same margins;
    the reused figure (renderer caches warm from the previous panels) changes no pixel."""
    c = Canvas()
    for _, draw in run_panels(small_run) * 2:
        png = c.png(draw, small_run)
        sp = c.fig.subplotpars
        fig, _ = _reference_figure(draw, small_run)
        fig.subplots_adjust(left=sp.left, right=sp.right, bottom=sp.bottom, top=sp.top)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
        assert png == buf.getvalue()


def test_margins_match_constrained_layout(small_run):
    """The fitted axes box equals constrained layout's (same 3 pt pad) to 2e-3 of the figure (~1 px),
    and every piece of text lies inside the figure: pad ± 1 px from the nearest edge."""
    c = shared_canvas()
    for name, draw in run_panels(small_run):
        ax = c.draw(draw, small_run)
        fig, ref_ax = _reference_figure(draw, small_run, layout="constrained")
        fig.savefig(io.BytesIO(), format="png", dpi=DPI)
        assert ax.get_position().extents == pytest.approx(ref_ax.get_position().extents, abs=2e-3), name
        bb = c.fig.get_tightbbox(c.fig.canvas.get_renderer())
        W, H = FIGSIZE
        gaps = [bb.x0, W - bb.x1, bb.y0, H - bb.y1]
        assert gaps == pytest.approx([PAD_IN] * 4, abs=1 / DPI), name


def test_labels_wider_than_the_figure_keep_the_axes(small_run):
    def huge(run_, ax):
        ax.plot([1, 2], [3, 4])
        ax.set_title("t" * 400)  # wider than the figure
        ax.set_xlabel("x\n" * 80)  # taller than the figure
    ax = Canvas().draw(huge, small_run)
    b = ax.get_position()
    assert b.width == pytest.approx(MIN_AXES) and b.height == pytest.approx(MIN_AXES)


def test_shared_canvas_is_per_thread():
    import threading
    got = []
    t = threading.Thread(target=lambda: got.append(shared_canvas()))
    t.start()
    t.join()
    assert shared_canvas() is shared_canvas() and got[0] is not shared_canvas()


def test_save_formats_writes_each_format_from_one_layout(small_run, tmp_path):
    """png: the bytes of :meth:`Canvas.png`; pdf and svg: the same laid-out figure, without a date, so
    drawing the panel again gives the same files."""
    from grokscope.views.canvas import vector_bytes
    c = Canvas()
    name, draw = run_panels(small_run)[0]
    paths = c.save_formats(tmp_path / name, ["png", "pdf", "svg"], draw, small_run)
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.pdf", f"{name}.svg"]
    assert paths[0].read_bytes() == c.png(draw, small_run)
    assert paths[1].read_bytes().startswith(b"%PDF") and b"<svg" in paths[2].read_bytes()[:2000]
    again = c.save_formats(tmp_path / "again", ["svg", "pdf"], draw, small_run)
    assert [p.read_bytes() for p in again] == [paths[2].read_bytes(), paths[1].read_bytes()]
    with pytest.raises(ValueError, match="png, pdf, svg"):
        vector_bytes(c.fig, "jpg")
