"""Low-rank initialisation (rank and Frobenius norm) and the init scale, alone and through the trainer."""
import numpy as np
import pytest
import torch

from grokscope.config import ConfigError, Init, load_config
from grokscope.numerics.initialise import apply_init, low_rank

TOL = 1e-12


def _W(shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("shape, r", [((30, 12), 1), ((30, 12), 5), ((12, 30), 11), ((8, 8), 8)])
def test_low_rank_has_requested_rank_and_norm(shape, r):
    W = _W(shape)
    Wr = low_rank(W, r)
    assert Wr.shape == W.shape and Wr.dtype == W.dtype
    assert torch.linalg.matrix_rank(Wr).item() == r
    assert abs(torch.linalg.matrix_norm(Wr).item() - torch.linalg.matrix_norm(W).item()) <= TOL * W.norm().item()
    # it is the best rank-r approximation (numpy's SVD, independently), rescaled
    U, S, Vt = np.linalg.svd(W.numpy(), full_matrices=False)
    best = (U[:, :r] * S[:r]) @ Vt[:r]
    best *= np.linalg.norm(W.numpy()) / np.linalg.norm(best)
    assert np.abs(Wr.numpy() - best).max() <= TOL * np.abs(best).max()


def test_low_rank_batches_leading_axes_and_keeps_dtype():
    W = _W((3, 10, 6), seed=1)
    Wr = low_rank(W, 2)
    for e in range(3):
        assert torch.allclose(Wr[e], low_rank(W[e], 2), rtol=0, atol=1e-13)
        assert torch.linalg.matrix_rank(Wr[e]).item() == 2
    W32 = W.float()
    assert low_rank(W32, 2).dtype == torch.float32
    with pytest.raises(ValueError, match="ndim"):
        low_rank(torch.ones(4), 1)


def test_apply_init_selects_matrices_and_scales_trainable_only():
    params = {"W": _W((9, 5)), "V": _W((4, 9), seed=2), "b": _W((9,), seed=3), "a": torch.ones(9, dtype=torch.float64)}
    out = apply_init(params, Init(rank=2, scale=3.0), trainable=("W", "V", "b"))
    for k in ("W", "V"):
        assert torch.linalg.matrix_rank(out[k]).item() == 2
        assert abs(out[k].norm().item() - 3 * params[k].norm().item()) <= TOL * 3 * params[k].norm().item()
    assert torch.equal(out["b"], 3.0 * params["b"])  # vectors are only scaled
    assert out["a"] is params["a"]  # not trainable: untouched
    only = apply_init(params, Init(rank=1, params=["V"]), trainable=("W", "V", "b"))
    assert torch.linalg.matrix_rank(only["V"]).item() == 1 and only["W"] is params["W"]


def test_apply_init_errors_name_key_value_and_allowed():
    params = {"W": _W((9, 5))}
    with pytest.raises(ConfigError, match=r"init.rank = 6: larger than min\(shape\) = 5 .*'W'.*1..5"):
        apply_init(params, Init(rank=6), trainable=("W",))
    with pytest.raises(ConfigError, match=r"init.params contains 'U'.*allowed: W"):
        apply_init(params, Init(rank=2, params=["U"]), trainable=("W",))
    with pytest.raises(ConfigError, match="init.rank"):
        load_config(None, ["init.rank=0"])
    with pytest.raises(ConfigError, match="init.scale"):
        load_config(None, ["init.scale=-1"])


SMALL = {"task.D": 6, "task.P": 20, "task.P_test": 10, "model.N": 8, "train.steps": 5,
         "train.progress": False, "output.plots": False}


def test_trainer_applies_init_to_the_committee():
    from grokscope.training.build import build
    base = build(load_config(None, SMALL)).params0
    b = build(load_config(None, {**SMALL, "init.rank": 2}))
    W = b.params0["W"]
    assert torch.linalg.matrix_rank(W).item() == 2
    assert abs(W.norm().item() - base["W"].norm().item()) <= TOL * base["W"].norm().item()
    assert b.engine_name == "reduced"  # a sampled low-rank W is still exact for the reduced engine
    scaled = build(load_config(None, {**SMALL, "init.scale": 3.0, "model.sigma": 2.0})).params0
    sig = build(load_config(None, {**SMALL, "model.sigma": 2.0})).params0
    assert torch.allclose(scaled["W"], 3.0 * sig["W"], rtol=1e-15, atol=0)
    assert torch.allclose(sig["W"], 2.0 * base["W"], rtol=1e-15, atol=0)  # model.sigma still works
    assert torch.equal(scaled["a"], base["a"])  # fixed readouts are not weights: untouched
    with pytest.raises(ConfigError, match="init.rank = 7"):
        build(load_config(None, {**SMALL, "init.rank": 7}))
    with pytest.raises(ConfigError, match="infinite"):
        build(load_config(None, {**SMALL, "init.rank": 2, "model.init": "infinite", "train.engine": "reduced"}))
