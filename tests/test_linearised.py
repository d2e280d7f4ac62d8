"""Linearised twin: closed form vs parameter space vs an explicit-Jacobian reference (float64)."""
import math

import pytest
import torch
from torch.func import jacrev

from grokscope.config import Optim
from grokscope.engines.linearised import ClosedFormTwin, ParamTwin, lin_metrics, make_twin
from grokscope.engines.network import NetworkEngine
from grokscope.models.committee import Committee
from grokscope.numerics.losses import get_loss
from grokscope.numerics.optim import make_optimiser
from grokscope.tasks.base import Dataset

F64 = torch.float64
D, P, N, P_TEST, EPS = 10, 30, 40, 50, 0.3


def _data(seed=0, P=P, P_test=P_TEST):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(P, D, generator=g, dtype=F64) / math.sqrt(D)
    Xt = torch.randn(P_test, D, generator=g, dtype=F64) / math.sqrt(D)
    beta = torch.randn(D, generator=g, dtype=F64)
    return Dataset(X, 0.5 * (X @ beta) ** 2, Xt, 0.5 * (Xt @ beta) ** 2)


def _committee(readouts="fixed"):
    m = Committee(N, D, "quadratic", EPS, readouts=readouts,
                  readout_init="normal" if readouts == "trained" else "ones")
    return m, m.init(torch.Generator().manual_seed(1))


def _jacobian(model, params0, X):
    """Explicit J₀ (n, p): rows = flattened outputs, columns = trainable params (sorted names)."""
    fixed = {k: v for k, v in params0.items() if k not in model.trainable}
    J = jacrev(lambda tp: model.apply({**fixed, **tp}, X))({k: params0[k] for k in model.trainable})
    n = model.apply(params0, X).numel()
    return torch.cat([J[k].reshape(n, -1) for k in model.trainable], dim=1)


def _blocks(model, params0, data, alpha):
    J, Jt = _jacobian(model, params0, data.X_train), _jacobian(model, params0, data.X_test)
    return alpha**2 * J @ J.T, alpha**2 * Jt @ J.T


def _rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("alpha", [1.0, 4.0])
@pytest.mark.parametrize("centre", [True, False])
@pytest.mark.parametrize("lr", [2.0, 3.5])  # cλ_max ≈ 0.9 and ≈ 1.6 (oscillating modes)
def test_closed_form_matches_parameter_space(alpha, centre, lr):
    data = _data()
    model, p0 = _committee()
    eta = lr * N / alpha**2
    cf = make_twin(model, p0, data, "mse", Optim(name="gd"), eta, alpha, centre,
                   kernel_blocks=lambda: _blocks(model, p0, data, alpha))
    pt = make_twin(model, p0, data, "mse", Optim(name="gd"), eta, alpha, centre)
    assert (cf.method, pt.method) == ("closed_form", "param")
    losses = [(float(cf.step()), float(pt.step())) for _ in range(300)]
    for a, b in losses:
        assert abs(a - b) <= 1e-9 * b
    assert losses[-1][1] < 0.02 * losses[0][1]  # the loss dropped a lot
    for split in ("train", "test"):
        assert _rel(cf.outputs(split), pt.outputs(split)) <= 1e-9
    assert cf.param_change() == pytest.approx(pt.param_change(), rel=1e-9)
    assert cf.weight_norm() == pytest.approx(pt.weight_norm(), rel=1e-9)
    for u, v in zip(cf.quadratic_form(), pt.quadratic_form()):
        assert float((u - v).norm()) <= 1e-9 * max(float(v.norm()), 1e-12)


@pytest.mark.parametrize("centre", [True, False])
def test_infinite_time_is_ridgeless_k0_regression(centre):
    data, (model, p0), alpha = _data(), _committee(), 2.0
    K, Kt = _blocks(model, p0, data, alpha)
    assert P < model.N * D  # K₀ invertible
    twin = make_twin(model, p0, data, "mse", Optim(name="gd"), N / alpha**2, alpha, centre,
                     kernel_blocks=(K, Kt))
    off, off_t = twin.lin.offset["train"], twin.lin.offset["test"]
    ref_test = off_t + Kt @ torch.linalg.solve(K, data.y_train - off)
    train_inf, test_inf = twin.at_step(math.inf)
    assert _rel(test_inf, ref_test) <= 1e-9
    assert _rel(train_inf, data.y_train) <= 1e-9
    assert _rel(twin.at_step(1e9)[1], ref_test) <= 1e-9  # finite t converges to it


