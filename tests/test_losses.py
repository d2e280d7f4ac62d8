"""Losses vs torch.nn.functional (value) and torch.autograd (grad), float64; accuracy by hand."""
import pytest
import torch
import torch.nn.functional as F

from grokscope.numerics.losses import LOSSES, accuracy, get_loss

TOL = 1e-12


def _close(a, b, tol=TOL):
    scale = max(b.abs().max().item(), 1e-300)
    assert (a - b).abs().max().item() <= tol * scale


def _autograd(loss, pred, y):
    pred = pred.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss(pred, y), pred)
    return g


@pytest.mark.parametrize("shape", [(17,), (13, 4)])
def test_mse_matches_torch(shape):
    gen = torch.Generator().manual_seed(0)
    pred = torch.randn(shape, generator=gen, dtype=torch.float64)
    y = torch.randn(shape, generator=gen, dtype=torch.float64)
    mse = get_loss("mse")
    _close(mse.value(pred, y), F.mse_loss(pred, y))
    _close(mse.per_sample(pred, y).mean(), F.mse_loss(pred, y))
    assert mse.per_sample(pred, y).shape == (shape[0],)
    g = mse.grad(pred, y)
    assert g.shape == pred.shape
    _close(g, _autograd(F.mse_loss, pred, y))
    if len(shape) == 1:  # the paper's (1/P) Σ (f − y)²
        _close(mse.value(pred, y), ((pred - y) ** 2).sum() / shape[0])


def test_cross_entropy_matches_torch():
    gen = torch.Generator().manual_seed(1)
    pred = 5 * torch.randn(11, 7, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 7, (11,), generator=gen)
    ce = get_loss("cross_entropy")
    _close(ce.value(pred, y), F.cross_entropy(pred, y))
    _close(ce.per_sample(pred, y), F.cross_entropy(pred, y, reduction="none"))
    g = ce.grad(pred, y)
    assert g.shape == pred.shape
    _close(g, _autograd(F.cross_entropy, pred, y))
    # the autograd of our own value agrees too
    _close(g, _autograd(ce.value, pred, y))


def test_cross_entropy_is_stable_for_huge_logits():
    pred = torch.tensor([[1000.0, 0.0, -1000.0], [0.0, 800.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    ce = get_loss("cross_entropy")
    assert torch.isfinite(ce.value(pred, y))
    _close(ce.value(pred, y), F.cross_entropy(pred, y))
    assert torch.isfinite(ce.grad(pred, y)).all()


def test_cross_entropy_rejects_float_labels():
    with pytest.raises(ValueError, match="integer labels"):
        get_loss("cross_entropy").value(torch.zeros(3, 2), torch.zeros(3))


def test_registry():
    assert set(LOSSES) >= {"mse", "cross_entropy"}
    for name, loss in LOSSES.items():
        assert get_loss(name) is loss and loss.name == name
    with pytest.raises(ValueError, match="allowed are"):
        get_loss("hinge")


def test_accuracy_by_hand():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1, 0, 1])
    assert accuracy(logits, labels) == 0.5
    onehot = F.one_hot(labels, 3).double()
    assert accuracy(logits, onehot) == 0.5
    assert accuracy(logits, F.one_hot(labels, 3)) == 0.5  # integer one-hot targets
    assert accuracy(logits, torch.tensor([0, 1, 2, 0])) == 1.0
    assert accuracy(torch.randn(5), torch.randn(5)) is None
    assert accuracy(torch.randn(5, 1), torch.randn(5, 1)) is None
    with pytest.raises(ValueError):
        accuracy(logits, torch.tensor([0, 1]))
