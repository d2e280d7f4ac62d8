"""Tasks: one file per family, each registering ``build(cfg) -> Dataset`` in ``TASKS``."""
from grokscope.tasks import polynomial  # noqa: F401  (registers "polynomial")
from grokscope.tasks.base import TASKS, Dataset, QuadraticTarget, register_task

__all__ = ["TASKS", "Dataset", "QuadraticTarget", "register_task"]
