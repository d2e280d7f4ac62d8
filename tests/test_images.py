"""Image tasks: IDX reader round trip, MNIST from local files, the missing-files error, bundled digits,
MNIST-1D, determinism, split disjointness, and a reduced Fig 6(a)-style run end to end."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from grokscope.config import ConfigError, load_config
from grokscope.tasks.base import TASKS, onehot_targets
from grokscope.tasks.images import read_idx, write_idx


def _task(**kw):
    return load_config({"task": {"name": "images", **kw}}).task


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("arr", [np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
                                 np.array([7, -3, 100000], dtype=np.int32),
                                 np.linspace(-1, 1, 6).reshape(3, 2)])
def test_idx_round_trip(tmp_path, arr, compress):
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, arr, compress=compress)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == compress
    back = read_idx(path)
    assert back.shape == arr.shape and np.array_equal(back, arr)


def test_idx_header_bytes(tmp_path):
    """The standard MNIST header: 00 00 08 03, then big-endian sizes."""
    write_idx(tmp_path / "x", np.zeros((2, 28, 28), np.uint8))
    raw = (tmp_path / "x").read_bytes()
    assert raw[:16] == bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28]) and len(raw) == 16 + 2 * 784


def test_idx_malformed(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((3, 2), np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="body has 5 bytes"):
        read_idx(tmp_path / "short")


def _fake_mnist(d, n=40, compress=True):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    suffix = ".gz" if compress else ""
    write_idx(d / f"train-images-idx3-ubyte{suffix}", images, compress)
    write_idx(d / f"train-labels-idx1-ubyte{suffix}", labels, compress)
    return images, labels


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_from_idx_files(tmp_path, compress):
    images, labels = _fake_mnist(tmp_path, compress=compress)
    data = TASKS["images"](_task(source="mnist", path=str(tmp_path), n_train=25, n_test=10, seed=3))
    tr, te = data.meta["index_train"], data.meta["index_test"]
    assert data.X_train.shape == (25, 784) and data.X_test.shape == (10, 784) and data.classes == 10
    np.testing.assert_array_equal(data.X_train.numpy(), images[tr.numpy()].reshape(25, 784) / 255.0)
    np.testing.assert_array_equal(data.meta["labels_test"].numpy(), labels[te.numpy()])
    assert torch.equal(data.y_train, data.meta["labels_train"]) and data.y_train.dtype == torch.int64
    hot = onehot_targets(data)
    assert hot.y_train.shape == (25, 10) and torch.equal(hot.y_train.argmax(1), data.y_train) and hot.y_train.sum() == 25


def test_mnist_missing_files_error(tmp_path):
    with pytest.raises(ConfigError, match=r"task.path = .*missing train-images-idx3-ubyte\[.gz\] and "
                                          r"train-labels-idx1-ubyte\[.gz\] in " + str(tmp_path)):
        TASKS["images"](_task(source="mnist", path=str(tmp_path)))
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ConfigError, match=r"missing train-labels-idx1-ubyte\[.gz\] in"):
        TASKS["images"](_task(source="mnist", path=str(tmp_path)))
    with pytest.raises(ConfigError, match=r"task.path = None: task.source = 'mnist' needs the directory"):
        TASKS["images"](_task(source="mnist"))
    with pytest.raises(ConfigError, match=r"not a directory"):
        TASKS["images"](_task(source="mnist", path=str(tmp_path / "nope")))


def test_mnist_missing_files_fail_before_training(tmp_path):
    from grokscope.config.presets import get_preset
    from grokscope.training.build import build
    cfg = load_config(get_preset("fig6a"), {"task.source": "mnist", "task.path": str(tmp_path)})
    with pytest.raises(ConfigError, match="missing train-images-idx3-ubyte"):
        build(cfg)


def test_digits_shapes_labels_and_split():
    pytest.importorskip("sklearn", reason="scikit-learn (extra 'data') not installed")
    from sklearn.datasets import load_digits
    ref = load_digits()
    data = TASKS["images"](_task(source="digits", n_train=1000, n_test=797, seed=0))
    tr, te = data.meta["index_train"], data.meta["index_test"]
    assert data.X_train.shape == (1000, 64) and data.y_train.shape == (1000,) and data.X_test.shape == (797, 64)
    assert set(tr.tolist()).isdisjoint(te.tolist()) and len(set(tr.tolist()) | set(te.tolist())) == 1797
    np.testing.assert_array_equal(data.X_train.numpy(), ref.data[tr.numpy()] / 16.0)
    np.testing.assert_array_equal(data.meta["labels_train"].numpy(), ref.target[tr.numpy()])
    assert float(data.X_train.min()) == 0.0 and float(data.X_train.max()) == 1.0
    assert torch.equal(data.y_test, data.meta["labels_test"]) and data.classes == 10
    same = TASKS["images"](_task(source="digits", n_train=1000, n_test=797, seed=0))
    other = TASKS["images"](_task(source="digits", n_train=1000, n_test=797, seed=1))
    assert torch.equal(same.X_train, data.X_train) and not torch.equal(other.X_train, data.X_train)
    with pytest.raises(ConfigError, match=r"n_train \+ task.n_test = 1000 \+ 800: the digits pool has only 1797"):
        TASKS["images"](_task(source="digits", n_train=1000, n_test=800))
    with pytest.raises(ConfigError, match=r"task.path = '/x': only used with task.source = 'mnist'"):
        TASKS["images"](_task(source="digits", path="/x"))


def test_mnist1d():
    pytest.importorskip("mnist1d", reason="the mnist1d package (extra 'data') is not installed")
    state = np.random.get_state()[1].copy()
    data = TASKS["images"](_task(source="mnist1d", n_train=300, n_test=200, seed=0))
    assert np.array_equal(np.random.get_state()[1], state)  # the package's global seeding is undone
    assert data.X_train.shape == (300, 40) and data.y_test.shape == (200,)
    assert float(data.X_train.min()) >= 0.0 and float(data.X_train.max()) <= 1.0
    assert set(data.meta["labels_train"].tolist()) == set(range(10))
    again = TASKS["images"](_task(source="mnist1d", n_train=300, n_test=200, seed=0))
    assert torch.equal(again.X_test, data.X_test)
    assert set(data.meta["index_train"].tolist()).isdisjoint(data.meta["index_test"].tolist())


def _digits_run(tmp_path, alpha):
    """Reduced digits run (NOT the fig6a preset: centred output, standard Kaiming init, no forward
    normalisation), where a few hundred AdamW steps already separate lazy from rich."""
    from grokscope.api import run
    cfg = load_config({
        "task": {"name": "images", "n_train": 150, "n_test": 200},
        "model": {"name": "mlp", "hidden": [40, 40, 40], "init": "kaiming", "norm": "none"},
        "scaling": {"alpha": alpha, "centre": True, "lr_rule": "plain"},
        "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.01, "batch_size": 50},
        "train": {"steps": 300, "progress": False, "log_per_decade": 4},
        "probes": {"names": ["loss", "accuracy", "weights", "ntk"], "expensive_points": 3},
        "output": {"root": str(tmp_path), "plots": False}})
    return run(cfg, tmp_path / f"a{alpha}")


def test_alpha_lazy_vs_rich_on_digits(tmp_path):
    """Paper §6 direction: large α stays near its initial NTK (lazy) and generalises worse; small α
    moves the kernel (rich) and generalises better."""
    pytest.importorskip("sklearn", reason="scikit-learn (extra 'data') not installed")
    rich, lazy = (_digits_run(tmp_path, a).metrics.iloc[-1] for a in (0.1, 10.0))
    assert rich["kernel_distance"] > 10 * lazy["kernel_distance"]
    assert lazy["train_acc"] >= 0.95 and rich["test_acc"] > lazy["test_acc"] + 0.03


def test_fig6a_preset_small_end_to_end(tmp_path):
    """The fig6a preset itself at reduced size: every diagnostic runs on the image task."""
    pytest.importorskip("sklearn", reason="scikit-learn (extra 'data') not installed")
    from grokscope.api import run
    from grokscope.config.presets import get_preset
    cfg = load_config(get_preset("fig6a-small"), {"train.steps": 40, "train.progress": False,
                                                  "output.root": str(tmp_path), "output.plots": True})
    r = run(cfg, tmp_path / "f6")
    m = r.metrics
    for col in ("train_acc", "test_acc", "ntk_alignment", "kernel_distance", "lin_train_loss", "param_change"):
        assert col in m and m[col].notna().any(), col
    assert r.summary["twin"]["method"] == "param" and r.summary["status"] == "completed"
    assert (tmp_path / "f6" / "figures" / "fig1.png").is_file()
    assert (tmp_path / "f6" / "figures" / "accuracy.png").is_file()


def test_output_target_mismatch_fails_before_work(tmp_path):
    pytest.importorskip("sklearn", reason="scikit-learn (extra 'data') not installed")
    from grokscope.training.build import build
    with pytest.raises(ConfigError, match=r"model.name = 'committee': outputs a scalar per sample, but task "
                                          r"'images' has targets of shape \(10,\).*use model.name = mlp"):
        build(load_config({"task": {"name": "images", "n_train": 20, "n_test": 20}, "model": {"N": 4}}))
    with pytest.raises(ConfigError, match=r"train.loss = 'cross_entropy': needs logits .* got outputs scalar"):
        build(load_config({"task": {"name": "images", "n_train": 20, "n_test": 20}, "model": {"N": 4},
                           "train": {"loss": "cross_entropy"}}))
    ok = build(load_config({"task": {"name": "images", "n_train": 20, "n_test": 20},
                            "model": {"name": "mlp", "hidden": [4]}, "train": {"loss": "cross_entropy"}}))
    ok.engine.step()


def test_cross_entropy_on_labels_end_to_end(tmp_path):
    """Integer labels with cross-entropy: every probe runs (kernels see one-hot labels), K₀ is skipped."""
    pytest.importorskip("sklearn", reason="scikit-learn (extra 'data') not installed")
    from grokscope.api import run
    cfg = load_config({"task": {"name": "images", "n_train": 30, "n_test": 20},
                       "model": {"name": "mlp", "hidden": [8]}, "optim": {"name": "adam", "lr": 1e-2},
                       "train": {"loss": "cross_entropy", "steps": 20, "progress": False},
                       "output": {"root": str(tmp_path), "plots": True}})
    r = run(cfg, tmp_path / "ce")
    m = r.metrics
    for col in ("train_acc", "test_acc", "ntk_alignment", "ntk_label_power_10", "lin_test_loss"):
        assert col in m and m[col].notna().any(), col
    assert "skipped" in r.summary["k0"] and float(m["train_loss"].iloc[-1]) < float(m["train_loss"].iloc[0])