class _MLP:
    """Tiny tanh MLP with K outputs: f(X) = tanh(X W1ᵀ) W2ᵀ / √H, for (P, K) outputs and CE."""

    trainable = ("W1", "W2")

    def init(self, gen, H=16, K=3):
        return {"W1": torch.randn(H, D, generator=gen, dtype=F64),
                "W2": torch.randn(K, H, generator=gen, dtype=F64)}

    def apply(self, params, X):
        return torch.tanh(X @ params["W1"].T) @ params["W2"].T / math.sqrt(params["W1"].shape[0])


def _reference(model, p0, data, loss_name, cfg, eta, alpha, centre, steps, batch_size=None, seed=7):
    """Brute force: explicit J₀, flat θ, the same optimiser on {"theta": θ}; returns test outputs."""
    J, Jt = _jacobian(model, p0, data.X_train), _jacobian(model, p0, data.X_test)
    f0, f0t = model.apply(p0, data.X_train), model.apply(p0, data.X_test)
    off = torch.zeros_like(f0) if centre else alpha * f0
    off_t = torch.zeros_like(f0t) if centre else alpha * f0t
    theta0 = torch.cat([p0[k].reshape(-1) for k in model.trainable])
    params = {"theta": theta0.clone()}
    opt, loss = make_optimiser(cfg, eta), get_loss(loss_name)
    state = opt.init(params)
    gen, perm, cursor, values = torch.Generator().manual_seed(seed), None, 0, []
    shape = f0.shape
    for _ in range(steps):
        rows, y, o = J, data.y_train, off
        if batch_size is not None:
            if perm is None or cursor + batch_size > data.P:
                perm, cursor = torch.randperm(data.P, generator=gen), 0
            idx = perm[cursor:cursor + batch_size]
            cursor += batch_size
            k = shape[1] if len(shape) > 1 else 1
            rows = J.reshape(data.P, k, -1)[idx].reshape(-1, J.shape[1])
            y, o = y[idx], o[idx]
        out = o + alpha * (rows @ (params["theta"] - theta0)).reshape(o.shape)
        values.append(float(loss.value(out, y)))
        opt.step(params, {"theta": alpha * rows.T @ loss.grad(out, y).reshape(-1)}, state)
    test = off_t + alpha * (Jt @ (params["theta"] - theta0)).reshape(off_t.shape)
    return values, test


@pytest.mark.parametrize("name,wd,batch", [("momentum", 0.0, None), ("adam", 0.0, None),
                                           ("adamw", 0.05, None), ("sgd", 0.01, 10)])
@pytest.mark.parametrize("readouts", ["fixed", "trained"])
def test_parameter_space_twin_matches_explicit_jacobian(name, wd, batch, readouts):
    data, (model, p0) = _data(), _committee(readouts)
    cfg = Optim(name=name, momentum=0.9, weight_decay=wd, batch_size=batch)
    eta, alpha = (0.01 if name.startswith("adam") else 0.5 * N / 9.0), 3.0
    twin = make_twin(model, p0, data, "mse", cfg, eta, alpha, False, kernel_blocks=(None, None),
                     batch_size=batch, generator=torch.Generator().manual_seed(7))
    assert isinstance(twin, ParamTwin)
    values = [float(twin.step()) for _ in range(200)]
    ref_values, ref_test = _reference(model, p0, data, "mse", cfg, eta, alpha, False, 200, batch)
    assert max(abs(a - b) / b for a, b in zip(values, ref_values)) <= 1e-10
    assert _rel(twin.outputs("test"), ref_test) <= 1e-10


