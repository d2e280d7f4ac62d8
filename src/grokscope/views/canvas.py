"""Cheap PNGs of a run's panels: one reused Agg figure, margins fitted before a single draw.

Constrained layout measures every tick label on two extra passes per figure, and ``savefig`` after
a layout draws again. Here a panel is laid out and drawn once:

1. ``fig.get_tightbbox`` on the figure's own renderer gives the box (inches) of everything drawn
   (tick labels, axis labels, twin axes, title, legend); the subplot margins are moved so that box
   sits ``pad`` inches inside every edge (constrained layout's default pad, 3 pt);
2. one draw; the ticks made, mathtext parsed and text measured in step 1 are reused by it;
3. the PNG is encoded from the drawn buffer, as ``savefig`` does after its own draw.

Log axes are given only their in-view ticks first (:func:`_trim_log_ticks`), which changes no pixel.

The figure (and so its renderer, with its mathtext and text-metric caches) is reused for every panel
of a :class:`Canvas`; :func:`shared_canvas` keeps one per thread, so a process that finishes many runs
(a sweep) keeps those caches warm. :func:`grokscope.views.plots.save_run_figures` draws all of a run's panels
on it. :meth:`Canvas.save_formats` writes one drawn panel in every requested format (png, pdf, svg).
"""
from __future__ import annotations

import functools
import io
import math
import threading
import warnings
from pathlib import Path
from typing import Any

PAD_IN = 3 / 72  # inches between the outermost text and the figure edge
FIGSIZE = (6.4, 4.2)  # inches, every run panel
DPI = 120
MIN_AXES = 0.3  # the axes keep at least this fraction of the figure in each direction
_local = threading.local()


class Canvas:
    """One figure of ``figsize`` inches at ``dpi``, cleared and reused for each panel drawn on it.
    Not thread-safe: one Canvas per thread."""

    def __init__(self, figsize: tuple[float, float] = FIGSIZE, dpi: int = DPI, pad: float = PAD_IN):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        self.fig = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.fig)
        self.pad = pad

    def draw(self, draw: Any, *args: Any) -> Any:
        """Clear the figure, call ``draw(*args, ax)`` on a new axes, fit the margins, render once.
        Returns the axes (its figure holds the rendered pixels until the next call)."""
        fig = self.fig
        with warnings.catch_warnings():  # clearing a log x axis shared with a twin resets it to (0, 1)
            warnings.filterwarnings("ignore", "Attempt to set non-positive", UserWarning)
            fig.clear()
        fig.subplots_adjust(left=0.12, right=0.95, bottom=0.12, top=0.95)
        ax = fig.add_subplot()
        draw(*args, ax)
        for a in fig.axes:
            _trim_log_ticks(a)
        renderer = fig.canvas.get_renderer()
        fit_margins(fig, renderer, self.pad)
        fig.canvas.draw()
        return ax

    def png(self, draw: Any, *args: Any) -> bytes:
        """PNG bytes of ``draw(*args, ax)`` (see :meth:`draw`); the same bytes ``fig.savefig(format=
        "png", dpi=dpi)`` writes for the laid-out figure."""
        from matplotlib.image import imsave
        self.draw(draw, *args)
        buf = io.BytesIO()
        imsave(buf, self.fig.canvas.buffer_rgba(), format="png", origin="upper", dpi=self.fig.dpi)
        return buf.getvalue()

    def save(self, path: Path, draw: Any, *args: Any) -> None:
        """Write :meth:`png` to ``path`` atomically."""
        from grokscope.store import atomic_write_bytes
        atomic_write_bytes(Path(path), self.png(draw, *args))

    def save_formats(self, stem: Path, formats: list[str], draw: Any, *args: Any) -> list[Path]:
        """Draw ``draw(*args, ax)`` once and write ``stem.<fmt>`` atomically for every format (png:
        :meth:`png`'s bytes; pdf, svg: ``savefig`` of the same laid-out figure, without a creation
        date so the same figure gives the same file). Returns the paths written."""
        from grokscope.store import atomic_write_bytes
        stem, paths = Path(stem), []
        vector = [f for f in formats if f != "png"]
        if "png" in formats:
            atomic_write_bytes(stem.with_name(stem.name + ".png"), self.png(draw, *args))
        elif vector:
            self.draw(draw, *args)
        for fmt in formats:
            if fmt != "png":
                atomic_write_bytes(stem.with_name(f"{stem.name}.{fmt}"), vector_bytes(self.fig, fmt))
            paths.append(stem.with_name(f"{stem.name}.{fmt}"))
        return paths


