"""⊥Grad, weight-decay modes and fixed-norm projection vs hand-written reference loops (float64)."""
import math

import pytest
import torch
from conftest import quadratic_problem

from grokscope.config import ConfigError, Optim, load_config
from grokscope.numerics.optim import FixedNorm, Orthogonal, make_optimiser, orthogonal_grad

TOL = 1e-12
SHAPES = {"W": (6, 4), "b": (5,), "c": (2, 3, 2)}


def _problem(seed=0):
    """Params and the gradient of a random positive-definite quadratic (conftest.quadratic_problem)."""
    return quadratic_problem(seed, SHAPES)


def _ortho_ref(w, g):
    """g⊥ = g − (w·g / w·w) w rescaled to ‖g‖, on flattened float64 vectors."""
    w, g = w.reshape(-1), g.reshape(-1)
    gp = g - (w @ g) / (w @ w) * w
    return (gp * (g.norm() / gp.norm())).reshape(-1)


def _rel(a, b):
    return ((a - b).norm() / b.norm()).item()


# -- the projection ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(7,), (5, 3), (2, 3, 4)])
def test_orthogonal_grad_is_orthogonal_and_norm_preserving(shape):
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(shape, generator=gen, dtype=torch.float64)
    g = torch.randn(shape, generator=gen, dtype=torch.float64) + 3 * w  # a large component along w
    gp = orthogonal_grad(w, g)
    assert gp.shape == g.shape
    assert abs((gp * w).sum().item()) / (gp.norm() * w.norm()).item() <= TOL
    assert abs(gp.norm().item() - g.norm().item()) <= TOL * g.norm().item()
    assert _rel(gp.reshape(-1), _ortho_ref(w, g)) <= TOL
    # the component orthogonal to w keeps its direction
    g_perp = g - (w * g).sum() / (w * w).sum() * w
    cos = (gp * g_perp).sum() / (gp.norm() * g_perp.norm())
    assert abs(cos.item() - 1.0) <= TOL


def test_orthogonal_grad_per_member_and_zero_weights():
    gen = torch.Generator().manual_seed(2)
    w = torch.randn(3, 4, 5, generator=gen, dtype=torch.float64)
    g = torch.randn(3, 4, 5, generator=gen, dtype=torch.float64)
    gp = orthogonal_grad(w, g, members=True)
    for e in range(3):
        assert _rel(gp[e].reshape(-1), _ortho_ref(w[e], g[e])) <= TOL
    assert _rel(orthogonal_grad(w, g).reshape(-1), _ortho_ref(w, g)) <= TOL  # whole tensor otherwise
    assert torch.equal(orthogonal_grad(torch.zeros(4, dtype=torch.float64), g[0, 0, :4]), g[0, 0, :4])


# -- ⊥ optimisers vs a hand-written loop ----------------------------------------------------------------
def _hand_step(name, p, g, st, t, lr, wd, decoupled, beta1=0.8, beta2=0.95, eps=1e-6, mu=0.7):
    """One step of the base optimiser written out from its formulas, on one tensor."""
    if decoupled:
        p = p * (1 - lr * wd)
    elif wd:
        g = g + wd * p
    if name in ("gd", "sgd"):
        return p - lr * g
    if name == "momentum":
        st["v"] = mu * st.get("v", torch.zeros_like(p)) + g
        return p - lr * st["v"]
    st["m"] = beta1 * st.get("m", torch.zeros_like(p)) + (1 - beta1) * g
    st["v"] = beta2 * st.get("v", torch.zeros_like(p)) + (1 - beta2) * g * g
    mhat = st["m"] / (1 - beta1 ** t)
    vhat = st["v"] / (1 - beta2 ** t)
    return p - lr * mhat / (vhat.sqrt() + eps)


CASES = [("adam", 0.0, "auto"), ("adam", 0.05, "auto"), ("adamw", 0.05, "auto"), ("adam", 0.05, "decoupled"),
         ("adamw", 0.05, "l2"), ("gd", 0.05, "auto"), ("gd", 0.05, "decoupled"), ("momentum", 0.05, "l2"),
         ("momentum", 0.05, "decoupled"), ("sgd", 0.0, "auto")]


