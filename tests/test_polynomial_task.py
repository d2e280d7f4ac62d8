"""Polynomial task: shapes, determinism, target formulas, Hermite recurrence, bring-your-own files."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grokscope.config import ConfigError, DataFiles, PolynomialTask
from grokscope.tasks.base import TASKS
from grokscope.tasks.polynomial import build_polynomial
from grokscope.theory.hermite import hermite_e

F64 = torch.float64
KINDS = [("single_index", 2), ("multi_index", 2), ("hermite", 1), ("hermite", 2),
         ("hermite", 3), ("hermite", 4), ("hermite", 7)]


def _cfg(name="single_index", k=2, **kw) -> PolynomialTask:
    base = {"D": 12, "P": 30, "P_test": 40, "target": name, "k": k, "n_index": 3}
    base.update(kw)
    return PolynomialTask(**base)


def _quad(target, X):
    return target.c0 + X @ target.b + 0.5 * ((X @ target.B) * X).sum(-1)


def test_registered():
    assert TASKS["polynomial"] is build_polynomial


def test_hermite_recurrence_explicit():
    z = torch.linspace(-4, 4, 101, dtype=F64)
    explicit = {0: torch.ones_like(z), 1: z, 2: z**2 - 1, 3: z**3 - 3 * z, 4: z**4 - 6 * z**2 + 3}
    for k, ref in explicit.items():
        torch.testing.assert_close(hermite_e(k, z), ref, rtol=1e-13, atol=1e-12)


def test_hermite_orthonormality_quadrature():
    """E[He_j He_k] = k! δ_jk under N(0, 1) (Gauss–Hermite quadrature, exact for these degrees)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(20)
    z, w = torch.from_numpy(nodes), torch.from_numpy(weights) / math.sqrt(2 * math.pi)
    for j in range(7):
        for k in range(7):
            val = (w * hermite_e(j, z) * hermite_e(k, z)).sum().item()
            assert val == pytest.approx(math.factorial(k) if j == k else 0.0, abs=1e-8)


@pytest.mark.parametrize("name,k", KINDS)
def test_shapes_dtype_and_determinism(name, k):
    cfg = _cfg(name, k)
    a, b = build_polynomial(cfg), build_polynomial(cfg)
    assert a.X_train.shape == (30, 12) and a.X_test.shape == (40, 12)
    assert a.y_train.shape == (30,) and a.y_test.shape == (40,)
    for t in (a.X_train, a.X_test, a.y_train, a.y_test, a.target.b, a.target.B):
        assert t.dtype == F64 and t.device.type == "cpu"
    for name_ in ("X_train", "X_test", "y_train", "y_test"):
        assert torch.equal(getattr(a, name_), getattr(b, name_))
    assert torch.equal(a.meta["beta"], b.meta["beta"])
    assert a.meta["target_name"] == name
    assert a.meta["beta"].shape == ((3, 12) if name == "multi_index" else (12,))


def test_generators_per_array():
    cfg = _cfg(P=40, P_test=40)
    ds = build_polynomial(cfg)
    g = lambda s: torch.Generator().manual_seed(s)
    assert torch.equal(ds.X_train, torch.randn(40, 12, generator=g(0), dtype=F64) / math.sqrt(12))
    assert torch.equal(ds.X_test, torch.randn(40, 12, generator=g(1), dtype=F64) / math.sqrt(12))
    assert torch.equal(ds.meta["beta"], torch.randn(12, generator=g(2), dtype=F64))
    assert not torch.equal(ds.X_train, ds.X_test)
    other = build_polynomial(cfg.model_copy(update={"test_seed": 5}))
    assert torch.equal(other.X_train, ds.X_train) and not torch.equal(other.X_test, ds.X_test)
    other = build_polynomial(cfg.model_copy(update={"beta_seed": 9}))
    assert torch.equal(other.X_train, ds.X_train) and not torch.equal(other.meta["beta"], ds.meta["beta"])


@pytest.mark.parametrize("name,k", KINDS)
def test_y_matches_formula(name, k):
    ds = build_polynomial(_cfg(name, k))
    beta, D = ds.meta["beta"], 12
    for X, y in ((ds.X_train, ds.y_train), (ds.X_test, ds.y_test)):
        if name == "single_index":
            ref = 0.5 * (X @ beta) ** 2
        elif name == "multi_index":
            ref = sum(0.5 * (X @ beta[j]) ** 2 for j in range(3))
        else:
            z = math.sqrt(D) * (X @ beta) / beta.norm()
            ref = {1: z, 2: z**2 - 1, 3: z**3 - 3 * z, 4: z**4 - 6 * z**2 + 3}.get(k)
            ref = hermite_e(k, z) if ref is None else ref
        torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
        if not (name == "hermite" and k >= 3):  # the quadratic form reproduces y exactly
            torch.testing.assert_close(_quad(ds.target, X), y, rtol=1e-10, atol=1e-10)