def test_parameter_space_twin_cross_entropy_vector_outputs():
    data = _data()
    labels = (data.y_train * 3).long().clamp(max=2)
    data = Dataset(data.X_train, labels, data.X_test, (data.y_test * 3).long().clamp(max=2))
    model = _MLP()
    p0 = model.init(torch.Generator().manual_seed(3))
    cfg = Optim(name="adam")
    twin = make_twin(model, p0, data, "cross_entropy", cfg, 0.01, 2.0, True)
    values = [float(twin.step()) for _ in range(100)]
    ref_values, ref_test = _reference(model, p0, data, "cross_entropy", cfg, 0.01, 2.0, True, 100)
    assert max(abs(a - b) / b for a, b in zip(values, ref_values)) <= 1e-10
    assert _rel(twin.outputs("test"), ref_test) <= 1e-10


def test_closed_form_vector_outputs():
    """(P, K) outputs: the flattened (PK, PK) kernel; MSE averages over all PK entries."""
    data = _data()
    g = torch.Generator().manual_seed(5)
    data = Dataset(data.X_train, torch.randn(P, 3, generator=g, dtype=F64), data.X_test,
                   torch.randn(P_TEST, 3, generator=g, dtype=F64))
    model = _MLP()
    p0 = model.init(torch.Generator().manual_seed(3))
    kb = _blocks(model, p0, data, 1.5)
    cf = make_twin(model, p0, data, "mse", Optim(name="gd"), 0.5, 1.5, False, kernel_blocks=kb)
    pt = make_twin(model, p0, data, "mse", Optim(name="gd"), 0.5, 1.5, False)
    for _ in range(200):
        cf.step(), pt.step()
    assert cf.outputs("test").shape == (P_TEST, 3)
    for split in ("train", "test"):
        assert _rel(cf.outputs(split), pt.outputs(split)) <= 1e-9


def test_twin_is_linear():
    data, (model, p0), alpha = _data(), _committee("trained"), 2.5
    twin = make_twin(model, p0, data, "mse", Optim(name="momentum"), 0.1, alpha, False)
    g = torch.Generator().manual_seed(9)
    d1 = {k: torch.randn(p0[k].shape, generator=g, dtype=F64) for k in model.trainable}
    d2 = {k: torch.randn(p0[k].shape, generator=g, dtype=F64) for k in model.trainable}
    Jt = _jacobian(model, p0, data.X_test)
    flat = lambda d: torch.cat([d[k].reshape(-1) for k in model.trainable])
    f0 = alpha * model.apply(p0, data.X_test)
    for d in (d1, {k: 0.3 * d1[k] - 2.0 * d2[k] for k in d1}):
        twin.params.update({k: p0[k] + d[k] for k in model.trainable})
        assert _rel(twin.outputs("test"), f0 + alpha * Jt @ flat(d)) <= 1e-12


@pytest.mark.parametrize("alpha", [4.0, 64.0])
def test_network_tracks_twin_when_lazy(alpha):
    """Large α, paper lr rule η = η₀N/α²: the network's early curve is its linearisation's."""
    data, (model, p0) = _data(), _committee()
    eta = 0.2 * N / alpha**2
    loss = get_loss("mse")
    net = NetworkEngine(model, p0, data, loss, make_optimiser(Optim(), eta), alpha=alpha, centre=True)
    twin = make_twin(model, p0, data, "mse", Optim(), eta, alpha, True,
                     kernel_blocks=_blocks(model, p0, data, alpha))
    gaps = []
    for _ in range(100):
        a, b = float(net.step()), float(twin.step())
        gaps.append(abs(a - b) / b)
    test_gap = _rel(net.outputs("test"), twin.outputs("test"))
    bound = 0.5 / alpha  # deviations are O(1/α)
    assert max(gaps) < bound and test_gap < bound


