"""Teacher–student task: data determinism, the teacher against a direct torch computation, the
thresholded accuracy against a direct formula, the probe in a run, and the α direction of Fig 8."""
from __future__ import annotations

import math

import pytest
import torch

from grokscope.api import run
from grokscope.config import ConfigError, load_config
from grokscope.config.presets import get_preset
from grokscope.tasks.base import TASKS
from grokscope.tasks.teacher import threshold_accuracy, threshold_key


def _task(**kw):
    return load_config({"task": {"name": "teacher", **kw}}).task


def test_data_deterministic_and_seeded():
    a, b, c = TASKS["teacher"](_task()), TASKS["teacher"](_task()), TASKS["teacher"](_task(seed=1))
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.X_train, c.X_train) and not torch.equal(a.y_train, c.y_train)
    assert a.X_train.shape == (100, 5) and a.y_train.shape == (100, 5) and a.X_test.shape == (100, 5)
    assert not torch.equal(a.X_train, a.X_test)


def test_teacher_is_a_torch_default_tanh_mlp():
    """y = W2 tanh(W1 tanh(W0 x + b0) + b1) + b2 with |W_l|, |b_l| ≤ 1/√fan_in (nn.Linear's default)."""
    d = TASKS["teacher"](_task())
    p = d.meta["teacher_params"]
    for i, fan_in in enumerate((5, 100, 100)):
        bound = 1 / math.sqrt(fan_in)
        assert float(p[f"W{i}"].abs().max()) <= bound and float(p[f"b{i}"].abs().max()) <= bound
        assert float(p[f"W{i}"].abs().max()) > 0.9 * bound  # uniform over the whole interval
    h = torch.tanh(d.X_train @ p["W0"].T + p["b0"])
    h = torch.tanh(h @ p["W1"].T + p["b1"])
    torch.testing.assert_close(d.y_train, h @ p["W2"].T + p["b2"], rtol=1e-14, atol=1e-15)


def test_threshold_accuracy_direct_formula():
    g = torch.Generator().manual_seed(0)
    pred, y = torch.randn(50, 5, generator=g, dtype=torch.float64), torch.randn(50, 5, generator=g, dtype=torch.float64)
    y = pred + 0.1 * torch.rand(50, 1, generator=g, dtype=torch.float64) * (y - pred)
    for theta in (1e-4, 1e-3, 5e-3, 0.01, 0.1):
        direct = sum(1 for m in range(50)
                     if sum(float(pred[m, k] - y[m, k]) ** 2 for k in range(5)) / 5 < theta) / 50
        assert threshold_accuracy(pred, y, theta) == direct
    assert threshold_key(0.001) == "1e-03" and threshold_key(5e-4) == "5e-04"


def test_config_errors():
    with pytest.raises(ConfigError, match=r"task.thresholds contains -0.1"):
        load_config({"task": {"name": "teacher", "thresholds": [0.1, -0.1]}})
    with pytest.raises(ConfigError, match=r"probes.names contains 'accuracy': not supported"):
        from grokscope.training.build import build
        build(load_config(get_preset("fig8-small"), {"probes.names": ["accuracy"]}))
    from grokscope.views.theory_report import theory_report
    with pytest.raises(ConfigError, match=r"theory: task.name = 'teacher', model.name = 'mlp'"):
        theory_report(load_config(get_preset("fig8")))


def _run(tmp_path, alpha, steps, probes=None):
    over = {"scaling.alpha": alpha, "train.steps": steps, "train.progress": False, "output.plots": False,
            "output.root": str(tmp_path), "train.log_per_decade": 5, "probes.expensive_points": 3}
    if probes:
        over["probes.names"] = probes
    return run(load_config(get_preset("fig8-small"), over), tmp_path / f"a{alpha}")


def test_fig8_small_end_to_end_all_probes(tmp_path):
    r = _run(tmp_path, 1.0, 30)
    m = r.metrics
    cols = [f"test_acc_thr_{threshold_key(t)}" for t in (1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.1)]
    for col in ("train_acc", "test_acc", *cols, "ntk_alignment", "kernel_distance", "lin_test_loss",
                "ntk_effective_rank"):
        assert col in m and m[col].notna().any(), col
    assert (m[cols].diff(axis=1).iloc[:, 1:] >= 0).all().all()  # accuracy grows with the threshold θ
    assert (m["test_acc"] == m["test_acc_thr_1e-03"]).all()
    assert r.summary["twin"]["method"] == "param"


def test_alpha_direction(tmp_path):
    """Fig 8: small α learns features (its NTK moves) and the thresholded test accuracy rises with the
    train accuracy; large α stays lazier and its test accuracy lags (more pronounced grokking).
    Measured at 600 steps: kernel distance 0.53 vs 0.11, test acc (θ = 0.01) 1.0 vs 0.04."""
    rich = _run(tmp_path, 0.1, 600, ["loss", "threshold_accuracy", "ntk"]).metrics.iloc[-1]
    lazy = _run(tmp_path, 3.0, 600, ["loss", "threshold_accuracy", "ntk"]).metrics.iloc[-1]
    assert rich["kernel_distance"] > 2 * lazy["kernel_distance"]
    assert rich["test_acc_thr_1e-02"] > lazy["test_acc_thr_1e-02"] + 0.5
