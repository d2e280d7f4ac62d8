"""Models: one file per architecture; ``build_model(cfg, D)`` picks by ``cfg.model.name``."""
from __future__ import annotations

from typing import Any


def build_model(model_cfg: Any, D: int, K: int | None = None) -> Any:
    """The functional model for a config section (init/apply/vjp/quadratic_form).
    ``K``: outputs per sample (None: scalar output), for models whose readout width follows the task."""
    if model_cfg.name == "committee":
        from grokscope.models.committee import Committee
        return Committee.from_config(model_cfg, D)
    if model_cfg.name == "mlp":
        from grokscope.models.mlp import MLP
        return MLP.from_config(model_cfg, D, K)
    raise ValueError(f"model.name = {model_cfg.name!r}: allowed are committee, mlp")
