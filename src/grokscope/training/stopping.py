"""Early stopping once a run's grokking events are settled (``train.early_stop``, default off).

Settled, precisely: with the events of :func:`grokscope.diagnostics.events.grokking_events` — for
every absolute threshold θ (``events.thresholds``) and every relative one r·L(0)
(``events.relative``, L(0) the step-0 loss) — both crossings t_train (train_loss ≤ θ) and t_test
(``events.test_metric`` ≤ θ) have happened at a logged step, and the current logged step t
satisfies t ≥ early_stop · max(all crossing steps) (no thresholds at all: never). The run then stops after logging step t, with
status ``completed``; its events are exactly those a full-length run would report (first crossings
never change later), its final values are those of step t. A single run and an ensemble member
apply the same rule at the same logged steps, so a member still equals its single run.
"""
from __future__ import annotations

import math
from typing import Any


class EventWatch:
    """Incremental first-crossing tracker; ``update(row)`` → True once the events are settled."""

    def __init__(self, cfg: Any):
        self.factor = cfg.train.early_stop
        self.metric = cfg.events.test_metric
        self.absolute = list(cfg.events.thresholds)
        self.relative = list(cfg.events.relative)
        self.pending: dict[tuple[str, int], float] | None = None  # (column, i) → threshold
        self.last_crossing = 0

    @property
    def enabled(self) -> bool:
        return self.factor is not None

    def _init(self, row: dict[str, Any]) -> None:
        test = self.metric if self.metric in row else "test_loss"
        self.metric = test
        self.pending = {}
        for i, th in enumerate(self.absolute):
            self.pending[("train_loss", i)] = th
            self.pending[(test, i)] = th
        n = len(self.absolute)
        for i, r in enumerate(self.relative):
            self.pending[("train_loss", n + i)] = r * float(row["train_loss"])
            self.pending[(test, n + i)] = r * float(row[test])

    def update(self, row: dict[str, Any]) -> bool:
        """Feed one logged row (in step order); True when the events are settled at this row."""
        if not self.enabled:
            return False
        if self.pending is None:
            self._init(row)
        assert self.pending is not None
        step = int(row["step"])
        for key in [k for k, th in self.pending.items() if _le(row.get(k[0]), th)]:
            del self.pending[key]
            self.last_crossing = step
        events = bool(self.absolute or self.relative)  # no thresholds: no events, never settled
        return events and not self.pending and step >= self.factor * self.last_crossing

    def reason(self, step: int) -> str:
        return (f"early stop at step {step}: every grokking event settled (last crossing at step "
                f"{self.last_crossing}, train.early_stop = {self.factor:g})")


def _le(value: Any, threshold: float) -> bool:
    """value ≤ threshold, NaN/None never counting (as ``first_crossing``)."""
    if value is None:
        return False
    v = float(value)
    return not math.isnan(v) and v <= threshold
