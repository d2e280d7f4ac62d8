"""Functional optimisers vs torch.optim on a random quadratic, float64, 50 steps."""
import pytest
import torch
from conftest import quadratic_problem

from grokscope.config import Optim
from grokscope.numerics.optim import OPTIMISERS, make_optimiser

STEPS = 50
SHAPES = {"W": (4, 3), "b": (5,), "c": (2, 3, 2)}


def _problem(seed=0, shapes=SHAPES):
    """Params and the gradient of a random positive-definite quadratic (conftest.quadratic_problem)."""
    return quadratic_problem(seed, shapes)


def _torch_opt(name, tensors, lr, wd):
    if name in ("gd", "sgd"):
        return torch.optim.SGD(tensors, lr=lr, weight_decay=wd)
    if name == "momentum":
        return torch.optim.SGD(tensors, lr=lr, momentum=0.8, weight_decay=wd)
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return cls(tensors, lr=lr, betas=(0.85, 0.995), eps=1e-7, weight_decay=wd)


def _cfg(name, wd):
    return Optim(name=name, momentum=0.8, betas=(0.85, 0.995), adam_eps=1e-7, weight_decay=wd)


def _run_ours(name, wd, lr, params, grads):
    opt = make_optimiser(_cfg(name, wd), lr)
    state = opt.init(params)
    for _ in range(STEPS):
        g = grads(params)
        frozen = {k: v.clone() for k, v in g.items()}
        opt.step(params, g, state)
        for k in g:  # the caller's grads are left untouched
            assert torch.equal(g[k], frozen[k])
    return params


@pytest.mark.parametrize("wd", [0.0, 0.05])
@pytest.mark.parametrize("name", ["gd", "sgd", "momentum", "adam", "adamw"])
def test_matches_torch_optim(name, wd):
    lr = 0.05
    params, grads = _problem()
    ref = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    topt = _torch_opt(name, list(ref.values()), lr, wd)
    for _ in range(STEPS):
        with torch.no_grad():
            g = grads(ref)
        for k, p in ref.items():
            p.grad = g[k]
        topt.step()
    ours = _run_ours(name, wd, lr, params, grads)
    for k in ours:
        want = ref[k].detach()
        assert not torch.equal(want, _problem()[0][k])  # it moved
        rel = ((ours[k] - want).norm() / want.norm()).item()
        assert rel <= 1e-12, (k, rel)


@pytest.mark.parametrize("lr_shape", [(3,), (3, 1, 1)])
@pytest.mark.parametrize("wd", [0.0, 0.05])
@pytest.mark.parametrize("name", ["gd", "momentum", "adam", "adamw"])
def test_tensor_lr_equals_separate_runs(name, wd, lr_shape):
    lrs = [0.01, 0.05, 0.1]
    E = len(lrs)
    singles = [_problem(seed=e) for e in range(E)]
    # ensemble: stack members along a leading axis; the quadratic is separable per member
    params = {k: torch.stack([s[0][k] for s in singles]) for k in SHAPES}

    def grads(ps):
        gs = [singles[e][1]({k: p[e] for k, p in ps.items()}) for e in range(E)]
        return {k: torch.stack([g[k] for g in gs]) for k in ps}

    lr = torch.tensor(lrs, dtype=torch.float64).reshape(lr_shape)
    ens = _run_ours(name, wd, lr, params, grads)
    for e, (p_e, g_e) in enumerate(singles):
        sep = _run_ours(name, wd, lrs[e], p_e, g_e)
        for k in SHAPES:
            rel = ((ens[k][e] - sep[k]).norm() / sep[k].norm()).item()
            assert rel <= 1e-14, (e, k, rel)


def test_tensor_lr_needs_member_axis():
    opt = make_optimiser(Optim(name="gd"), torch.tensor([0.1, 0.2]))
    params = {"W": torch.zeros(3, 4)}
    state = opt.init(params)
    with pytest.raises(ValueError, match="member axis"):
        opt.step(params, {"W": torch.ones(3, 4)}, state)


def test_make_optimiser_every_name():
    assert set(OPTIMISERS) == {"gd", "sgd", "momentum", "adam", "adamw"}
    params, grads = _problem()
    for name in OPTIMISERS:
        p = {k: v.clone() for k, v in params.items()}
        opt = make_optimiser(Optim(name=name), 0.01)
        state = opt.init(p)
        opt.step(p, grads(p), state)
        assert state["step"] == 1
        assert all(not torch.equal(p[k], params[k]) for k in p)


def test_step_allocates_no_state_after_init():
    params, grads = _problem()
    opt = make_optimiser(Optim(name="adam", weight_decay=0.1), 0.01)
    state = opt.init(params)
    ptrs = {k: v.data_ptr() for k, v in params.items()}
    bufs = {k: v.data_ptr() for k, v in state["m"].items()}
    for _ in range(3):
        opt.step(params, grads(params), state)
    assert {k: v.data_ptr() for k, v in params.items()} == ptrs
    assert {k: v.data_ptr() for k, v in state["m"].items()} == bufs