def test_target_coefficients():
    ds = build_polynomial(_cfg("single_index"))
    beta = ds.meta["beta"]
    assert ds.target.c0 == 0 and ds.target.orth_power == 0
    assert torch.equal(ds.target.B, torch.outer(beta, beta)) and not ds.target.b.any()
    ds = build_polynomial(_cfg("multi_index"))
    beta = ds.meta["beta"]
    torch.testing.assert_close(ds.target.B, sum(torch.outer(b, b) for b in beta), rtol=1e-14, atol=1e-14)
    for k in (1, 2, 3, 5):
        ds = build_polynomial(_cfg("hermite", k))
        v = math.sqrt(12) * ds.meta["beta"] / ds.meta["beta"].norm()
        t = ds.target
        if k == 1:
            torch.testing.assert_close(t.b, v)
            assert not t.B.any()
            assert t.c0 == 0 and t.orth_power == 0
        elif k == 2:
            torch.testing.assert_close(t.B, 2 * torch.outer(v, v))
            assert t.c0 == -1 and t.orth_power == 0 and not t.b.any()
        else:
            assert t.orth_power == math.factorial(k) and t.c0 == 0
            assert not t.b.any() and not t.B.any()


def _write(tmp_path, name, arr, ext=".npy"):
    path = tmp_path / f"{name}{ext}"
    if ext == ".npy":
        np.save(path, arr)
    else:
        np.savez(path, arr)
    return str(path)


def _files_cfg(tmp_path, name="single_index", with_beta=True, with_y=True, ext=".npy"):
    rng = np.random.default_rng(0)
    arrays = {
        "X_train": rng.standard_normal((30, 12)), "X_test": rng.standard_normal((40, 12)),
        "y_train": rng.standard_normal(30), "y_test": rng.standard_normal(40),
        "beta": rng.standard_normal((3, 12) if name == "multi_index" else 12),
    }
    if not with_beta:
        arrays.pop("beta")
    if not with_y:
        arrays.pop("y_train"), arrays.pop("y_test")
    files = DataFiles(**{n: _write(tmp_path, n, a, ext) for n, a in arrays.items()})
    return _cfg(name, files=files), arrays


@pytest.mark.parametrize("ext", [".npy", ".npz"])
@pytest.mark.parametrize("name", ["single_index", "multi_index", "hermite"])
def test_byo_round_trip(tmp_path, name, ext):
    cfg, arrays = _files_cfg(tmp_path, name, ext=ext)
    ds = build_polynomial(cfg)
    for n in ("X_train", "X_test", "y_train", "y_test"):
        got = getattr(ds, n)
        assert got.dtype == F64 and np.array_equal(got.numpy(), arrays[n])
    assert np.array_equal(ds.meta["beta"].numpy(), arrays["beta"])
    assert ds.target is not None  # built from the beta file; y files assumed consistent
    assert sorted(ds.meta["from_files"]) == sorted(arrays)


def test_byo_y_without_beta_has_no_exact_target(tmp_path):
    cfg, arrays = _files_cfg(tmp_path, with_beta=False)
    ds = build_polynomial(cfg)
    assert ds.target is None and ds.meta["beta"] is None
    assert np.array_equal(ds.y_train.numpy(), arrays["y_train"])


def test_byo_one_y_without_beta_is_an_error(tmp_path):
    path = _write(tmp_path, "y_train", np.zeros(30))
    with pytest.raises(ConfigError, match="task.files.y_test"):
        build_polynomial(_cfg(files=DataFiles(y_train=path)))


def test_byo_beta_only_computes_y(tmp_path):
    beta = np.random.default_rng(1).standard_normal(12)
    cfg = _cfg("hermite", 3, files=DataFiles(beta=_write(tmp_path, "beta", beta)))
    ds = build_polynomial(cfg)
    gen = build_polynomial(_cfg("hermite", 3))
    assert torch.equal(ds.X_train, gen.X_train)  # X still generated
    z = math.sqrt(12) * ds.X_train @ torch.from_numpy(beta) / np.linalg.norm(beta)
    torch.testing.assert_close(ds.y_train, z**3 - 3 * z, rtol=1e-12, atol=1e-12)
    assert ds.target.orth_power == 6


def test_byo_X_only_uses_generated_beta(tmp_path):
    cfg, _arrays = _files_cfg(tmp_path, with_beta=False, with_y=False)
    ds = build_polynomial(cfg)
    gen = build_polynomial(_cfg())
    assert torch.equal(ds.meta["beta"], gen.meta["beta"])
    torch.testing.assert_close(ds.y_train, 0.5 * (ds.X_train @ ds.meta["beta"]) ** 2)


@pytest.mark.parametrize("which,arr,expect", [
    ("X_train", np.zeros((30, 11)), "(task.P, task.D)"),
    ("X_test", np.zeros((30, 12)), "(task.P_test, task.D)"),
    ("y_train", np.zeros((30, 1)), "(task.P,)"),
    ("beta", np.zeros((2, 12)), "(task.D,)"),
])
def test_byo_wrong_shape(tmp_path, which, arr, expect):
    path = _write(tmp_path, which, arr)
    with pytest.raises(ConfigError) as exc:
        build_polynomial(_cfg(files=DataFiles(**{which: path})))
    msg = str(exc.value)
    assert f"task.files.{which}" in msg and path in msg and expect in msg


def test_byo_multi_index_beta_shape(tmp_path):
    path = _write(tmp_path, "beta", np.ones(12))
    with pytest.raises(ConfigError, match=r"\(task.n_index, task.D\)"):
        build_polynomial(_cfg("multi_index", files=DataFiles(beta=path)))


def test_byo_zero_beta_hermite(tmp_path):
    path = _write(tmp_path, "beta", np.zeros(12))
    with pytest.raises(ConfigError, match="task.files.beta"):
        build_polynomial(_cfg("hermite", 2, files=DataFiles(beta=path)))
