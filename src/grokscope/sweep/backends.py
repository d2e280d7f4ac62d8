"""Backends run PACKS of runs: ``local`` (in process), ``process`` (a process pool on this machine) and
``ray`` (a local Ray instance or an existing cluster via ``address``).

A pack is a list of items (config dict, run directory, label). ``execute_pack`` trains them, using
batched ensembles (``grokscope.training.batched``) for runs with equal batch keys when that module exists, and
records a run that raises in its directory (``sweep_error.json``) while the others go on. Every
backend runs the same ``execute_pack``, so results do not depend on the backend.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from grokscope.config import ConfigError

BACKENDS = ("local", "process", "ray")
Item = tuple[dict[str, Any], str, str]  # (resolved config dict, run directory, label)


def _run_one(cfg: Any, path: Path, label: str) -> dict[str, Any]:
    from grokscope.api import run
    from grokscope.sweep.results import ERROR_FILE, write_error
    (path / ERROR_FILE).unlink(missing_ok=True)
    t0 = time.perf_counter()
    try:
        r = run(cfg, path, label=label, quiet=True)
        return {"path": str(path), "status": r.status, "error": None}
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 — recorded in the run directory; the sweep goes on
        msg = f"{type(exc).__name__}: {exc}"
        path.mkdir(parents=True, exist_ok=True)
        write_error(path, msg, time.perf_counter() - t0, traceback.format_exc(limit=8))
        return {"path": str(path), "status": "failed", "error": msg}


def _batch_groups(cfgs: list[Any]) -> list[list[int]] | None:
    """Indices grouped by ``grokscope.training.batched.batch_key`` (None if batching is unavailable)."""
    try:
        from grokscope.training.batched import batch_key
    except ImportError:
        return None
    groups: dict[str, list[int]] = {}
    singles: list[list[int]] = []
    for i, c in enumerate(cfgs):
        try:
            k = batch_key(c)
        except Exception:  # noqa: BLE001 — an unbatchable config just runs alone
            k = None
        if k is None:
            singles.append([i])
        else:
            groups.setdefault(k, []).append(i)
    return list(groups.values()) + singles


_WATCHING: set[int] = set()
_PARENT = os.getppid()  # who started this process (a pool worker: the driver)


def watch_driver(pid: int, every_s: float = 0.5) -> None:
    """In a sweep worker: exit at once (os._exit) when the driver process ``pid`` is gone, so a killed
    driver leaves no worker training. A daemon thread polls: the driver is gone when a child of it has
    been re-parented, or when no process ``pid`` exists. Started once per worker process."""
    import threading
    if pid in _WATCHING or pid == os.getpid():
        return
    _WATCHING.add(pid)

    def gone() -> bool:
        if _PARENT == pid and os.getppid() != pid:
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False

    def poll() -> None:
        while not gone():
            time.sleep(every_s)
        os._exit(3)

    threading.Thread(target=poll, name="grokscope-driver-watch", daemon=True).start()


def execute_pack(items: list[Item], batch: bool = True, threads: int | None = None,
                 driver: int | None = None) -> list[dict[str, Any]]:
    """Train a pack; one outcome dict (path, status, error) per item, in order. ``driver``: the sweep
    driver's pid, watched from a worker process (:func:`watch_driver`).

    Runs already complete are not trained again, so a pack retried after a worker died (process pool
    restart, Ray task retry) redoes only what was unfinished.
    """
    import torch
    if driver is not None:
        watch_driver(driver)

    from grokscope.config import parse_config
    from grokscope.store import is_complete
    if threads is not None:
        torch.set_num_threads(threads)
    cfgs = [parse_config(c) for c, _, _ in items]
    paths = [Path(p) for _, p, _ in items]
    labels = [lab for _, _, lab in items]
    out: list[dict[str, Any] | None] = [None] * len(items)
    todo = []
    for i, p in enumerate(paths):
        if is_complete(p):
            out[i] = {"path": str(p), "status": "complete", "error": None}
        else:
            todo.append(i)
    groups = _batch_groups([cfgs[i] for i in todo]) if batch and len(todo) > 1 else None
    groups = [[todo[j] for j in g] for g in groups] if groups is not None else [[i] for i in todo]
    for g in groups:
        if len(g) > 1:
            try:
                from grokscope.api import run_batched
                runs = run_batched([cfgs[i] for i in g], [paths[i] for i in g], [labels[i] for i in g])
                for i, r in zip(g, runs):
                    out[i] = {"path": str(paths[i]), "status": r.status, "error": None}
                continue
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 — fall back to single runs, each redone from scratch
                print(f"grokscope: batched training of {len(g)} runs failed ({type(exc).__name__}: {exc}); "
                      f"running them one by one", file=sys.stderr)
        for i in g:
            out[i] = _run_one(cfgs[i], paths[i], labels[i])
    return [o for o in out if o is not None]


def _threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def run_packs(packs: list[list[Item]], backend: str = "local", *, workers: int | None = None,
              address: str | None = None, batch: bool = True,
              threads: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """Yield each pack's outcomes as it finishes (order of completion). ``threads``: torch threads per
    worker (default: torch's own for local, cores // workers for process and a local Ray, 1 on a cluster)."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r}: allowed are {', '.join(BACKENDS)}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers!r}: must be ≥ 1")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads {threads!r}: must be ≥ 1")
    if backend == "local":
        import torch
        before = torch.get_num_threads()
        try:
            for p in packs:
                yield execute_pack(p, batch, threads)
        finally:
            torch.set_num_threads(before)
    elif backend == "process":
        yield from _process(packs, workers or os.cpu_count() or 1, batch, threads)
    else:
        yield from _ray(packs, workers, address, batch, threads)


def _process(packs: list[list[Item]], workers: int, batch: bool, threads: int | None = None,
             restarts: int = 3) -> Iterator[list[dict[str, Any]]]:
    """Process pool; if a worker dies (killed, out of memory) the pool is restarted up to ``restarts``
    times for the packs not yet finished (their complete runs are not trained again)."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool
    threads = threads or _threads_per_worker(workers)
    ctx = mp.get_context("spawn")  # no forked torch thread pools
    left = list(range(len(packs)))
    for attempt in range(restarts + 1):
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=watch_driver,
                                 initargs=(os.getpid(),)) as pool:
            pending = {pool.submit(execute_pack, packs[i], batch, threads, os.getpid()): i for i in left}
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        i = pending.pop(f)
                        try:
                            res = f.result()
                        except BrokenProcessPool:
                            pending[f] = i
                            raise
                        left.remove(i)
                        yield res
                return
            except BrokenProcessPool:
                if attempt == restarts:
                    raise
                print(f"grokscope: a sweep worker died; restarting the pool for {len(left)} unfinished packs",
                      file=sys.stderr)
            finally:
                for f in pending:
                    f.cancel()


def _ray(packs: list[list[Item]], workers: int | None, address: str | None, batch: bool,
         threads: int | None = None) -> Iterator[list[dict[str, Any]]]:
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray: ray is not installed; pip install 'grokscope[ray]'") from None
    started, reaper = False, None
    if not ray.is_initialized():
        src = str(Path(__file__).resolve().parents[2])
        env = {"env_vars": {"PYTHONPATH": os.pathsep.join(
            [src] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}}
        if address:  # the cluster's nodes need grokscope installed and SWEEP_DIR on a shared filesystem
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, runtime_env=env,
                     log_to_driver=False)
            import subprocess  # a killed driver cannot shut Ray down: the reaper kills what it started
            reaper = subprocess.Popen([sys.executable, "-m", "grokscope.sweep.reaper", str(os.getpid())],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True)
        started = True
    try:
        ncpu = int(ray.cluster_resources().get("CPU", 1))
        threads = threads or (1 if address else _threads_per_worker(workers or ncpu))
        remote: Callable[..., Any] = ray.remote(num_cpus=1)(execute_pack)
        driver = None if address else os.getpid()  # a local cluster's workers watch this driver
        refs = [remote.remote(p, batch, threads, driver) for p in packs]
        try:
            while refs:
                done, refs = ray.wait(refs, num_returns=1)
                for r in done:
                    yield ray.get(r)
        finally:
            for r in refs:
                ray.cancel(r, force=True)
    finally:
        if started:
            ray.shutdown()
        if reaper is not None:
            reaper.terminate()
            reaper.wait()
