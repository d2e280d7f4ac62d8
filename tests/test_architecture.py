"""The package's structure, checked: the layers contract (import-linter, pyproject.toml), and no code
outside the registries and the config schema that asks for a model's or task's name or φ."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import grokscope
from grokscope.models import MODELS
from grokscope.tasks import TASKS

SRC = Path(grokscope.__file__).parent
ROOT = SRC.parent.parent


def test_layers_and_no_cycles():
    """Every contract in pyproject.toml is kept: each folder imports only from the layers below it
    (imports inside functions included), and no sibling modules import each other."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports not installed: `pip install -e '.[dev]'` (import-linter is in the dev extra)")
    out = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


# a model or task family's own files may read their own section; the config schema knows every name
EXEMPT = ("config/", "models/", "tasks/")


def _strings(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return set().union(*(_strings(e) for e in node.elts)) if node.elts else set()
    return set()


def name_comparisons(tree: ast.AST, family_names: set[str]) -> list[int]:
    """Lines comparing ``<x>.name`` with a registered model/task name, or ``<x>.phi`` with any string."""
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        attrs = {o.attr for o in operands if isinstance(o, ast.Attribute)}
        literals = set().union(*(_strings(o) for o in operands))
        if ("phi" in attrs and literals) or ("name" in attrs and literals & family_names):
            bad.append(node.lineno)
    return bad


def test_no_code_asks_for_a_model_or_task_name():
    names = set(MODELS) | set(TASKS)
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(EXEMPT):
            continue
        for line in name_comparisons(ast.parse(path.read_text()), names):
            found.append(f"{rel}:{line}")
    assert not found, "compare capabilities (models.supports / tasks.task_supports), not names: " + ", ".join(found)


def test_the_name_check_can_fail():
    names = set(MODELS) | set(TASKS)
    for code in ('cfg.model.name == "committee"', 'm.phi != "quadratic"', 't.name in ("polynomial", "x")',
                 '"mlp" == model.name'):
        assert name_comparisons(ast.parse(code), names), code
    for code in ('o.name == "sgd"', 'loss.name != "mse"', 'p.name != "twin"'):
        assert not name_comparisons(ast.parse(code), names), code


def test_every_registered_family_has_capabilities():
    from grokscope.config import load_config
    from grokscope.models import CAPABILITIES, capabilities
    for name in MODELS:
        over = {"model.name": name}
        if "tokens" in capabilities(MODELS[name].section()):
            over.update({"task.name": "modular", "task.inputs": "tokens", "scaling.lr_rule": "plain"})
        elif name != "committee":
            over.update({"scaling.lr_rule": "plain"})
        caps = capabilities(load_config(None, over).model)
        assert caps and caps <= set(CAPABILITIES)
