"""Modular arithmetic task: labels against brute-force Python arithmetic, splits, encodings, config errors."""
from __future__ import annotations

import pytest
import torch

from grokscope.config import ConfigError, load_config
from grokscope.numerics.losses import accuracy
from grokscope.tasks import TASKS
from grokscope.tasks.base import onehot_targets
from grokscope.tasks.modular import all_pairs, modular_labels

BRUTE = {
    "add": lambda a, b, p: (a + b) % p,
    "sub": lambda a, b, p: (a - b) % p,
    "mul": lambda a, b, p: (a * b) % p,
    "div": lambda a, b, p: next(c for c in range(p) if (c * b) % p == a),  # the c with c·b ≡ a
    "x2xyy2": lambda a, b, p: (a * a + a * b + b * b) % p,
}


def _section(**kw):
    from grokscope.config import ModularTask
    return ModularTask(**kw)


@pytest.mark.parametrize("op", list(BRUTE))
@pytest.mark.parametrize("p", [2, 5, 11])
def test_labels_every_op_against_brute_force(op, p):
    ab = all_pairs(p, op)
    y = modular_labels(ab[:, 0], ab[:, 1], p, op)
    want = [BRUTE[op](int(a), int(b), p) for a, b in ab.tolist()]
    assert y.dtype == torch.int64 and y.tolist() == want
    assert ab.shape == ((p * (p - 1), 2) if op == "div" else (p * p, 2))


@pytest.mark.parametrize("op", list(BRUTE))
def test_dataset_labels_follow_inputs(op):
    """Decode (a, b) from the one-hot and the token inputs of the built dataset and recompute c."""
    p = 13
    for inputs in ("onehot", "tokens"):
        d = TASKS["modular"](_section(p=p, op=op, frac_train=0.5, inputs=inputs))
        for X, y in ((d.X_train, d.y_train), (d.X_test, d.y_test)):
            if inputs == "onehot":
                assert X.shape[1] == 2 * p and X.dtype == torch.float64
                assert torch.all(X.sum(1) == 2) and torch.all(X[:, :p].sum(1) == 1)
                a, b = X[:, :p].argmax(1), X[:, p:].argmax(1)
            else:
                assert X.shape[1] == 3 and X.dtype == torch.int64 and torch.all(X[:, 2] == p)
                a, b = X[:, 0], X[:, 1]
            assert y.tolist() == [BRUTE[op](int(i), int(j), p) for i, j in zip(a, b)]
        assert d.classes == p and (d.meta.get("vocab") == p + 1) == (inputs == "tokens")


@pytest.mark.parametrize("op,frac", [("add", 0.3), ("div", 0.9), ("x2xyy2", 0.5)])
def test_split_disjoint_covering_and_sized(op, frac):
    p = 11
    d = TASKS["modular"](_section(p=p, op=op, frac_train=frac, split_seed=3))
    tr = {tuple(r) for r in d.meta["pairs_train"].tolist()}
    te = {tuple(r) for r in d.meta["pairs_test"].tolist()}
    every = {tuple(r) for r in all_pairs(p, op).tolist()}
    assert not tr & te and tr | te == every
    assert len(tr) == round(frac * len(every)) == d.P
    assert d.X_test.shape[0] == len(te)


def test_deterministic_and_seed_dependent():
    a = TASKS["modular"](_section(p=11, split_seed=1))
    b = TASKS["modular"](_section(p=11, split_seed=1))
    c = TASKS["modular"](_section(p=11, split_seed=2))
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.meta["pairs_train"], c.meta["pairs_train"])


def test_onehot_targets_and_accuracy():
    d = TASKS["modular"](_section(p=7))
    h = onehot_targets(d)
    assert h.y_train.shape == (d.P, 7) and h.y_train.dtype == torch.float64
    assert torch.equal(h.y_train.argmax(1), d.y_train) and torch.all(h.y_train.sum(1) == 1)
    assert onehot_targets(h) is h  # float targets are left alone
    logits = torch.randn(d.P, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    want = (logits.argmax(1) == d.y_train).double().mean().item()
    assert accuracy(logits, d.y_train) == want == accuracy(logits, h.y_train)


@pytest.mark.parametrize("task,match", [
    ({"p": 12, "op": "div"}, r"task.p = 12: op = div needs a prime p"),
    ({"p": 3, "frac_train": 0.05}, r"task.frac_train = 0.05: gives 0 of 9 pairs"),
    ({"p": 3, "frac_train": 0.99}, r"task.frac_train = 0.99: gives 9 of 9 pairs"),
    ({"p": 1}, r"task.p = 1"),
    ({"op": "pow"}, r"task.op = 'pow'"),
    ({"inputs": "bits"}, r"task.inputs = 'bits'"),
    ({"modulus": 7}, r"task.modulus: unknown key; allowed here: name, p, op"),
])
def test_config_errors_name_key_and_value(task, match):
    with pytest.raises(ConfigError, match=match):
        load_config({"task": {"name": "modular", "inputs": "onehot", **task}, "model": {"name": "transformer"},
                     "scaling": {"lr_rule": "plain"}})


def test_unknown_task_name_and_incompatible_sections():
    with pytest.raises(ConfigError, match=r"task.name = 'modulo': unknown; allowed are polynomial, modular"):
        load_config({"task": {"name": "modulo"}})
    with pytest.raises(ConfigError, match=r"model.name = 'committee' has one scalar output"):
        load_config({"task": {"name": "modular", "inputs": "onehot"}})
    with pytest.raises(ConfigError, match=r"task.inputs = 'tokens' feeds a sequence model"):
        load_config({"task": {"name": "modular", "inputs": "tokens"}})
    from grokscope.training.build import build
    with pytest.raises(ConfigError, match=r"train.loss = 'cross_entropy' needs class labels"):
        build(load_config({"train": {"loss": "cross_entropy"}}))
    # a section without a name is still the polynomial task (old configs keep working)
    assert load_config({"task": {"D": 5}}).task.name == "polynomial"


def test_too_large_p_refused_before_any_work():
    from grokscope.config.presets import get_preset
    from grokscope.training.build import build
    cfg = load_config(get_preset("fig6b"), {"task.p": 4093})  # 16.7 M pairs × 4093 logits
    with pytest.raises(ConfigError, match=r"task.p = 4093: a full-batch run over its 16752649 pairs needs about"):
        build(cfg)
