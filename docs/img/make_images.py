"""Regenerate the README images from real runs (nothing is drawn from made-up numbers):

- ``phase-diagram.png``: the grokking-amount heatmap of the packaged ``fig3e`` sweep with ``--quick``
  (D = 20, P = 110, N = 50 on a 5 × 5 grid of the paper's (α, ε) range; see
  src/grokscope/config/specs/fig3e.yaml), drawn by ``grokscope.sweep.views``;
- ``run-figure.png``: the Fig 1(b) panel of a small ``fig1`` run (D = 20, P = 110, P_test = 300,
  N = 50, the paper's η₀ scaled by D/100 as in the quick sweeps, 20 000 steps), drawn by
  ``grokscope.views.plots``.

    OMP_NUM_THREADS=1 .venv/bin/python docs/img/make_images.py [--work DIR]

Runs and the sweep are kept in ``--work`` (default: a temporary directory), so a second call with
the same ``--work`` only redraws.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUN_SET = {"task.D": 20, "task.P": 110, "task.P_test": 300, "model.N": 50, "optim.lr": 0.2,
           "train.steps": 20000, "train.progress": False, "output.plots": False}


def phase_diagram(work: Path) -> Path:
    from grokscope.sweep.runner import run_sweep
    from grokscope.sweep.spec import load_spec
    from grokscope.sweep.views import canonical_view, render_view, save_figure
    spec = load_spec(preset="fig3e", quick=True)
    sw = work / "fig3e-quick"
    df = run_sweep(spec, sw, progress=False)
    fig, _ = render_view(df, spec, sw, canonical_view({"heatmap": "grok_amount_0.1", "x": "scaling.alpha",
                                                       "y": "model.eps"}))
    fig.set_size_inches(6.0, 4.5)
    fig.suptitle("fig3e --quick: D = 20, P = 110, N = 50", fontsize=9)
    (path,) = save_figure(fig, work, "phase-diagram", ["png"])
    return Path(shutil.copyfile(path, HERE / "phase-diagram.png"))


def run_figure(work: Path) -> Path:
    from grokscope.api import run
    from grokscope.config import load_config
    from grokscope.config.presets import get_preset
    from grokscope.views.canvas import Canvas
    from grokscope.views.plots import run_panels
    r = run(load_config(get_preset("fig1"), {**RUN_SET, "output.root": str(work)}), work / "fig1-small",
            quiet=True)
    draw = dict(run_panels(r))["fig1"]
    out = HERE / "run-figure.png"
    Canvas().save(out, draw, r)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=None, help="directory for the runs (default: temporary)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="grokscope-img-"))
    work.mkdir(parents=True, exist_ok=True)
    for p in (run_figure(work), phase_diagram(work)):
        print(f"{p}  {p.stat().st_size / 1024:.0f} kB")


if __name__ == "__main__":
    main()
