"""Theory curves drawn over a finished run (``grokscope theory --run RUN_DIR``).

The figure ``figures/theory.png`` puts, on the run's own log–log loss axes:
- the run's train and test loss (and the exact population test loss when logged);
- the kernel-limit (α → ∞, linearised) train/test curves of the run's finite-N initial NTK,
  computed in closed form by :func:`~grokscope.views.theory_report.linearised_curves` at the run's steps;
- the t → ∞ limit of that curve (ridgeless K₀ regression) as a horizontal line;
- the predicted kernel-fit time of the linear modes and the feature-learning estimate from
  :func:`~grokscope.views.theory_report.theory_report` as vertical lines;
- where the asymptotic theory covers the run (docs/theory-asymptotic.md: quadratic committee, single-index
  target, full-batch GD), its D → ∞ train/test curves at fixed P/D on the run's steps.
Only the stored metrics and the config are read; nothing is retrained (views never recompute).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


def overlay_data(run: Any) -> dict[str, Any]:
    """Theory numbers for ``run`` (a :class:`~grokscope.store.Run`): {"steps", "kernel" (curves at the
    run's logged steps plus t = ∞), "report" (theory_report)}. Raises ValueError when not applicable."""
    from grokscope.views.theory_report import linearised_curves, theory_report
    cfg = run.config
    report = theory_report(cfg)
    if not report["applicable"]:
        raise ValueError("theory curves need the setting the theory covers: "
                         + "; ".join(report["not_applicable_because"]))
    steps = sorted({int(s) for s in run.metrics["step"]})
    kernel = linearised_curves(cfg, [float(s) for s in steps] + [math.inf])
    return {"steps": steps, "kernel": kernel, "report": report, "asymptotic": _asymptotic(cfg, steps)}


def _asymptotic(cfg: Any, steps: list[int]) -> dict[str, Any] | None:
    """The asymptotic theory's curves at the run's steps, or None where the theory does not cover it."""
    from grokscope.config import ConfigError
    from grokscope.views.theory_asymptotic import asymptotic_curves
    try:
        return asymptotic_curves(cfg, steps)
    except ConfigError:
        return None


def cfg_n(run: Any) -> Any:
    return getattr(run.config.model, "N", "?")


def save_theory_figure(run: Any, data: dict[str, Any] | None = None) -> Path:
    """Write RUN/figures/theory.<format> for every format of ``output.formats`` (see the module
    docstring); returns the first path written (theory.png by default)."""
    from grokscope.store import atomic_write_bytes, atomic_write_figure
    from grokscope.views.canvas import vector_bytes
    from grokscope.views.plots import _plt
    plt = _plt()
    d = data or overlay_data(run)
    df = run.metrics
    x = np.maximum(df["step"].to_numpy(), 1)
    ks = np.maximum(np.asarray(d["steps"], dtype=float), 1)
    k = d["kernel"]
    fig, ax = plt.subplots(figsize=(6.8, 4.4), constrained_layout=True)
    ax.plot(x, df["train_loss"], color="C0", lw=1.8, label="run: train")
    ax.plot(x, df["test_loss"], color="C1", lw=1.8, label="run: test")
    if "test_loss_exact" in df:
        ax.plot(x, df["test_loss_exact"], color="C1", lw=0.9, ls=":", label="run: test (exact)")
    ax.plot(ks, k["train_loss"][:-1], color="C0", lw=1.1, ls="--", label="kernel limit: train")
    ax.plot(ks, k["test_loss"][:-1], color="C1", lw=1.1, ls="--", label="kernel limit: test")
    ax.axhline(k["test_loss"][-1], color="C3", lw=1.0, label="kernel limit t → ∞ (K₀ regression)")
    a = d.get("asymptotic")
    if a is not None:
        xa = np.maximum(a["step"], 1)
        ax.plot(xa, a["train_loss"], color="C4", lw=1.1, ls=(0, (1, 1.5)), label="asymptotic theory: train")
        ax.plot(xa, a["test_loss"], color="C5", lw=1.3, ls=(0, (1, 1.5)), label="asymptotic theory: test")
    rep = d["report"]
    tau = rep.get("timescales", {}).get("linear")
    if tau and math.isfinite(tau):
        ax.axvline(tau, color="0.45", lw=0.9, ls="-.", label=f"kernel fit of linear modes ~{tau:.3g}")
    fl = rep.get("feature_learning", {})
    t_fl = fl.get("t_wide_population") or fl.get("t_analytic")
    if t_fl and math.isfinite(t_fl):
        ax.axvline(t_fl, color="C2", lw=1.2, ls="-.", label=f"feature learning (estimate) ~{t_fl:.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("MSE")
    ax.set_title(f"run vs theory: α = {rep['alpha']:g}, ε = {rep['eps']:g}, N = {cfg_n(run)}, P = {rep['P']}, "
                 f"D = {rep['D']}", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    paths = []
    try:
        for fmt in getattr(run.config.output, "formats", None) or ["png"]:
            out = Path(run.path) / "figures" / f"theory.{fmt}"
            if fmt == "png":
                atomic_write_figure(out, fig)
            else:
                atomic_write_bytes(out, vector_bytes(fig, fmt))
            paths.append(out)
    finally:
        plt.close(fig)
    return paths[0]
