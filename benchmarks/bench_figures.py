"""Run figures: the single-draw Canvas against plain matplotlib with a reused figure (issue #18 item 4).

Both draw every panel of one run (``grokscope demo``'s settings with ``train.steps`` = 2000, so five
panels) as PNG at the same size and dpi:
- ``canvas``: :class:`grokscope.views.canvas.Canvas` (margins fitted from one tight-box pass, one
  draw, the PNG encoded from the drawn buffer);
- ``plain``: one ``Figure(layout="constrained")`` reused (cleared per panel) and ``savefig(png)``.
Also the vector formats through the canvas (``save_formats`` with pdf, svg). Best of ``--repeat``
rounds (each round draws every panel once), after one warm-up round.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_figures.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

from grokscope.api import run
from grokscope.config import load_config
from grokscope.config.presets import get_preset
from grokscope.views.canvas import DPI, FIGSIZE, Canvas
from grokscope.views.plots import run_panels


def best(fn, repeat: int) -> float:
    fn()
    out = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--steps", type=int, default=2000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    cfg = load_config(get_preset("fig1"),
                      {"train.steps": args.steps, "train.progress": False, "output.plots": False,
                       "output.root": str(tmp)})
    r = run(cfg, tmp / "run", quiet=True)
    panels = run_panels(r)

    canvas = Canvas()

    def with_canvas() -> None:
        for _, draw in panels:
            canvas.png(draw, r)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)

    def plain() -> None:
        for _, draw in panels:
            fig.clear()
            draw(r, fig.add_subplot())
            fig.savefig(io.BytesIO(), format="png", dpi=DPI)

    def vector() -> None:
        for name, draw in panels:
            canvas.save_formats(tmp / name, ["pdf", "svg"], draw, r)

    t_canvas, t_plain = best(with_canvas, args.repeat), best(plain, args.repeat)
    t_vec = best(vector, max(1, args.repeat // 2))
    n = len(panels)
    print(f"{n} panels of fig1 ({args.steps} steps), best of {args.repeat}:")
    print(f"  canvas (png)          {t_canvas:.3f} s  ({t_canvas / n * 1e3:.0f} ms/panel)")
    print(f"  plain matplotlib (png) {t_plain:.3f} s  ({t_plain / n * 1e3:.0f} ms/panel)   "
          f"plain / canvas = {t_plain / t_canvas:.2f}")
    print(f"  canvas (pdf + svg)    {t_vec:.3f} s  ({t_vec / n * 1e3:.0f} ms/panel)")


if __name__ == "__main__":
    main()
