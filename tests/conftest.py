"""Shared fixtures: small configs that train in well under a second."""
from __future__ import annotations

import pytest
import torch

from grokscope.config import load_config

torch.set_num_threads(1)  # tests run two at a time on 2 cores (pytest -n 2)


def small_config(tmp_path, **over):
    base = {
        "task": {"D": 12, "P": 40, "P_test": 60},
        "model": {"N": 16, "eps": 0.3},
        "scaling": {"alpha": 1.0},
        "optim": {"lr": 0.5},
        "train": {"steps": 200, "progress": False, "log_per_decade": 20, "engine": "network"},
        "output": {"root": str(tmp_path / "runs"), "plots": False},
    }
    return load_config(base, over)


@pytest.fixture
def cfg_small(tmp_path):
    return small_config(tmp_path)


def quadratic_problem(seed, shapes):
    """Params of ``shapes`` and the gradient of L = Σ_k ½ x_kᵀ A_k x_k − c_kᵀ x_k (x_k = flattened
    param k, A_k positive definite): the shared test problem of the optimiser tests (float64)."""
    gen = torch.Generator().manual_seed(seed)
    params, mats = {}, {}
    for k, s in shapes.items():
        n = torch.Size(s).numel()
        q = torch.randn(n, n, generator=gen, dtype=torch.float64)
        mats[k] = (q @ q.T / n + 0.1 * torch.eye(n, dtype=torch.float64),
                   torch.randn(n, generator=gen, dtype=torch.float64))
        params[k] = torch.randn(s, generator=gen, dtype=torch.float64)

    def grads(ps):
        return {k: (mats[k][0] @ p.reshape(-1) - mats[k][1]).reshape(p.shape) for k, p in ps.items()}

    return params, grads
