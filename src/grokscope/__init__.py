"""grokscope: grokking as the transition from lazy to rich training dynamics."""
from grokscope.config import Config, ConfigError, load_config
from grokscope.version import __version__

__all__ = ["Config", "ConfigError", "__version__", "load_config", "load_run", "run", "run_batched"]
_LAZY = ("run", "run_batched", "load_run")


def __getattr__(name: str):  # lazy: importing grokscope stays cheap
    if name in _LAZY:
        from grokscope import api
        return getattr(api, name)
    raise AttributeError(f"module 'grokscope' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
