"""The neurogym tasks (tasks/neuro.py) at the paper's timing and the row-by-row digits
(tasks/seq_digits.py): shapes, labels, seeded reproducibility, the fixed probe set, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("neurogym")

from grokscope.config import ConfigError, load_config  # noqa: E402
from grokscope.tasks.base import TASKS  # noqa: E402


def _data(**task):
    cfg = load_config({"task": {"name": "neuro", "n_train": 40, "n_test": 30, **task}})
    return TASKS["neuro"](cfg.task)


@pytest.mark.parametrize("env, n_in", [("2AF", 3), ("DMS", 3), ("CXT", 5)])
def test_paper_tasks_have_eight_steps_and_decision_labels(env, n_in):
    d = _data(env=env)
    T = d.meta["seq_len"]
    assert (T, d.meta["n_in"], d.classes) == (8, n_in, 3)  # the authors' seq_len = 8 at dt = 100 ms
    assert d.X_train.shape == (40, T * n_in) and d.X_test.shape == (30, T * n_in)
    gt = d.meta["gt_train"]
    assert torch.equal(d.y_train, gt[:, -1]) and set(d.y_train.tolist()) <= {1, 2}  # a choice at the decision
    assert (gt[:, :-1] == 0).all()  # fixate before it (fixation period 0 ms: no cue step)


def test_2af_labels_follow_the_stronger_stimulus():
    """Perceptual decision making: the label is the channel with the larger mean evidence in most trials
    (neurogym's default coherences 0…51.2 %, noise σ = 1/√dt)."""
    d = _data(env="2AF", n_train=400)
    u = d.X_train.reshape(400, 8, 3)[:, :7]  # stimulus frames
    pick = 1 + (u[..., 2].mean(1) > u[..., 1].mean(1)).long()
    assert (pick == d.y_train).double().mean() > 0.7


def test_trials_are_seeded_and_the_probe_set_is_fixed():
    a, b = _data(seed=3), _data(seed=3)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.X_test, b.X_test)
    c = _data(seed=4)
    assert not torch.equal(a.X_test, c.X_test)
    more = _data(seed=3, n_train=80)  # the probe set (test stream) does not depend on n_train
    assert torch.equal(more.X_test, a.X_test) and torch.equal(more.X_train[:40], a.X_train)
    assert not torch.equal(a.X_train[:30], a.X_test)  # train and test streams differ


def test_bad_task_names_and_timings_fail_at_config_time():
    with pytest.raises(ConfigError, match=r"task.env = '2AFC': not a neurogym task \(did you mean 2AF\?\)"):
        load_config({"task": {"name": "neuro", "env": "2AFC"}})
    with pytest.raises(ConfigError, match=r"task.env = 'PerceptualDecisionMaking-v9'.*did you mean "
                                          r"PerceptualDecisionMaking-v0"):
        load_config({"task": {"name": "neuro", "env": "PerceptualDecisionMaking-v9"}})
    with pytest.raises(ConfigError, match=r"task.timing"):
        load_config({"task": {"name": "neuro", "timing": {"stimulus": -5}}})
    cfg = load_config({"task": {"name": "neuro", "env": "ContextDecisionMaking-v0", "n_train": 50, "n_test": 5}})
    with pytest.raises(ConfigError, match="fixed durations"):  # neurogym's own CXT delay is random
        TASKS["neuro"](cfg.task)


def test_seq_digits_reads_images_row_by_row():
    from sklearn.datasets import load_digits
    cfg = load_config({"task": {"name": "seq_digits", "n_train": 100, "n_test": 50, "seed": 1}})
    d = TASKS["seq_digits"](cfg.task)
    assert (d.meta["n_in"], d.meta["seq_len"], d.classes) == (8, 8, 10)
    images, labels = load_digits(return_X_y=True)
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(1)).numpy()
    np.testing.assert_array_equal(d.X_train.numpy().reshape(100, 8, 8), images[perm[:100]].reshape(100, 8, 8) / 16)
    np.testing.assert_array_equal(d.y_test.numpy(), labels[perm[100:150]])
    with pytest.raises(ConfigError, match=r"task.n_train \+ task.n_test = 1000 \+ 1000"):
        TASKS["seq_digits"](load_config({"task": {"name": "seq_digits", "n_train": 1000, "n_test": 1000}}).task)
