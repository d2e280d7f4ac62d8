"""Grokking events at single-step resolution, whatever the log schedule.

For a threshold θ the event time is t(θ) = min{t : L(t) ≤ θ} over *every* optimiser step t, not only
the logged ones. The loop (:func:`grokscope.training.loop.train`) steps in chunks (s, e] between probe
points. While a member still has an event to find, :class:`StepSearch`

  1. snapshots the stepper's mutable state at s (the engine of a single run, or the whole ensemble);
  2. keeps, during the chunk, the running minimum of the train losses the steps compute anyway
     (L_train(t) for t = s … e − 1: every engine's ``step()`` returns the loss before its update;
     full-batch only, a mini-batch loss is not L_train);
  3. at e, evaluates each member's event losses with the very probe functions that write the logged
     columns (``train_loss`` and ``events.test_metric``);
  4. if a pending threshold is reached at e, or the train minimum reached it inside the chunk, rewinds
     to s and replays the chunk step by step (the replay is bit-exact: same state, same operations),
     evaluating the losses at s + 1, s + 2, … until every such crossing is placed, then puts the state
     at e back.

So t(θ) equals what a run logging every step reports, with one stated blind spot: a *test* loss that
dips below θ and rises above it again strictly inside one chunk, while the train loss crosses nothing
there, is not seen (the train side has no blind spot for full-batch steps). If a member diverges or
fails inside a chunk (the ensemble shrinks), that chunk is not replayed: its crossings are resolved
to the chunk end and listed in ``summary['event_resolution']['inexact']``.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from grokscope.training.checkpoint import capture, restore


class StepEvents:
    """One member's first crossings at single-step resolution (its state is checkpointed with the
    run's early-stop watch). Keys ``'<side>|<kind>|<threshold>'``, side train/test, kind a/r
    (absolute, relative to the step-0 loss)."""

    def __init__(self, absolute: list[float], relative: list[float]):
        self.absolute, self.relative = [float(x) for x in absolute], [float(x) for x in relative]
        self.thresholds: dict[str, float] = {}   # key → θ, set at the first evaluation (step 0)
        self.found: dict[str, int] = {}           # key → first step with loss ≤ θ
        self.inexact: list[str] = []               # keys resolved only to a chunk end (see module doc)
        self.started = False
        self.replayed_steps = 0
        self.seconds = 0.0

    def pending(self) -> list[str]:
        """Keys still to find (every key before the step-0 evaluation)."""
        if not self.started:
            return ["?"]
        return [k for k in self.thresholds if k not in self.found]

    def start(self, train0: float, test0: float) -> None:
        """Fix the thresholds: absolute θ on both sides, r·L(0) for the relative ones."""
        for th in self.absolute:
            self.thresholds[f"train|a|{th:g}"] = th
            self.thresholds[f"test|a|{th:g}"] = th
        for r in self.relative:
            self.thresholds[f"train|r|{r:g}"] = r * train0
            self.thresholds[f"test|r|{r:g}"] = r * test0
        self.started = True

    def observe(self, step: int, train: float, test: float, *, exact: bool = True) -> None:
        """Record every pending key whose loss at ``step`` is ≤ θ (NaN never counts)."""
        if not self.started:
            self.start(train, test)
        for key in self.pending():
            v = train if key.startswith("train") else test
            if v is not None and v <= self.thresholds[key]:
                self.found[key] = int(step)
                if not exact:
                    self.inexact.append(key)

    def reached(self, train: float | None, test: float | None) -> bool:
        """Whether any pending key is at or below its threshold for these values."""
        for key in self.pending():
            v = train if key.startswith("train") else test
            if v is not None and v <= self.thresholds.get(key, float("-inf")):
                return True
        return False

    def apply(self, events: dict[str, Any]) -> dict[str, Any]:
        """``events`` (:func:`grokscope.diagnostics.events.grokking_events`, logged resolution) with
        t_train, t_test, grok_amount and delay_ratio replaced by the single-step ones."""
        for kind, k in (("absolute", "a"), ("relative", "r")):
            for th, c in events.get(kind, {}).items():
                tr = self.found.get(f"train|{k}|{th}", c["t_train"])
                te = self.found.get(f"test|{k}|{th}", c["t_test"])
                both = tr is not None and te is not None
                c.update(t_train=tr, t_test=te, grok_amount=max(0, te - tr) if both else None,
                         delay_ratio=te / max(tr, 1) if both else None)
        return events

    def report(self) -> dict[str, Any]:
        return {"resolution": "step", "replayed_steps": self.replayed_steps, "seconds": self.seconds,
                "inexact": sorted(set(self.inexact))}


def snapshot(obj: Any) -> Any:
    """The mutable state reachable from ``obj`` without broadcast views of the data
    (:func:`grokscope.training.checkpoint.capture` with ``skip_broadcast``), so that
    :func:`~grokscope.training.checkpoint.restore` can write it back in place."""
    return capture(obj, skip_broadcast=True)


class StepSearch:
    """The loop's side of exact events for members ``states`` (RunStates) stepped by ``stepper``."""

    def __init__(self, states: list[Any], stepper: Any, engine: Any):
        self.states, self.stepper, self.engine = states, stepper, engine
        self.full_batch = states[0].cfg.optim.batch_size is None
        self.snap: Any = None
        self.start = 0

    def wanted(self, ids: list[int]) -> list[int]:
        return [i for i in ids if self.states[i].watch.exact.pending()]

    def begin(self, step: int, stop_at: int, running: list[int]) -> bool:
        """Before a chunk (step, stop_at]: snapshot if some member still has events to find and the
        chunk is longer than one step; returns whether to track the train minimum."""
        t0 = time.perf_counter()
        self.start, self.snap = step, None
        want = self.wanted(running)
        for i in want:  # the step-0 values fix the relative thresholds
            ex = self.states[i].watch.exact
            if not ex.started:
                ex.observe(step, *self.states[i].event_values(step))
        want = self.wanted(want)
        if want and stop_at - step > 1:
            self.snap = snapshot(self.engine)
        self._charge(want, time.perf_counter() - t0)
        return self.snap is not None and self.full_batch

    def end(self, step: int, running: list[int], active: list[int], low: torch.Tensor | None) -> None:
        """After the chunk: evaluate, replay where a crossing happened, restore the state at ``step``.
        ``low``: the running minimum of the step losses (positions as in ``running``), or None."""
        t0 = time.perf_counter()
        shrunk = active != running
        # a one-step chunk needs no replay: a member that logs this step observes its row (RunState.probe)
        want = [i for i in self.wanted(running) if i in active
                and not (step - self.start == 1 and self.states[i].due(step))]
        vals = {i: self.states[i].event_values(step) for i in want}
        hit, low_of = [], {}
        for p, i in enumerate(running):
            if i not in vals:
                continue
            ex = self.states[i].watch.exact
            low_of[i] = None if low is None or shrunk else float(low[p] if low.ndim else low)
            if ex.reached(*vals[i]) or ex.reached(low_of[i], None):
                hit.append(i)
        if hit and self.snap is not None and not shrunk and step - self.start > 1:
            self._replay(step, hit, vals, low_of)
        inexact = shrunk and step - self.start > 1
        for i in want:
            self.states[i].watch.exact.observe(step, *vals[i], exact=not inexact)
        self.snap = None
        self._charge(want, time.perf_counter() - t0)

    def _replay(self, end: int, hit: list[int], vals: dict[int, tuple[float, float]],
                low_of: dict[int, float | None]) -> None:
        """Rewind to the chunk start and step to ``end`` − 1, observing the members ``hit`` at each
        step until none of them has a crossing left that the chunk end or the train minimum showed."""
        here = snapshot(self.engine)
        restore(self.engine, self.snap)
        n = 0
        todo = set(hit)
        try:
            for s in range(self.start + 1, end):
                self.stepper.step()
                n += 1
                for i in list(todo):
                    ex = self.states[i].watch.exact
                    ex.observe(s, *self.states[i].event_values(s))
                    if not ex.reached(*vals[i]) and not ex.reached(low_of[i], None):
                        todo.discard(i)
                if not todo:
                    break
        finally:
            restore(self.engine, here)
        for i in hit:
            self.states[i].watch.exact.replayed_steps += n

    def _charge(self, ids: list[int], seconds: float) -> None:
        for i in ids:
            self.states[i].watch.exact.seconds += seconds / max(len(ids), 1)
