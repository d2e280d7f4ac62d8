"""optim.warmup_steps: the linear warm-up η_t = η·min(t/W, 1) of Nanda et al. (LambdaLR stepped after
each update), checked against a hand-computed rate sequence and against torch's AdamW + LambdaLR."""
from __future__ import annotations

import pytest
import torch

from grokscope.config import ConfigError, Optim, load_config
from grokscope.numerics.optim import Warmup, make_optimiser, warmup_factor


def test_hand_computed_rate_sequence():
    # W = 4, peak 2e-3: updates 0..6 run at 0, 0.5e-3, 1e-3, 1.5e-3, 2e-3, 2e-3, 2e-3 (written out by hand)
    expected = [0.0, 0.5e-3, 1.0e-3, 1.5e-3, 2.0e-3, 2.0e-3, 2.0e-3]
    opt = make_optimiser(Optim(name="adamw", lr=2e-3, warmup_steps=4), 2e-3)
    assert isinstance(opt, Warmup)
    p = {"w": torch.zeros(3, dtype=torch.float64)}
    state = opt.init(p)
    seen = []
    for _ in expected:
        opt.step(p, {"w": torch.ones(3, dtype=torch.float64)}, state)
        seen.append(opt.base.lr)
    assert seen == pytest.approx(expected, rel=1e-15, abs=0)
    assert opt.lr == 2e-3 and [warmup_factor(t, 0) for t in (0, 5)] == [1.0, 1.0]


def _torch_reference(W0: torch.Tensor, X: torch.Tensor, y: torch.Tensor, steps: int, warm: int) -> torch.Tensor:
    w = W0.clone().requires_grad_(True)
    opt = torch.optim.AdamW([w], lr=1e-2, betas=(0.9, 0.98), weight_decay=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(s / warm, 1.0))
    for _ in range(steps):
        opt.zero_grad()
        ((X @ w - y) ** 2).mean().backward()
        opt.step()
        sched.step()
    return w.detach()


@pytest.mark.parametrize("members", [False, True])
def test_adamw_warmup_matches_torch_lambdalr(members):
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(20, 5, generator=g, dtype=torch.float64), torch.randn(20, generator=g, dtype=torch.float64)
    W0 = torch.randn(5, generator=g, dtype=torch.float64)
    ref = _torch_reference(W0, X, y, steps=15, warm=10)
    cfg = Optim(name="adamw", lr=1e-2, betas=(0.9, 0.98), weight_decay=1.0, warmup_steps=10)
    # per-member rates (E = 2 members with the same η) go through the tensor-lr path of the ensembles
    lr = torch.tensor([1e-2, 1e-2], dtype=torch.float64) if members else 1e-2
    w = W0.clone().expand(2, 5).clone() if members else W0.clone()
    opt = make_optimiser(cfg, lr)
    state = opt.init({"w": w})
    for _ in range(15):
        r = (w @ X.T if members else X @ w) - y
        grad = 2.0 * (r @ X) / X.shape[0]
        opt.step({"w": w}, {"w": grad}, state)
    for row in (w if members else w[None]):
        torch.testing.assert_close(row, ref, rtol=1e-12, atol=1e-14)
    # without the warm-up the trajectory differs: the test can fail
    plain = make_optimiser(cfg.model_copy(update={"warmup_steps": 0}), 1e-2)
    w2 = W0.clone()
    s2 = plain.init({"w": w2})
    for _ in range(15):
        plain.step({"w": w2}, {"w": 2.0 * ((X @ w2 - y) @ X) / X.shape[0]}, s2)
    assert (w2 - ref).abs().max() > 1e-4


def test_first_update_keeps_params_but_moves_moments():
    opt = make_optimiser(Optim(name="adam", lr=0.1, warmup_steps=3), 0.1)
    p = {"w": torch.ones(2, dtype=torch.float64)}
    state = opt.init(p)
    opt.step(p, {"w": torch.full((2,), 3.0, dtype=torch.float64)}, state)
    assert torch.equal(p["w"], torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(state["m"]["w"], torch.full((2,), 0.3, dtype=torch.float64), rtol=1e-15, atol=0)
    assert state["step"] == 1


def test_setting_lr_sets_the_peak():
    opt = make_optimiser(Optim(name="adamw", lr=1.0, warmup_steps=2), 1.0)
    opt.lr = 4.0
    p = {"w": torch.zeros(1, dtype=torch.float64)}
    state = opt.init(p)
    for _ in range(2):
        opt.step(p, {"w": torch.ones(1, dtype=torch.float64)}, state)
    assert opt.base.lr == pytest.approx(2.0) and opt.lr == 4.0


def test_config_validation_names_key_value_and_allowed():
    with pytest.raises(ConfigError, match=r"optim\.warmup_steps = 10: allowed only with optim\.name = adam or adamw"):
        load_config({"optim": {"name": "gd", "warmup_steps": 10}})
    with pytest.raises(ConfigError, match=r"optim\.warmup_steps = -1"):
        load_config({"optim": {"name": "adamw", "warmup_steps": -1}})
    assert load_config({"optim": {"name": "adamw", "warmup_steps": 10}}).optim.warmup_steps == 10


def test_warmup_reaches_the_training_loop(tmp_path):
    """Through config → engine → loop: with the 10-step warm-up the first update leaves θ at θ₀ (η₀ = 0)."""
    from grokscope.config.presets import SMALL, get_preset
    from grokscope.training.loop import run
    changes = {}
    for warm in (10, 0):
        cfg = load_config(get_preset("nanda"), {**SMALL["nanda"], "train.steps": 2, "train.log_per_decade": 100,
                                                "train.progress": False, "optim.warmup_steps": warm,
                                                "output.root": str(tmp_path), "output.plots": False})
        m = run(cfg, quiet=True).metrics.set_index("step")
        changes[warm] = (float(m.loc[1, "param_change"]), float(m.loc[2, "param_change"]))
    assert changes[10][0] == 0.0 and changes[10][1] > 0.0
    assert changes[0][0] > 0.0
