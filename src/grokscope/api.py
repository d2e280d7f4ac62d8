"""The public entry points, composed across the layers: the training loop writes a run's metrics and
summary, and the views add its figures and report. ``grokscope.run`` and ``grokscope.run_batched``
are these functions; the CLI and the sweep backends call them too."""
from __future__ import annotations

import os
from collections.abc import Sequence

from grokscope.config import Config, load_config
from grokscope.store import Run, RunWriter, load_run
from grokscope.training import loop

__all__ = ["load_config", "load_run", "run", "run_batched", "write_outputs"]


def write_outputs(run: Run) -> None:
    """figures/*.png (listed in the summary's ``figures``) and report.html, as ``output.plots`` and
    ``output.report`` ask."""
    out = run.config.output
    if not out.plots:
        return
    from grokscope.views.plots import save_run_figures
    run.summary = dict(run.summary or {}, figures=save_run_figures(run))
    RunWriter.save_summary(run.path, run.summary)
    if out.report:
        from grokscope.views.report import write_report
        write_report(run.path)


def run(cfg: Config, path: str | os.PathLike[str] | None = None, *, label: str | None = None,
        quiet: bool = False, threads: int | str | None = "auto", force: bool = False,
        checkpoint_every_s: float | None = 60.0) -> Run:
    """Train one config and write its complete run directory (:func:`grokscope.training.loop.run`
    plus :func:`write_outputs`); returns the loaded :class:`~grokscope.store.Run`. A finished run of
    the same config in ``path`` is returned untouched, and another config's run there is refused,
    unless ``force``; an unfinished one resumes from its last checkpoint (taken every
    ``checkpoint_every_s`` seconds of the run)."""
    return loop.run(cfg, path, label=label, quiet=quiet, threads=threads, after=write_outputs, force=force,
                    checkpoint_every_s=checkpoint_every_s)


def run_batched(cfgs: Sequence[Config], paths: Sequence[str | os.PathLike[str]],
                labels: Sequence[str | None], *, threads: int | str | None = "auto",
                force: bool = False) -> list[Run]:
    """Train configs of equal batch key as one batched ensemble (:func:`grokscope.training.loop.run_batched`)
    and write each complete run directory; directories holding finished runs are refused unless ``force``."""
    return loop.run_batched(cfgs, paths, labels, after=write_outputs, threads=threads, force=force)
