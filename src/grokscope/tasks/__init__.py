"""Tasks: one file per family, each registering ``build(cfg) -> Dataset`` in ``TASKS``."""
from grokscope.tasks import eigen, images, modular, neuro, parity, polynomial, seq_digits, teacher  # noqa: F401  (import registers each task)
from grokscope.tasks.base import TASKS, Dataset, register_task
from grokscope.theory.targets import QuadraticTarget

__all__ = ["TASKS", "Dataset", "QuadraticTarget", "register_task"]