@pytest.mark.parametrize("orthogonal", [True, False])
@pytest.mark.parametrize("name, wd, mode", CASES)
def test_optimisers_match_hand_loop(name, wd, mode, orthogonal):
    lr, steps = 0.03, 40
    cfg = Optim(name=name, momentum=0.7, betas=(0.8, 0.95), adam_eps=1e-6, weight_decay=wd,
                weight_decay_mode=mode, orthogonal=orthogonal)
    params, grads = _problem()
    ref = {k: v.clone() for k, v in params.items()}
    states = {k: {} for k in ref}
    decoupled = mode == "decoupled" or (mode == "auto" and name == "adamw")
    opt = make_optimiser(cfg, lr)
    assert isinstance(opt, Orthogonal) == orthogonal
    state = opt.init(params)
    for t in range(1, steps + 1):
        g_ref = grads(ref)
        for k, p in list(ref.items()):
            g = _ortho_ref(p, g_ref[k]).reshape(p.shape) if orthogonal else g_ref[k]
            ref[k] = _hand_step(name, p, g, states[k], t, lr, wd, decoupled)
        g = grads(params)
        frozen = {k: v.clone() for k, v in g.items()}
        opt.step(params, g, state)
        assert all(torch.equal(g[k], frozen[k]) for k in g)  # the caller's grads are untouched
    for k in params:
        assert not torch.equal(params[k], _problem()[0][k])
        assert _rel(params[k], ref[k]) <= 1e-11, (k, _rel(params[k], ref[k]))


def test_orthogonal_adam_matches_torch_adam_on_projected_grads():
    """⊥Adam with non-default betas and eps = torch.optim.Adam stepping on the projected gradients
    (the reference implementation's bug #11 lost betas/eps; here they are honoured)."""
    lr, steps = 0.02, 30
    cfg = Optim(name="adamw", betas=(0.7, 0.9), adam_eps=1e-3, weight_decay=0.1, orthogonal=True)
    params, grads = _problem(seed=4)
    ref = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    topt = torch.optim.AdamW(list(ref.values()), lr=lr, betas=(0.7, 0.9), eps=1e-3, weight_decay=0.1)
    opt = make_optimiser(cfg, lr)
    state = opt.init(params)
    for _ in range(steps):
        with torch.no_grad():
            g = grads(ref)
        for k, p in ref.items():
            p.grad = _ortho_ref(p.detach(), g[k]).reshape(p.shape)
        topt.step()
        opt.step(params, grads(params), state)
    for k in params:
        assert _rel(params[k], ref[k].detach()) <= 1e-11
    assert (opt.beta1, opt.beta2, opt.eps, opt.weight_decay) == (0.7, 0.9, 1e-3, 0.1)  # read through


def test_wrappers_write_lr_through_to_the_base():
    opt = make_optimiser(Optim(name="momentum", orthogonal=True, fixed_norm=2.0), 0.1)
    opt.lr = 0.3  # e.g. an ensemble dropping members resets η
    assert opt.base.base.lr == 0.3 and opt.lr == 0.3 and "lr" not in vars(opt) and "lr" not in vars(opt.base)
    assert opt.target == 2.0 and not opt.members


def test_orthogonal_gd_step_keeps_norm_to_first_order():
    """⊥GD moves θ orthogonally to itself: ‖θ'‖² = ‖θ‖² + η²‖g‖² exactly (per tensor)."""
    params, grads = _problem(seed=5)
    before = {k: v.clone() for k, v in params.items()}
    g = grads(params)
    opt = make_optimiser(Optim(name="gd", orthogonal=True), 0.1)
    opt.step(params, g, opt.init(params))
    for k in params:
        want = before[k].square().sum() + 0.01 * g[k].square().sum()
        assert abs(params[k].square().sum().item() - want.item()) <= TOL * want.item()


def test_decoupled_vs_l2_differ_for_momentum_and_adam():
    params, grads = _problem(seed=6)
    out = {}
    for mode in ("l2", "decoupled"):
        for name in ("momentum", "adam"):
            ps = {k: v.clone() for k, v in params.items()}
            opt = make_optimiser(Optim(name=name, weight_decay=0.1, weight_decay_mode=mode), 0.05)
            st = opt.init(ps)
            for _ in range(10):
                opt.step(ps, grads(ps), st)
            out[mode, name] = ps["W"]
    for name in ("momentum", "adam"):
        assert _rel(out["l2", name], out["decoupled", name]) > 1e-4


# -- fixed norm --------------------------------------------------------------------------------------
def _global_norm(ps):
    return math.sqrt(sum(v.square().sum().item() for v in ps.values()))


@pytest.mark.parametrize("target", ["initial", 3.5])
@pytest.mark.parametrize("name", ["gd", "adamw"])
def test_fixed_norm_is_preserved(name, target):
    params, grads = _problem(seed=7)
    n0 = _global_norm(params)
    opt = make_optimiser(Optim(name=name, weight_decay=0.1, fixed_norm=target), 0.05)
    assert isinstance(opt, FixedNorm)
    st = opt.init(params)
    ref = {k: v.clone() for k, v in params.items()}
    base = make_optimiser(Optim(name=name, weight_decay=0.1), 0.05)
    st_ref = base.init(ref)
    want = n0 if target == "initial" else target
    for _ in range(25):
        opt.step(params, grads(params), st)
        assert abs(_global_norm(params) - want) <= TOL * want
        base.step(ref, grads(ref), st_ref)  # hand reference: base step, then rescale every tensor
        s = want / _global_norm(ref)
        ref = {k: v * s for k, v in ref.items()}
    for k in params:
        assert _rel(params[k], ref[k]) <= 1e-11