VECTOR_FORMATS = ("pdf", "svg")
_NO_DATE = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}


def vector_bytes(fig: Any, fmt: str) -> bytes:
    """``fig`` (already laid out) saved as ``fmt`` (pdf or svg) without a creation date and with fixed
    SVG element ids, so the same figure gives the same bytes."""
    if fmt not in VECTOR_FORMATS:
        raise ValueError(f"figure format {fmt!r}: expected one of png, {', '.join(VECTOR_FORMATS)}")
    import matplotlib
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "grokscope"}):  # fixed SVG ids: same figure, same bytes
        fig.savefig(buf, format=fmt, metadata=_NO_DATE[fmt])
    return buf.getvalue()


@functools.cache
def _in_view_locator() -> type:
    """A Locator wrapping a log axis' locator that returns only the ticks inside the view interval
    (with a 1e-9 relative margin, looser than the 1e-10 of matplotlib's own drawing test, so every
    tick that would be drawn is kept). LogLocator adds a decade of ticks beyond each end, which
    matplotlib creates as tick objects and formats but never draws; LogFormatter labels from the view
    interval, not from the locations, so the drawn figure is unchanged (tested byte for byte)."""
    import numpy as np
    from matplotlib.ticker import Locator

    class InView(Locator):
        def __init__(self, base: Any, axis: Any):
            self.base, self.axis = base, axis

        def __call__(self) -> Any:
            locs = np.asarray(self.base())
            lo, hi = sorted(self.axis.get_view_interval())
            return locs[(locs >= lo * (1 - 1e-9)) & (locs <= hi * (1 + 1e-9))]

        def tick_values(self, vmin: float, vmax: float) -> Any:
            return self.base.tick_values(vmin, vmax)

        def view_limits(self, vmin: float, vmax: float) -> Any:
            return self.base.view_limits(vmin, vmax)

        def nonsingular(self, v0: float, v1: float) -> Any:
            return self.base.nonsingular(v0, v1)

        def set_params(self, **kwargs: Any) -> None:
            self.base.set_params(**kwargs)

    return InView


def _trim_log_ticks(ax: Any) -> None:
    """Wrap the major and minor locators of ``ax``'s log-scaled axes (see :func:`_in_view_locator`)."""
    from matplotlib.ticker import LogLocator
    InView = _in_view_locator()
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() != "log":
            continue
        for ticker in (axis.major, axis.minor):
            if isinstance(ticker.locator, LogLocator):
                ticker.locator = InView(ticker.locator, axis)


def fit_margins(fig: Any, renderer: Any, pad: float = PAD_IN) -> None:
    """Set the subplot margins so the figure's tight box lies ``pad`` inches inside each edge.

    With the box [x0, x1] × [y0, y1] (inches) at the current margins and the figure W × H inches,
    text moves with the axes edge it hangs on: left += (pad − x0)/W, right += (W − pad − x1)/W,
    bottom += (pad − y0)/H, top += (H − pad − y1)/H; each clamped so the axes keep ``MIN_AXES``.
    """
    bb = fig.get_tightbbox(renderer)
    if bb is None or not all(math.isfinite(v) for v in bb.extents):
        return
    W, H = fig.get_size_inches()
    sp = fig.subplotpars
    left = sp.left + (pad - bb.x0) / W
    right = sp.right + (W - pad - bb.x1) / W
    bottom = sp.bottom + (pad - bb.y0) / H
    top = sp.top + (H - pad - bb.y1) / H
    if right - left < MIN_AXES:  # labels wider than the figure: keep the axes visible, centred
        mid = (left + right) / 2
        left, right = mid - MIN_AXES / 2, mid + MIN_AXES / 2
    if top - bottom < MIN_AXES:
        mid = (bottom + top) / 2
        bottom, top = mid - MIN_AXES / 2, mid + MIN_AXES / 2
    fig.subplots_adjust(left=left, right=right, bottom=bottom, top=top)


def shared_canvas() -> Canvas:
    """This thread's default-size :class:`Canvas`, made on first use and kept for the process."""
    c = getattr(_local, "canvas", None)
    if c is None:
        c = _local.canvas = Canvas()
    return c
