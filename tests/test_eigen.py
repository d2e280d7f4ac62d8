"""Eigenvector labels (paper Fig 5): labels against a direct eigendecomposition of a Gram matrix built
with torch.func.jacrev, the hook in train.build, config errors, and j = 1 vs a large j end to end."""
from __future__ import annotations

import pytest
import torch
from torch.func import jacrev

from grokscope.api import run
from grokscope.config import ConfigError, load_config
from grokscope.config.presets import get_preset
from grokscope.tasks.eigen import eigen_labels
from grokscope.training.build import build


def _cfg(tmp_path, **over):
    base = load_config(get_preset("fig5-small"), {"train.progress": False, "output.root": str(tmp_path),
                                                  "output.plots": False})
    return base.replace(**over) if over else base


@pytest.mark.parametrize("j", [1, 7, 60])
def test_labels_match_direct_eigendecomposition(tmp_path, j):
    cfg = _cfg(tmp_path, **{"task.j": j, "scaling.alpha": 1.3})
    b = build(cfg)
    data, model, params0 = b.data, b.model, b.params0
    X = torch.cat([data.X_train, data.X_test])
    alpha = cfg.scaling.alpha

    def f(W):  # f̃ = α f over all points, (n,)
        return alpha * model.apply({**params0, "W": W}, X)

    J = jacrev(f)(params0["W"]).reshape(X.shape[0], -1)       # (n, N·D)
    K = J @ J.T
    Kc = K - K.mean()
    lam, V = torch.linalg.eigh(Kc)
    v = V[:, -j]                                               # j-th largest
    v = v * torch.sign(v[v.abs().argmax()])
    y = torch.cat([data.y_train, data.y_test])
    assert float((y - v).abs().max()) < 1e-10
    assert abs(float(y.norm()) - 1.0) < 1e-12 and data.y_train.shape == (cfg.task.P,)
    assert abs(data.meta["eigenvalue"] - float(lam[-j])) <= 1e-10 * float(lam.abs().max())
    gap = float(min(abs(lam[-j] - lam[-j - 1]), abs(lam[-j] - lam[min(-j + 1, -1)]) if j > 1 else 1e9))
    assert gap > 1e-8 * float(lam.abs().max())  # the eigenvector is well defined


def test_labels_deterministic_and_model_dependent(tmp_path):
    a = build(_cfg(tmp_path)).data
    b = build(_cfg(tmp_path)).data
    c = build(_cfg(tmp_path, **{"model.seed": 5})).data
    assert torch.equal(a.y_train, b.y_train) and not torch.allclose(a.y_train, c.y_train)


def test_hook_leaves_other_tasks_alone(tmp_path):
    b = build(load_config({"task": {"D": 5, "P": 10, "P_test": 10}, "model": {"N": 4},
                           "output": {"root": str(tmp_path)}}))
    assert eigen_labels(b.data, torch.eye(b.data.P + b.data.X_test.shape[0])) is b.data


def test_config_errors():
    with pytest.raises(ConfigError, match=r"task.j = 201: must be ≤ task.P \+ task.P_test = 200"):
        load_config({"task": {"name": "eigen", "j": 201}})
    with pytest.raises(ConfigError, match=r"task.j = 0"):
        load_config({"task": {"name": "eigen", "j": 0}})


def test_top_eigenvector_generalises_sooner(tmp_path):
    """Paper Fig 5 at reduced size (D = 30, P = 40 + 40): j = 1 generalises with the train loss, j = 25
    groks (test loss halves > 10× later than the train loss), j = 40 never generalises in the run
    (measured: (t_train, t_test) at 0.5·L(0) = (3, 4), (15, 253), (90, never))."""
    ev = {}
    for j in (1, 25, 40):
        r = run(_cfg(tmp_path, **{"task.j": j, "probes.names": ["loss"]}), tmp_path / f"j{j}")
        e = r.summary["events"]["relative"]["0.5"]
        ev[j] = (e["t_train"], e["t_test"])
    assert ev[1][1] is not None and ev[1][1] <= 2 * ev[1][0] + 2
    assert ev[25][1] is not None and ev[25][1] > 10 * ev[25][0] and ev[25][1] > 10 * ev[1][1]
    assert ev[40][0] is not None and ev[40][1] is None
