"""Models: one file per architecture, each registering itself (config section, builder, declared
capabilities) in ``MODELS``; importing this package registers the built-in ones."""
from grokscope.models import committee, mlp, rnn, transformer  # noqa: F401  (import registers each model)
from grokscope.models.registry import (
    CAPABILITIES,
    MODELS,
    build_model,
    capabilities,
    output_width,
    register_model,
    supports,
)

__all__ = ["CAPABILITIES", "MODELS", "build_model", "capabilities", "output_width", "register_model", "supports"]