def test_factory_choice_and_metrics():
    data, (model, p0) = _data(), _committee()
    called = []

    def blocks():
        called.append(1)
        return _blocks(model, p0, data, 1.0)

    for cfg, bs in [(Optim(name="gd", weight_decay=0.1), None), (Optim(name="sgd", batch_size=5), 5),
                    (Optim(name="adam"), None)]:
        assert make_twin(model, p0, data, "mse", cfg, 0.1, 1.0, True, blocks, bs).method == "param"
    assert not called
    twin = make_twin(model, p0, data, "mse", Optim(name="sgd"), 0.1, 1.0, True, blocks)
    assert isinstance(twin, ClosedFormTwin) and called and "closed" in twin.reason
    m = lin_metrics(twin, data, get_loss("mse"))
    assert m["lin_train_loss"] == pytest.approx(float((data.y_train**2).mean()), rel=1e-12)
    import pandas as pd

    from grokscope.diagnostics.laziness import departure_step
    df = pd.DataFrame({"step": [0, 10, 100], "train_loss": [1.0, 0.5, 0.1], "lin_train_loss": [1.0, 0.52, 0.3],
                       "test_loss": [1.0, 1.0, 1.0], "lin_test_loss": [1.0, 1.0, 1.0]})
    assert departure_step(df, 0.1) == 100
    assert departure_step(df.iloc[:2], 0.1) is None


def test_closed_form_step_losses_stay_exact():
    """step()'s running O(n) losses over > 1024 steps equal the closed form and the outputs'."""
    data, (model, p0) = _data(), _committee()
    twin = make_twin(model, p0, data, "mse", Optim(), 3.0, 1.0, True,
                     kernel_blocks=_blocks(model, p0, data, 1.0))
    loss = get_loss("mse")
    for t in range(3000):
        value = float(twin.step())
        if t % 997 == 0 or t == 2999:
            assert value == pytest.approx(float(twin.train_loss(t)), rel=1e-12)
    assert float(twin.train_loss(3000)) == pytest.approx(
        float(loss.value(twin.outputs("train"), data.y_train)), rel=1e-9)
    twin.t = 10  # jumping resets the running powers
    assert float(twin.step()) == pytest.approx(float(twin.train_loss(10)), rel=1e-14)


def test_singular_kernel_more_samples_than_parameters():
    """N = 2 gives 20 parameters < P = 30: K is rank 20; GD's limit is the pseudo-inverse fit."""
    data = _data()
    model = Committee(2, D, "quadratic", EPS)
    p0 = model.init(torch.Generator().manual_seed(1))
    K, Kt = _blocks(model, p0, data, 1.0)
    cf = make_twin(model, p0, data, "mse", Optim(), 1.0, 1.0, False, kernel_blocks=(K, Kt))
    pt = make_twin(model, p0, data, "mse", Optim(), 1.0, 1.0, False)
    for _ in range(300):
        cf.step(), pt.step()
    for split in ("train", "test"):
        assert _rel(cf.outputs(split), pt.outputs(split)) <= 1e-9
    off, off_t = cf.lin.offset["train"], cf.lin.offset["test"]
    a = torch.linalg.pinv(K, rtol=1e-10, hermitian=True) @ (data.y_train - off)
    train_inf, test_inf = cf.at_step(math.inf)
    assert _rel(train_inf, off + K @ a) <= 1e-9 and _rel(test_inf, off_t + Kt @ a) <= 1e-9
    assert float(cf.train_loss(math.inf)) > 1e-3  # the residual outside range(K) stays


def test_advance_matches_step_for_both_twins():
    """The trainer's advance() (O(1) for the closed form) lands where step() does."""
    data, (model, p0) = _data(), _committee()
    blocks = _blocks(model, p0, data, 1.0)
    a = make_twin(model, p0, data, "mse", Optim(), 3.0, 1.0, True, kernel_blocks=blocks)
    b = make_twin(model, p0, data, "mse", Optim(), 3.0, 1.0, True, kernel_blocks=blocks)
    pa, pb = make_twin(model, p0, data, "mse", Optim(), 3.0, 1.0, True), \
        make_twin(model, p0, data, "mse", Optim(), 3.0, 1.0, True)
    for _ in range(10):
        a.advance(), b.step(), pa.advance(), pb.step()
    a.advance(40), pa.advance(40)  # the trainer advances a whole chunk between logged steps at once
    for _ in range(40):
        b.step(), pb.step()
    assert a.t == b.t == 50
    for split in ("train", "test"):
        assert torch.allclose(a.outputs(split), b.outputs(split), rtol=0, atol=0)
        assert torch.equal(pa.outputs(split), pb.outputs(split))
