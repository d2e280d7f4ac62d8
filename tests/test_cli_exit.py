"""The console entry point's fast exit (``grokscope.cli.entry``): same output and exit status as the
ordinary exit, exit handlers run, output flushed into a pipe, live threads waited for, and a profiler
still gets to write its output."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from grokscope.cli import _ordinary_exit_needed, main


def _entry(argv: list[str], prelude: str = "") -> subprocess.CompletedProcess:
    """Run ``entry()`` with ``argv`` in a fresh interpreter, stdout and stderr piped (block-buffered)."""
    code = textwrap.dedent(prelude) + f"\nimport sys\nsys.argv = ['grokscope'] + {argv!r}\n" \
        "from grokscope.cli import entry\nentry()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_entry_prints_what_main_prints_and_runs_exit_handlers(capsys):
    assert main(["presets"]) == 0
    expected = capsys.readouterr().out
    p = _entry(["presets"], "import atexit\natexit.register(lambda: print('handler ran'))")
    assert p.returncode == 0, p.stderr
    assert p.stdout == expected + "handler ran\n"


def test_entry_keeps_the_error_status_and_message():
    p = _entry(["run", "--preset", "no-such-preset"])
    assert p.returncode == 2
    assert "grokscope: error:" in p.stderr and "no-such-preset" in p.stderr


def test_entry_waits_for_a_live_thread():
    prelude = """
        import threading, time
        import grokscope.cli as cli
        returned, main = threading.Event(), cli.main
        def main_then_signal(*a):
            code = main(*a)
            returned.set()
            return code
        cli.main = main_then_signal
        def late():  # still running when entry() decides how to exit
            returned.wait()
            time.sleep(0.3)
            print('thread done', flush=True)
        threading.Thread(target=late).start()
    """
    p = _entry(["presets"], prelude)
    assert p.returncode == 0, p.stderr
    assert p.stdout.endswith("thread done\n")


def test_only_non_daemon_threads_need_the_ordinary_exit():
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        pytest.skip("the test process itself runs a non-daemon thread")
    before = sys.gettrace(), sys.getprofile()
    sys.settrace(None)
    sys.setprofile(None)
    release = threading.Event()
    try:
        assert not _ordinary_exit_needed()
        daemon = threading.Thread(target=release.wait, daemon=True)  # as tqdm's monitor thread
        daemon.start()
        assert not _ordinary_exit_needed()
        worker = threading.Thread(target=release.wait)
        worker.start()
        assert _ordinary_exit_needed()
    finally:
        release.set()
        sys.settrace(before[0])
        sys.setprofile(before[1])
    daemon.join()
    worker.join()
    assert not _ordinary_exit_needed()


def test_profiling_the_module_still_writes_the_profile(tmp_path):
    out = tmp_path / "prof.out"
    p = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "grokscope.cli", "presets"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert out.stat().st_size > 0


def test_installed_script_uses_entry():
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert 'grokscope = "grokscope.cli:entry"' in text
