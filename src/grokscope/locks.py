"""Exclusive locks on run and sweep directories: ``<dir>/.grokscope.lock`` holds the writer's pid,
host and process start time. A second writer gets a :class:`DirectoryLocked` error naming the
holder; a lock whose process is gone (on this host) is stale and is broken safely (renamed away
first, so two processes breaking it at once cannot both win)."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from grokscope.config import ConfigError

LOCK = ".grokscope.lock"


class DirectoryLocked(ConfigError):
    """Another live process holds the directory's lock."""


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux /proc), to tell a reused pid apart."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(info: dict[str, Any]) -> bool:
    """Whether the lock's process is still running (locks from another host count as alive)."""
    if info.get("host") != socket.gethostname():
        return True
    pid = int(info.get("pid", -1))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = info.get("start")
    return started is None or _start_time(pid) in (None, started)


class DirLock:
    """``with DirLock(path, "run"):`` — hold ``path``'s lock for the block (re-entrant in one process)."""

    _held: dict[str, int] = {}

    def __init__(self, path: str | os.PathLike[str], what: str = "run"):
        self.dir, self.what = Path(path), what
        self.file = self.dir / LOCK

    def acquire(self) -> DirLock:
        key = str(self.dir.resolve())
        if self._held.get(key):
            self._held[key] += 1
            return self
        self.dir.mkdir(parents=True, exist_ok=True)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "start": _start_time(os.getpid()),
                "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(3):
            try:
                fd = os.open(self.file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._read()
                if holder is not None and _alive(holder):
                    raise DirectoryLocked(
                        f"{self.dir}: this {self.what} directory is being written by process {holder.get('pid')} "
                        f"on {holder.get('host')} (since {holder.get('since')}); wait for it to finish, or remove "
                        f"{self.file} if that process is gone") from None
                self._break()
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(info, fh)
            self._held[key] = 1
            return self
        raise DirectoryLocked(f"{self.dir}: could not take the {self.what} lock {self.file}")

    def release(self) -> None:
        key = str(self.dir.resolve())
        n = self._held.get(key, 0)
        if n > 1:
            self._held[key] = n - 1
            return
        self._held.pop(key, None)
        holder = self._read()
        if holder is not None and holder.get("pid") == os.getpid():
            self.file.unlink(missing_ok=True)

    def _read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.file.read_text() or "{}")
        except (OSError, ValueError):
            # being written right now (empty for an instant) or unreadable: a fresh lock is live
            try:
                fresh = time.time() - self.file.stat().st_mtime < 5
            except OSError:
                return None
            return {"pid": -1, "host": None, "since": "now"} if fresh else None

    def _break(self) -> None:
        stale = self.dir / f"{LOCK}.stale.{os.getpid()}"
        try:
            os.rename(self.file, stale)  # atomic: of two breakers only one moves it
            stale.unlink(missing_ok=True)
        except FileNotFoundError:
            pass

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
