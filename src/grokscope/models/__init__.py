"""Models: one file per architecture; ``build_model(cfg, D)`` picks by ``cfg.model.name``."""
from __future__ import annotations

from typing import Any


def build_model(model_cfg: Any, D: int, data: Any = None) -> Any:
    """The functional model for a config section (init/apply/vjp/quadratic_form); ``data`` (the
    task's Dataset) gives sizes the config does not hold (vocabulary, classes, output width)."""
    if model_cfg.name == "committee":
        from grokscope.models.committee import Committee
        return Committee.from_config(model_cfg, D)
    if model_cfg.name == "transformer":
        from grokscope.models.transformer import Transformer
        return Transformer.from_config(model_cfg, data)
    if model_cfg.name == "mlp":
        from grokscope.models.mlp import MLP
        return MLP.from_config(model_cfg, D, output_width(data))
    raise ValueError(f"model.name = {model_cfg.name!r}: allowed are committee, transformer, mlp")


def output_width(data: Any) -> int | None:
    """Outputs per sample a task needs: the target width (P, K), the classes for integer labels,
    None (a scalar output) for scalar float targets or no data."""
    if data is None:
        return None
    y = data.y_train
    if y.ndim == 2:
        return int(y.shape[1])
    return None if y.dtype.is_floating_point else data.classes
