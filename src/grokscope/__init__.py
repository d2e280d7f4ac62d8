"""grokscope: grokking as the transition from lazy to rich training dynamics."""
from grokscope.config import Config, ConfigError, load_config

__version__ = "0.1.0"

__all__ = ["Config", "ConfigError", "__version__", "load_config", "load_run", "run"]


def __getattr__(name: str):  # lazy: importing grokscope stays cheap
    if name == "load_run":
        from grokscope.store import load_run
        return load_run
    if name == "run":
        from grokscope.training.loop import run
        return run
    raise AttributeError(name)
