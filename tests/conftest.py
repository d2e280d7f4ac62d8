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
