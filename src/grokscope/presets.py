"""Named configs reproducing the paper's figures (see experiments/*.yaml for the same as files)."""
from __future__ import annotations

import copy
from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    # Fig 1(b): D=100, P=550 (1000 test), N=500, α=1, ε=0.02, η = N/α², 1e5 full-batch GD steps, centred.
    "fig1": {
        "task": {"name": "polynomial", "D": 100, "P": 550, "P_test": 1000, "target": "single_index"},
        "model": {"name": "committee", "N": 500, "phi": "quadratic", "eps": 0.02},
        "scaling": {"alpha": 1.0, "centre": True, "lr_rule": "paper"},
        "optim": {"name": "gd", "lr": 1.0},
        "train": {"steps": 100_000, "dtype": "float64"},
    },
}

DESCRIPTIONS = {
    "fig1": "paper Fig 1(b): the canonical grokking curve of the quadratic committee (D=100, P=550, N=500)",
}


def get_preset(name: str) -> dict[str, Any]:
    from grokscope.config import ConfigError
    if name not in PRESETS:
        raise ConfigError(f"--preset {name!r}: unknown preset; available: {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])
