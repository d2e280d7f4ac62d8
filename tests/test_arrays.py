"""load_array: .npy/.npz loading and one clear ConfigError per problem."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from grokscope.config import ConfigError
from grokscope.config.arrays import load_array

KEY = "task.files.X_train"


def _raises(path, *args, **kw) -> str:
    with pytest.raises(ConfigError) as exc:
        load_array(str(path), KEY, *args, **kw)
    msg = str(exc.value)
    assert KEY in msg and str(path) in msg, msg
    return msg


def test_npy_and_npz_round_trip(tmp_path):
    a = np.random.default_rng(0).standard_normal((4, 3))
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "a.npz", only=a)
    for name in ("a.npy", "a.npz"):
        t = load_array(str(tmp_path / name), KEY, (4, 3))
        assert t.dtype == torch.float64 and np.array_equal(t.numpy(), a)


def test_int_and_float32_are_cast(tmp_path):
    np.save(tmp_path / "i.npy", np.arange(6).reshape(2, 3))
    t = load_array(str(tmp_path / "i.npy"), KEY)
    assert t.dtype == torch.float64 and t.tolist() == [[0, 1, 2], [3, 4, 5]]
    np.save(tmp_path / "f.npy", np.ones(3, dtype=np.float32))
    assert load_array(str(tmp_path / "f.npy"), KEY, (3,)).dtype == torch.float64


def test_none_entries_are_free(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((7, 3)))
    assert load_array(str(tmp_path / "a.npy"), KEY, (None, 3)).shape == (7, 3)
    msg = _raises(tmp_path / "a.npy", (None, 4))
    assert "(*, 4)" in msg


def test_missing_file(tmp_path):
    msg = _raises(tmp_path / "nope.npy")
    assert "not found" in msg


def test_bad_extension(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("1,2,3\n")
    msg = _raises(path)
    assert ".npy" in msg and ".npz" in msg


def test_unreadable_file(tmp_path):
    path = tmp_path / "junk.npy"
    path.write_bytes(b"this is not a numpy file")
    msg = _raises(path)
    assert "cannot read" in msg
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip")
    _raises(path)


def test_wrong_shape_message(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((10, 5)))
    msg = _raises(tmp_path / "x.npy", (550, 100), shape_names=("task.P", "task.D"))
    assert "shape (10, 5) does not match the expected (550, 100) = (task.P, task.D)" in msg


def test_wrong_ndim(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(10))
    msg = _raises(tmp_path / "x.npy", (10, 5))
    assert "(10,)" in msg and "(10, 5)" in msg


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(tmp_path, bad):
    a = np.zeros((3, 2))
    a[1, 1] = bad
    np.save(tmp_path / "x.npy", a)
    msg = _raises(tmp_path / "x.npy", (3, 2))
    assert "finite" in msg


def test_multi_array_npz_lists_names(tmp_path):
    np.savez(tmp_path / "m.npz", first=np.zeros(2), second=np.ones(2))
    msg = _raises(tmp_path / "m.npz")
    assert "'first'" in msg and "'second'" in msg and "exactly one" in msg
    np.savez(tmp_path / "e.npz")
    assert "holds 0" in _raises(tmp_path / "e.npz")


def test_non_numeric(tmp_path):
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    assert "numeric" in _raises(tmp_path / "s.npy")
    np.save(tmp_path / "c.npy", np.ones(2, dtype=np.complex128))
    assert "complex" in _raises(tmp_path / "c.npy")


def test_object_array_refused(tmp_path):
    np.save(tmp_path / "o.npy", np.array([1, None], dtype=object), allow_pickle=True)
    _raises(tmp_path / "o.npy")  # pickled arrays are never loaded
