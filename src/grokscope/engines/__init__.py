"""Engines: what one training step is. Each registers itself in ``ENGINES`` (engines/registry.py);
importing this package registers the built-in ones (network, reduced)."""
from grokscope.engines import network, reduced  # noqa: F401  (import registers each engine)
from grokscope.engines.registry import ENGINES, EngineInputs, choose_engine, register_engine

__all__ = ["ENGINES", "EngineInputs", "choose_engine", "register_engine"]
