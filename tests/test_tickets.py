"""Grokking tickets (issue #22 §4): masks against brute-force sorting, the fixed-mask optimiser against
training the masked function f(m ⊙ θ) by autograd, init.mask_from end to end (the replayed final weights
reproduce the source run's logged loss), and config errors."""
from __future__ import annotations

import pytest
import torch

from grokscope.config import ConfigError, load_config
from grokscope.numerics import masks
from grokscope.numerics.optim import make_optimiser


def test_magnitude_mask_is_global_and_exact():
    gen = torch.Generator().manual_seed(0)
    W = {"A": torch.randn(7, 5, generator=gen), "B": torch.randn(3, 4, 2, generator=gen), "c": torch.randn(9)}
    for s in (0.0, 0.13, 0.4, 0.9):
        m = masks.magnitude_mask(W, s, ["A", "B"])
        n = 35 + 24
        assert sum(int((~v).sum()) for v in m.values()) == round(s * n)
        kept = torch.cat([W[k][m[k]].abs() for k in m])
        pruned = torch.cat([W[k][~m[k]].abs() for k in m])
        if len(pruned) and len(kept):
            assert pruned.max() <= kept.min()                   # brute force: every pruned |w| ≤ every kept |w|
        assert abs(masks.sparsity(m) - round(s * n) / n) < 1e-15
    lay = masks.magnitude_mask(W, 0.4, ["A", "B"], "layer")
    for k, n in (("A", 35), ("B", 24)):
        assert int((~lay[k]).sum()) == round(0.4 * n) and W[k][~lay[k]].abs().max() <= W[k][lay[k]].abs().min()
    r = masks.random_mask({"A": (7, 5), "B": (3, 4, 2)}, torch.Generator().manual_seed(1), like=m)
    assert all(int(r[k].sum()) == int(m[k].sum()) for k in m) and not torch.equal(r["A"], m["A"])
    u = masks.random_mask({"A": (10, 10)}, torch.Generator().manual_seed(1), sparsity=0.4)
    assert int(u["A"].sum()) == 60


def test_masked_adamw_equals_training_the_masked_function():
    """Masked(AdamW with weight decay) on θ₀ ⊙ m vs AdamW on θ with the loss of f(m ⊙ θ) by autograd: the
    kept entries agree to 1e-12 relative over 50 steps, the pruned ones stay exactly 0."""
    from grokscope.config import Optim
    gen = torch.Generator().manual_seed(2)
    X, Y = torch.randn(30, 6, generator=gen, dtype=torch.float64), torch.randn(30, 3, generator=gen, dtype=torch.float64)
    theta0 = {"W0": torch.randn(8, 6, generator=gen, dtype=torch.float64),
              "W1": torch.randn(3, 8, generator=gen, dtype=torch.float64)}
    mask = masks.magnitude_mask(theta0, 0.5, ["W0", "W1"])
    cfg = Optim(name="adamw", lr=1e-2, weight_decay=0.3)

    def loss(p):
        return ((torch.relu(X @ p["W0"].T) @ p["W1"].T - Y) ** 2).mean()

    a = masks.apply_mask(theta0, mask)
    opt_a = masks.Masked(make_optimiser(cfg, 1e-2), mask)
    st_a = opt_a.init(a)
    b = {k: v.clone() for k, v in theta0.items()}
    opt_b = make_optimiser(cfg, 1e-2)
    st_b = opt_b.init(b)
    def grad(f, p):
        leaves = {k: v.detach().requires_grad_(True) for k, v in p.items()}
        return dict(zip(leaves, torch.autograd.grad(f(leaves), list(leaves.values()))))

    for _ in range(50):
        opt_a.step(a, grad(loss, a), st_a)
        opt_b.step(b, grad(lambda p: loss(masks.apply_mask(p, mask)), b), st_b)
    for k in a:
        assert (a[k][~mask[k]] == 0).all()
        torch.testing.assert_close(a[k][mask[k]], b[k][mask[k]], rtol=1e-12, atol=1e-14)
    assert opt_a.lr == 1e-2                                      # attributes read through to the base