def test_fixed_norm_per_member_and_with_orthogonal():
    gen = torch.Generator().manual_seed(8)
    params = {"W": torch.randn(3, 4, 2, generator=gen, dtype=torch.float64),
              "b": torch.randn(3, 5, generator=gen, dtype=torch.float64)}
    n0 = torch.sqrt(params["W"].square().sum((1, 2)) + params["b"].square().sum(1))
    lr = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    opt = make_optimiser(Optim(name="adam", orthogonal=True, fixed_norm="initial"), lr)  # members inferred
    assert isinstance(opt, FixedNorm) and isinstance(opt.base, Orthogonal) and opt.members
    st = opt.init(params)
    for _ in range(5):
        g = {k: torch.randn(v.shape, generator=gen, dtype=torch.float64) for k, v in params.items()}
        opt.step(params, g, st)
    n = torch.sqrt(params["W"].square().sum((1, 2)) + params["b"].square().sum(1))
    assert ((n - n0).abs() / n0).max() <= TOL


def test_config_errors_name_key_and_value():
    with pytest.raises(ConfigError, match=r"optim.fixed_norm = -2"):
        load_config(None, ["optim.fixed_norm=-2"])
    with pytest.raises(ConfigError, match=r"optim.weight_decay_mode"):
        load_config(None, ["optim.weight_decay_mode=coupled"])


# -- wired into the trainer ----------------------------------------------------------------------------
SMALL = {"task.D": 6, "task.P": 20, "task.P_test": 10, "model.N": 8, "train.steps": 5, "train.progress": False,
         "output.plots": False}


@pytest.mark.parametrize("key, value", [("optim.orthogonal", True), ("optim.fixed_norm", "initial"),
                                        ("train.loss_dtype", "float32")])
def test_neighbour_switches_pick_network_engine(key, value):
    from grokscope.training.build import build
    b = build(load_config(None, {**SMALL, key: value}))
    assert b.engine_name == "network" and key in b.engine_reason
    assert build(load_config(None, SMALL)).engine_name == "reduced"
    if key == "optim.fixed_norm":
        eng = b.engine
        n0 = eng.params["W"].norm().item()
        for _ in range(3):
            eng.step()
        assert abs(eng.params["W"].norm().item() - n0) <= TOL * n0  # readouts are fixed: W alone


def test_run_end_to_end_with_every_switch(tmp_path):
    """A short run with ⊥Adam, decoupled decay, fixed norm, low-rank init and a float32 working precision
    writes a complete run; its linearised twin is trained in parameter space with the same optimiser."""
    from grokscope.api import run
    over = {**SMALL, "train.steps": 12, "optim.name": "adam", "optim.lr": 0.01, "optim.orthogonal": True,
            "optim.weight_decay": 0.01, "optim.weight_decay_mode": "decoupled", "optim.fixed_norm": "initial",
            "init.rank": 2, "init.scale": 0.5, "train.logits_dtype": "float32", "probes.expensive_points": 2}
    r = run(load_config(None, over), tmp_path / "r", quiet=True)
    assert r.status == "completed" and r.summary["engine"]["name"] == "network"
    assert "⊥Grad" in r.summary["twin"]["reason"] and "fixed norm" in r.summary["twin"]["reason"]
    w = r.metrics["weight_norm"].to_numpy()
    assert abs(w[-1] - w[0]) <= TOL * w[0]  # ‖W‖ held (the fixed unit readouts are part of ‖θ‖ but constant)
    assert r.metrics["train_loss"].iloc[-1] < r.metrics["train_loss"].iloc[0]


def test_new_keys_at_their_defaults_keep_run_ids():
    """The default config's run id before the neighbour keys existed (grokscope 0.1.0, commit 03ade1d):
    keys at their no-op defaults are left out of the hash, so earlier run directories are still found."""
    from grokscope.store import run_id
    assert run_id(load_config(None)) == "b3eecf2e2e9a"
    assert run_id(load_config(None, ["init.scale=1.0", "optim.weight_decay_mode=auto"])) == "b3eecf2e2e9a"
    ids = {run_id(load_config(None, [kv])) for kv in ["optim.orthogonal=true", "optim.fixed_norm=initial",
                                                      "optim.weight_decay_mode=l2", "train.logits_dtype=float32",
                                                      "init.rank=3", "init.scale=2"]}
    assert len(ids) == 6 and "b3eecf2e2e9a" not in ids
