"""docs/architecture.md's recipes, each followed with a toy example in tests/recipes/: a task, a model,
a probe and an engine, each one file whose import is the one registration line."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from grokscope import load_config, run
from grokscope.training.build import build

QUIET = {"train.progress": False, "output.plots": False}


@pytest.fixture(scope="module", autouse=True)
def recipes():
    """Import the recipes (each import is its one registration line) and unregister them afterwards, so
    the toy families do not leak into other tests run by the same process."""
    from grokscope.config.extend import unregister_engine_name, unregister_section
    from grokscope.engines.registry import ENGINES
    from grokscope.models.registry import MODELS
    from grokscope.tasks.base import TASKS
    sys.path.insert(0, str(Path(__file__).parent / "recipes"))
    import toy_engine  # noqa: F401
    import toy_model  # noqa: F401
    import toy_task  # noqa: F401
    yield
    del MODELS["cosine"], TASKS["sine"], ENGINES["halfstep"]
    unregister_section("model", "cosine")
    unregister_section("task", "sine")
    unregister_engine_name("halfstep")
    sys.path.remove(str(Path(__file__).parent / "recipes"))


def test_task_recipe(tmp_path):
    """The sine task runs end to end; its scalar targets let auto pick the reduced engine, which is
    exact for any data set: it matches the network engine to 1e-10."""
    over = {"task.name": "sine", "task.D": 6, "task.P": 40, "task.P_test": 30, "model.N": 12, "model.eps": 0.5,
            "optim.lr": 0.2, "train.steps": 150, "output.root": str(tmp_path), **QUIET}
    auto = run(load_config(None, over), tmp_path / "auto", quiet=True)
    net = run(load_config(None, {**over, "train.engine": "network"}), tmp_path / "net", quiet=True)
    assert auto.summary["engine"]["name"] == "reduced" and auto.status == "completed"
    for col in ("train_loss", "test_loss"):
        a, b = auto.metrics[col].to_numpy(), net.metrics[col].to_numpy()
        assert abs(a - b).max() <= 1e-10 * abs(b).max()
    assert auto.metrics["train_loss"].iloc[-1] < 0.5 * auto.metrics["train_loss"].iloc[0]


def test_model_recipe(tmp_path):
    """The cosine model trains by autograd on the polynomial task (it declares no hand gradient, no NTK
    path and no quadratic form, so only the probes that need none run)."""
    cfg = load_config(None, {"model.name": "cosine", "model.J": 24, "task.D": 5, "task.P": 40, "task.P_test": 40,
                             "scaling.lr_rule": "plain", "optim.lr": 0.05, "train.steps": 200,
                             "output.root": str(tmp_path), **QUIET})
    r = run(cfg, tmp_path / "cos", quiet=True)
    assert r.status == "completed" and r.summary["engine"]["name"] == "network"
    assert "autograd" in r.summary["engine"]["reason"]
    assert set(r.metrics.columns) == {"step", "train_loss", "test_loss", "weight_norm", "param_change"}
    assert r.metrics["train_loss"].iloc[-1] < r.metrics["train_loss"].iloc[0]


@pytest.fixture
def toy_probe():
    """The probe recipe, registered for one test only: an always-supported probe would join every
    'auto' run of the tests that share this process."""
    import toy_probe

    from grokscope.training.probes import PROBES
    PROBES[toy_probe.PROBE.name] = toy_probe.PROBE
    yield toy_probe
    del PROBES[toy_probe.PROBE.name]


def test_probe_recipe(tmp_path, toy_probe):
    cfg = load_config(None, {"task.D": 6, "task.P": 30, "task.P_test": 20, "model.N": 10, "train.steps": 50,
                             "probes.names": ["loss", "output_rms"], "output.root": str(tmp_path), **QUIET})
    r = run(cfg, tmp_path / "p", quiet=True)
    assert list(r.metrics.columns) == ["step", "train_loss", "test_loss", "output_rms"]
    assert r.metrics["output_rms"].iloc[0] == 0.0 and r.metrics["output_rms"].iloc[-1] > 0  # centred start
    b = build(cfg)
    for _ in range(50):
        b.engine.step()
    want = math.sqrt(float(b.engine.outputs("test").square().mean()))
    assert r.metrics["output_rms"].iloc[-1] == pytest.approx(want, rel=1e-12)


def test_engine_recipe():
    """T steps of halfstep equal 2T network steps at η/2, to rounding."""
    base = {"task.D": 6, "task.P": 30, "task.P_test": 20, "model.N": 10, "model.eps": 0.3, "optim.lr": 0.4,
            **QUIET}
    half = build(load_config(None, {**base, "train.engine": "halfstep"}))
    net = build(load_config(None, {**base, "train.engine": "network", "optim.lr": 0.2}))
    assert half.engine_name == "halfstep" and half.eta == pytest.approx(2 * net.eta)
    for _ in range(40):
        half.engine.step()
        net.engine.step()
        net.engine.step()
    assert torch.allclose(half.engine.params["W"], net.engine.params["W"], rtol=1e-12, atol=1e-14)
    assert build(load_config(None, base)).engine_name == "reduced"  # auto never picks priority −1