def _source(tmp_path):
    return load_config({
        "task": {"name": "modular", "p": 11, "frac_train": 0.5, "inputs": "onehot"},
        "model": {"name": "mlp", "hidden": [16], "activation": "square", "init": "normal", "sigma": 0.3},
        "scaling": {"alpha": 1.0, "centre": False, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": 1e-2, "weight_decay": 0.1},
        "train": {"steps": 40, "log_per_decade": 3, "progress": False},
        "probes": {"names": ["loss", "accuracy"]}, "output": {"root": str(tmp_path), "name": "dense", "plots": False}})


def test_mask_from_a_finished_run(tmp_path):
    from grokscope.store import PARAMS_FINAL, load_final_params, save_final_params
    from grokscope.training.build import build, final_params
    from grokscope.training.loop import run
    src = run(_source(tmp_path))
    saved = load_final_params(src.path)  # a finished run keeps its final weights
    assert saved is not None and (src.path / "summary.json").is_file()
    (src.path / PARAMS_FINAL).unlink()  # without them, the run is replayed from its config: the same weights
    final = final_params(src.path)
    assert set(final) >= set(saved) and all(torch.equal(final[k], saved[k]) for k in saved)
    b = build(src.config)
    with torch.no_grad():  # the replayed weights give the source run's last logged train loss, to rounding
        out = b.model.apply(final, b.data.X_train)
    assert abs(float(b.loss.value(out, b.data.y_train)) - float(src.metrics.train_loss.iloc[-1])) < 1e-12
    ticket_cfg = load_config(_source(tmp_path).to_dict(), {"init.mask_from": str(src.path), "init.mask_sparsity": 0.4,
                                                           "output.name": "ticket"})
    t = build(ticket_cfg)
    mask = masks.magnitude_mask(final, 0.4, ["W0", "W1"], "layer")      # init.mask_scope's default
    for k in ("W0", "W1"):
        assert torch.equal(t.params0[k], b.params0[k] * mask[k])          # rewound: θ₀ ⊙ m of the same init
    r = run(ticket_cfg)
    assert r.status == "completed"
    # a saved params_final.pt is preferred over the replay
    doubled = {k: 2 * v for k, v in final.items()}
    save_final_params(src.path, doubled)
    assert all(torch.equal(final_params(src.path)[k], doubled[k]) for k in final)
    rnd = build(load_config(ticket_cfg.to_dict(), {"init.mask_kind": "random", "output.name": "rnd"}))
    for k in ("W0", "W1"):
        assert int((rnd.params0[k] != 0).sum()) == int(mask[k].sum())    # equal per-tensor counts
    rnd.engine.step()
    for k in ("W0", "W1"):
        assert torch.equal(rnd.engine.params[k] == 0, rnd.params0[k] == 0)


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="init.mask_sparsity = 0.4 with init.mask_kind = 'magnitude' needs init.mask_from"):
        load_config({"init": {"mask_sparsity": 0.4}})
    with pytest.raises(ConfigError, match="init.mask_from = .*needs init.mask_sparsity"):
        load_config({"init": {"mask_from": "runs/x"}})
    with pytest.raises(ConfigError, match="init.mask_sparsity"):
        load_config({"init": {"mask_sparsity": 1.0, "mask_kind": "random"}})
    from grokscope.training.build import build
    with pytest.raises(ConfigError, match="no such run directory"):
        build(load_config(_source(tmp_path).to_dict(), {"init.mask_from": str(tmp_path / "nope"),
                                                        "init.mask_sparsity": 0.4}))
    with pytest.raises(ConfigError, match="batched ensemble"):
        build(load_config({"task": {"D": 5, "P": 10, "P_test": 10}, "model": {"N": 4},
                           "init": {"mask_sparsity": 0.5, "mask_kind": "random"}}))


def test_checkpoint_of_a_masked_engine_resumes_identically(tmp_path):
    """The mask wrapper is captured with the engine (training/checkpoint.py): build afresh, restore, go on."""
    from grokscope.training.build import build
    from grokscope.training.checkpoint import capture, restore
    cfg = load_config(_source(tmp_path).to_dict(), {"init.mask_sparsity": 0.5, "init.mask_kind": "random"})
    ref = build(cfg)
    for _ in range(12):
        ref.engine.step()
    a = build(cfg)
    for _ in range(5):
        a.engine.step()
    state = capture(a.engine)
    b = build(cfg)
    restore(b.engine, state)
    assert isinstance(b.engine.opt, masks.Masked)
    for _ in range(7):
        b.engine.step()
    for k in ref.engine.params:
        assert torch.equal(b.engine.params[k], ref.engine.params[k])
