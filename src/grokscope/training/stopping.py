"""Early stopping once a run's grokking events are settled (``train.early_stop``, default off).

Settled, precisely: for every absolute threshold θ (``events.thresholds``) and every relative one
r·L(0) (``events.relative``, L(0) the step-0 loss) both crossings t_train (train_loss ≤ θ) and t_test
(``events.test_metric`` ≤ θ) have happened, at single-step resolution (the loop places them between
logged steps, :mod:`grokscope.training.exact_events`), and the current logged step t satisfies
t ≥ early_stop · max(all crossing steps) (no thresholds at all: never). The run then stops after
logging step t, with status ``completed``; its events are exactly those a full-length run would
report (first crossings never change later), its final values are those of step t. A single run and
an ensemble member apply the same rule at the same logged steps, so a member still equals its single run.
"""
from __future__ import annotations

from typing import Any

from grokscope.training.exact_events import StepEvents


class EventWatch:
    """The run's first crossings (``exact``: single-step resolution, fed with every logged row and by
    the loop between them); ``update(row)`` → True once the events are settled."""

    def __init__(self, cfg: Any):
        self.factor = cfg.train.early_stop
        self.metric = cfg.events.test_metric  # the run record sets the column it logs (RunState)
        self.last_crossing = 0
        self.exact = StepEvents(list(cfg.events.thresholds), list(cfg.events.relative))

    @property
    def enabled(self) -> bool:
        return self.factor is not None

    def update(self, row: dict[str, Any]) -> bool:
        """Feed one logged row (in step order); True when the events are settled at this row."""
        step = int(row["step"])
        if "train_loss" in row and self.metric in row:  # a logged step is a step: exact as it is
            self.exact.observe(step, row["train_loss"], row[self.metric])
        if not self.enabled or not self.exact.started:
            return False
        if self.exact.found:
            self.last_crossing = max(self.exact.found.values())
        events = bool(self.exact.thresholds)  # no thresholds: no events, never settled
        return events and not self.exact.pending() and step >= self.factor * self.last_crossing

    def reason(self, step: int) -> str:
        return (f"early stop at step {step}: every grokking event settled (last crossing at step "
                f"{self.last_crossing}, train.early_stop = {self.factor:g})")
