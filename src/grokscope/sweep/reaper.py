"""A watchdog for a local Ray instance: ``python -m grokscope.sweep.reaper DRIVER_PID`` records, every
0.5 s, the processes descended from the sweep driver (Ray's head processes, agents and workers, with
their start times) and, once the driver is gone (killed: it could not call ray.shutdown), kills every
recorded process that is still the same process. The driver starts it next to ``ray.init`` and stops
it after ``ray.shutdown`` (Linux /proc; elsewhere it exits at once)."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def _stat(pid: str) -> tuple[int, str] | None:
    """(parent pid, start time) of a process from /proc/PID/stat, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), fields[19]
    except (OSError, IndexError, ValueError):
        return None


def descendants(root: int) -> dict[int, str]:
    """{pid: start time} of every process below ``root``."""
    children: dict[int, list[tuple[int, str]]] = {}
    for d in Path("/proc").glob("[0-9]*"):
        st = _stat(d.name)
        if st is not None:
            children.setdefault(st[0], []).append((int(d.name), st[1]))
    out, todo = {}, [root]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            if pid not in out:
                out[pid] = start
                todo.append(pid)
    return out


def main(driver: int, every_s: float = 0.5) -> None:
    if not Path("/proc").is_dir():
        return
    me, known = os.getpid(), {}
    while _stat(str(driver)) is not None:
        known.update(descendants(driver))
        time.sleep(every_s)
    known.update({p: s for p, s in descendants(1).items() if p in known})  # re-parented, still known
    for pid, start in known.items():
        st = _stat(str(pid))
        if pid != me and st is not None and st[1] == start:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


if __name__ == "__main__":
    main(int(sys.argv[1]))
