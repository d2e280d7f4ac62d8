"""The asymptotic theory's phase boundaries drawn over a sweep heat map (views.phase_theory)."""
from __future__ import annotations

import numpy as np
import pytest

from grokscope.config import ConfigError
from grokscope.sweep.runner import run_sweep
from grokscope.sweep.spec import parse_spec
from grokscope.sweep.views import draw
from grokscope.theory import asymptotic
from grokscope.views.phase_theory import boundaries


def _spec(**plot):
    """P ∈ {20, 60} × α ∈ {0.5, 2} at D = 20, ε = 0.25: the closed-form generalisation edge γ_min ≈ 1.5
    (doc §5) lies between the two P values, so its contour crosses the plane."""
    return parse_spec({
        "name": "edge", "base": {"preset": "fig1", "set": {
            "task.D": 20, "task.P_test": 50, "model.N": 20, "model.eps": 0.25, "optim.lr": 1.0,
            "train.steps": 300, "train.log_per_decade": 10, "probes.names": ["loss"], "output.plots": False}},
        "axes": {"task.P": [20, 60], "scaling.alpha": [0.5, 2.0]},
        "plots": [{"heatmap": "final_test_loss", "x": "task.P", "y": "scaling.alpha", **plot}]})


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("edge")
    run_sweep(_spec(theory="boundary"), d, progress=False)
    return d


def test_the_margin_grid_is_the_closed_form_and_the_cells_the_predictor(sweep):
    spec = _spec()
    b = boundaries(spec.base, "task.P", "scaling.alpha", np.array([20.0, 60.0]), np.array([0.5, 2.0]), n_fine=7)
    fx, fy, m = b["fine"]
    for j, alpha in enumerate(fy):
        for i, P in enumerate(fx):
            ref = asymptotic.escape_budget(alpha, 0.25, 20, int(round(P)), sigma=spec.base.model.sigma)["margin"]
            assert m[j, i] == pytest.approx(ref, rel=1e-12)
    assert m.min() < 0 < m.max()  # the edge crosses this plane
    xs, ys, f = b["cells"]
    eta0 = spec.base.optim.lr  # lr rule "paper": η = lr·N/α², so η₀ = η·α²/N = optim.lr
    ref = asymptotic.phase_field(2.0, 0.25, 60 / 20, 20, eta0, theta=0.1, max_steps=300, N=20,
                                 sigma=spec.base.model.sigma, centre=spec.base.scaling.centre)
    assert f[1, 1] == pytest.approx(ref, rel=1e-12, nan_ok=True)


def test_the_heatmap_draws_the_edge(sweep):
    import matplotlib.pyplot as plt
    captured = []
    orig = plt.close
    try:
        plt.close = lambda fig=None: captured.append(fig)
        paths = draw(sweep, [{"heatmap": "final_test_loss", "x": "task.P", "y": "scaling.alpha",
                              "theory": "boundary"}])
    finally:
        plt.close = orig
    assert paths and paths[0].stat().st_size > 5_000
    ax = captured[0].axes[0]
    labels = ax.get_legend().get_texts() if ax.get_legend() else []
    assert any("generalisation edge" in t.get_text() for t in labels)
    orig(captured[0])


def test_bad_theory_views_are_refused(sweep):
    with pytest.raises(ConfigError, match="theory = 'edges'; allowed: boundary"):
        draw(sweep, [{"heatmap": "final_test_loss", "x": "task.P", "y": "scaling.alpha", "theory": "edges"}])
    with pytest.raises(ConfigError, match=r"--x 'model.N' is not an axis of the theory"):
        boundaries(_spec().base, "model.N", "scaling.alpha", np.array([1.0, 2.0]), np.array([0.5, 2.0]))


def test_cli_plot_theory_boundary(sweep):
    from grokscope.cli import main
    assert main(["plot", str(sweep), "--heatmap", "final_test_loss", "--x", "task.P", "--y", "scaling.alpha",
                 "--theory", "boundary"]) == 0
    assert (sweep / "figures" / "heatmap_final_test_loss__task.P__scaling.alpha.png").is_file()
