"""Log-spaced probe schedule: the interesting dynamics span decades of steps."""
from __future__ import annotations

import numpy as np


def log_schedule(steps: int, per_decade: int = 100) -> np.ndarray:
    """Sorted unique steps in [0, steps]: 0, then ~per_decade log-spaced points per decade, and steps.

    Early decades hold every integer step (fewer integers than points), so nothing is skipped there.
    """
    if steps <= 0:
        return np.array([0], dtype=np.int64)
    n = int(np.ceil(np.log10(steps) * per_decade)) + 1
    pts = np.round(np.logspace(0.0, np.log10(steps), max(n, 2))).astype(np.int64)
    return np.unique(np.concatenate([[0], pts, [steps]]))
