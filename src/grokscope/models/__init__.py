"""Models: one file per architecture; ``build_model(cfg, D)`` picks by ``cfg.model.name``."""
from __future__ import annotations

from typing import Any


def build_model(model_cfg: Any, D: int, data: Any = None) -> Any:
    """The functional model for a config section (init/apply/vjp/quadratic_form); ``data`` (the
    task's Dataset) gives sizes the config does not hold (vocabulary, classes)."""
    if model_cfg.name == "committee":
        from grokscope.models.committee import Committee
        return Committee.from_config(model_cfg, D)
    if model_cfg.name == "transformer":
        from grokscope.models.transformer import Transformer
        return Transformer.from_config(model_cfg, data)
    raise ValueError(f"model.name = {model_cfg.name!r}: allowed are committee, transformer")
