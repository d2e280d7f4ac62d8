"""Network engine: analytic gradients = autograd over many steps; centring; mini-batches."""
from __future__ import annotations

import pytest
import torch
from conftest import small_config

from grokscope.training.build import build


@pytest.mark.parametrize("over", [
    {},
    {"scaling.centre": False},
    {"model.phi": "tanh", "model.readouts": "trained", "model.readout_init": "normal"},
    {"optim.name": "adam", "optim.lr": 0.01},
    {"optim.name": "momentum", "optim.lr": 0.1, "optim.weight_decay": 0.01},
    {"optim.name": "sgd", "optim.batch_size": 8},
])
def test_analytic_equals_autograd_trajectory(tmp_path, over):
    cfg = small_config(tmp_path, **over)
    a = build(cfg).engine
    b = build(cfg.replace(**{"train.grad": "autograd"})).engine
    for _ in range(150):
        la, lb = a.step(), b.step()
        torch.testing.assert_close(la, lb, rtol=1e-10, atol=1e-12)
    for n in a.params:
        torch.testing.assert_close(a.params[n], b.params[n], rtol=1e-10, atol=1e-11)
    assert a.param_change() > 0.05  # the weights really moved


def test_centred_output_starts_at_zero(tmp_path):
    e = build(small_config(tmp_path)).engine
    assert torch.count_nonzero(e.outputs("train")) == 0
    assert torch.count_nonzero(e.outputs("test")) == 0
    e2 = build(small_config(tmp_path, **{"scaling.centre": False})).engine
    assert torch.count_nonzero(e2.outputs("train")) > 0


def test_quadratic_form_matches_outputs(tmp_path):
    for centre in (True, False):
        e = build(small_config(tmp_path, **{"scaling.centre": centre, "scaling.alpha": 2.5})).engine
        for _ in range(30):
            e.step()
        c, u, S = e.quadratic_form()
        X = e.data.X_test
        torch.testing.assert_close(c + X @ u + 0.5 * ((X @ S) * X).sum(1), e.outputs("test"),
                                   rtol=1e-11, atol=1e-12)


def test_sgd_batches_cover_each_epoch(tmp_path):
    e = build(small_config(tmp_path, **{"optim.name": "sgd", "optim.batch_size": 10})).engine
    seen = torch.cat([e._batch() for _ in range(4)])
    assert sorted(seen.tolist()) == list(range(40))
