"""The regression pins' cases: fig1 on both engines and as a batched pair, and one small preset per
model and task family, all float64. ``record.py`` ran them once, before the layered-package
restructure, and stored their fully resolved configs and metrics in ``pins.npz`` / ``pins.json``;
``tests/test_pins.py`` reruns the stored configs and compares."""
from __future__ import annotations

# name -> (preset, dotted overrides); "+batched" cases list several members trained as one ensemble
F64 = {"train.dtype": "float64", "train.progress": False, "output.plots": False}
CASES: dict[str, tuple[str, dict]] = {
    "fig1-reduced": ("fig1", {"train.steps": 2000, "train.engine": "reduced"}),
    "fig1-network": ("fig1", {"train.steps": 2000, "train.engine": "network"}),
    "fig5-small": ("fig5-small", {"train.steps": 1000}),
    "fig8-small": ("fig8-small", {"train.steps": 300}),
    "fig6a-small": ("fig6a-small", {"train.steps": 200, "task.n_train": 100, "task.n_test": 60}),
    "fig12a-small": ("fig12a", {"task.p": 17, "task.frac_train": 0.6, "model.d_model": 16, "model.d_mlp": 64,
                                "optim.lr": 2e-3, "train.steps": 150, "train.log_per_decade": 20,
                                "train.loss_dtype": "float64"}),
    "fig2-small": ("fig2", {"train.steps": 500, "train.log_per_decade": 20}),
    "stablemax-small": ("stablemax", {"task.p": 31, "train.steps": 200, "optim.lr": 2e-3,
                                      "train.log_per_decade": 20, "train.loss_dtype": "float64"}),
    "orthograd-small": ("orthograd", {"task.p": 23, "task.frac_train": 0.5, "train.steps": 100,
                                      "train.log_per_decade": 20}),
    "lowrank-small": ("lowrank", {"train.steps": 200, "task.n_train": 60, "task.n_test": 40}),
}
BATCHED: dict[str, list[tuple[str, dict]]] = {
    "fig1-batched": [("fig1", {"task.D": 40, "task.P": 200, "task.P_test": 300, "model.N": 100,
                               "train.steps": 1500, "scaling.alpha": a}) for a in (1.0, 3.0)],
    "committee-network-batched": [("fig1", {"task.D": 20, "task.P": 80, "task.P_test": 100, "model.N": 30,
                                            "model.phi": "tanh", "train.steps": 500, "scaling.alpha": a,
                                            "train.engine": "network"}) for a in (0.5, 2.0)],
}
