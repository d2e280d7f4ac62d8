"""How many CPU threads a run uses. Small products on two OpenMP threads that spin-wait collapse when
a neighbour process takes a core (the demo: 43 s idle, 141 s beside `yes > /dev/null`), so the default
``auto`` re-reads, at every probe point, how many cores other processes keep busy and uses only the
free ones (at least one, at most the caller's torch setting). An integer fixes the count for the whole
run, probes and K₀ included; None leaves torch's setting alone."""
from __future__ import annotations

import os
from pathlib import Path

import torch


def _own_runnable() -> int:
    """This process's threads that are running or runnable now (Linux /proc)."""
    n = 0
    for stat in Path("/proc/self/task").glob("*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "R":
                n += 1
        except (OSError, IndexError):
            continue
    return n


def busy_elsewhere() -> int | None:
    """Runnable threads of other processes right now (/proc/loadavg's running count less our own),
    or None where /proc is not available."""
    try:
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return None
    return max(0, running - _own_runnable())


def auto_threads(ceiling: int) -> int:
    """The free cores (usable CPUs less the busy ones elsewhere), between 1 and ``ceiling``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    busy = busy_elsewhere()
    if busy is None:
        return ceiling
    return max(1, min(ceiling, cores - busy))


def check_threads(threads: int | str | None) -> None:
    ok = threads is None or threads == "auto" or (isinstance(threads, int) and not isinstance(threads, bool)
                                                   and 1 <= threads <= 1024)
    if not ok:
        raise ValueError(f"threads = {threads!r}: allowed are 'auto' (free cores, re-read at each probe point), "
                         "an integer from 1 to 1024, or None (torch's setting)")


class ThreadPolicy:
    """Applies a threads setting for the span of a run and restores torch's setting afterwards."""

    def __init__(self, threads: int | str | None):
        check_threads(threads)
        self.threads, self.outer = threads, torch.get_num_threads()

    def apply(self) -> int:
        """Set (auto: re-evaluate) the thread count; returns it."""
        n = self.outer if self.threads is None else (
            auto_threads(self.outer) if self.threads == "auto" else int(self.threads))
        if n != torch.get_num_threads():
            torch.set_num_threads(n)
        return n

    def restore(self) -> None:
        if torch.get_num_threads() != self.outer:
            torch.set_num_threads(self.outer)
