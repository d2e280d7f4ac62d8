"""Every documented command that is marked runnable runs, exactly as written.

A fenced block whose info string is ``bash runnable`` (GitHub renders it as plain ``bash``) in README.md or
docs/*.md is run with ``bash -e`` in a fresh directory per document (blocks of one document run in order
in that directory, so a later block may use what an earlier one wrote), with the venv's ``grokscope``
first on PATH. Mark a block runnable only when it takes seconds; long commands stay plain ``bash``.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```bash runnable[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
TIMEOUT_S = 300


def runnable_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, code) of each ``bash runnable`` block of a markdown text."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


def run_block(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "MPLBACKEND": "Agg"}
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=TIMEOUT_S)


DOCS = [p for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        if runnable_blocks(p.read_text(encoding="utf-8"))]


def test_the_docs_mark_commands_runnable():
    assert any(p.name == "README.md" for p in DOCS), "README.md has no `bash runnable` block"


@pytest.mark.parametrize("doc", DOCS, ids=[p.relative_to(ROOT).as_posix() for p in DOCS])
def test_documented_commands_run(doc, tmp_path):
    for line, code in runnable_blocks(doc.read_text(encoding="utf-8")):
        r = run_block(code, tmp_path)
        assert r.returncode == 0, (f"{doc.relative_to(ROOT)}:{line}: exit {r.returncode}\n{code}\n"
                                   f"--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}")


def test_the_harness_fails_on_a_failing_block(tmp_path):
    md = "text\n```bash runnable\necho ok > a.txt\n```\n```bash\nnot run\n```\n```bash runnable\ncat a.txt\nfalse\necho never\n```\n"
    blocks = runnable_blocks(md)
    assert [line for line, _ in blocks] == [2, 8]
    assert run_block(blocks[0][1], tmp_path).returncode == 0
    r = run_block(blocks[1][1], tmp_path)
    assert r.returncode != 0 and r.stdout == "ok\n"
