"""Every view runs on a run of every preset (issue #16, requirement 5).

One module-scoped set of runs: each preset of ``grokscope.config.presets.PRESETS`` (its ``SMALL``
sizes, then shrunk further below by the config fields it has, never by model or task name), trained
for 10 steps in float64 with ``output.plots`` and ``output.report`` on, so the figures and report
are written as in a real run. Then ``grokscope ls``, ``show``, ``report``, ``plot``, ``export``, ``theory --run`` and
``compare`` run in-process through :func:`grokscope.cli.main` on each run, and the
``grokscope.views`` functions behind them are called directly. A preset added later is covered by
this file without editing it.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from grokscope.api import run
from grokscope.cli import main
from grokscope.config import load_config
from grokscope.config.presets import PRESETS, SMALL, get_preset
from grokscope.models.registry import supports
from grokscope.store import load_run, run_id
from grokscope.views.browse import compare_table, list_entries
from grokscope.views.plots import run_panels
from grokscope.views.report import run_figures
from grokscope.views.summary_text import summary_lines
from grokscope.views.table import LS_COLUMNS, run_facts

NAMES = list(PRESETS)

# Shrink a preset through the config fields it has (a field the preset's sections lack is left
# alone): f(current value) -> tiny value.
SHRINK = {
    "task.D": lambda v: min(v, 10), "task.P": lambda v: min(v, 20), "task.P_test": lambda v: min(v, 20),
    "task.j": lambda v: min(v, 5), "task.hidden": lambda v: [8] * len(v), "task.p": lambda v: 7,
    "task.n_train": lambda v: min(v, 30), "task.n_test": lambda v: min(v, 30),
    "model.N": lambda v: min(v, 12), "model.hidden": lambda v: [8] * len(v), "model.d_model": lambda v: 8,
    "model.d_mlp": lambda v: 16, "optim.batch_size": lambda v: min(v, 10),
}
COMMON = {"train.steps": 10, "train.log_per_decade": 2, "train.dtype": "float64", "train.progress": False,
          "probes.expensive_points": 2, "output.plots": True, "output.report": True}


def tiny_config(name: str, root: Path):
    small = dict(SMALL.get(name, {}))
    cfg = load_config(get_preset(name), small)
    over = {}
    for key, f in SHRINK.items():
        sec, field = key.split(".")
        cur = getattr(getattr(cfg, sec), field, None)
        if cur is not None:
            over[key] = f(cur)
    return load_config(get_preset(name), {**small, **over, **COMMON, "output.root": str(root), "output.name": name})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{preset: Run or the exception its training raised} (a failure fails that preset's tests only).
    Presets that shrink to the same resolved config (same run id: fig8, fig8-small and fig17, say)
    are trained once and the run directory is copied under each name."""
    root = tmp_path_factory.mktemp("presets") / "runs"
    out: dict[str, object] = {}
    trained: dict[str, Path] = {}
    for name in NAMES:
        try:
            cfg = tiny_config(name, root)
            same = trained.get(run_id(cfg))
            if same is not None:
                shutil.copytree(same, root / name)
                out[name] = load_run(root / name)
                continue
            out[name] = run(cfg, quiet=True)
            trained[run_id(cfg)] = out[name].path
        except Exception as exc:  # noqa: BLE001 — reported by the preset's own tests
            out[name] = exc
    return root, out


def _run(runs, name):
    r = runs[1][name]
    if isinstance(r, Exception):
        raise AssertionError(f"preset {name}: training failed: {type(r).__name__}: {r}") from r
    return r


@pytest.mark.parametrize("name", NAMES)
def test_run_writes_figures_and_report(runs, name):
    r = _run(runs, name)
    assert r.status == "completed", r.summary
    figs = r.summary["figures"]
    assert figs and figs[0] == "figures/fig1.png"
    assert figs == [f"figures/{n}.png" for n, _ in run_panels(r)]
    for f in figs:
        assert (r.path / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (r.path / "report.html").is_file()


@pytest.mark.parametrize("name", NAMES)
def test_show_report_plot_export(runs, name, tmp_path, capsys):
    r = _run(runs, name)
    d = str(r.path)
    assert main(["show", d]) == 0
    out = capsys.readouterr().out
    assert f"run {d}  status: completed" in out and "final (step 10)" in out

    assert main(["report", d]) == 0
    assert capsys.readouterr().out.strip() == str(r.path / "report.html")
    html = (r.path / "report.html").read_text()
    assert f"<code>{name}</code>" in html and "Incomplete run" not in html
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) == len(r.summary["figures"])

    stale = r.path / r.summary["figures"][-1]
    stale.unlink()  # `plot RUN` draws what is missing or stale and keeps the rest
    assert main(["plot", d]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"figure: {r.path / f}  (up to date)" for f in r.summary["figures"][:-1]] + [f"figure: {stale}"]
    assert stale.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rc = main(["theory", "--run", d])  # theory curves where the theory applies, else a clean refusal
    err = capsys.readouterr().err
    assert rc == 0 and (r.path / "figures" / "theory.png").is_file() or rc == 2 and err.startswith(
        f"grokscope: error: theory --run {d}: ")

    pytest.importorskip("tensorboardX")
    tb = tmp_path / "tb"
    assert main(["export", d, "--to", "tensorboard", "--uri", str(tb)]) == 0
    assert f"exported {d} to tensorboard" in capsys.readouterr().out
    assert list(tb.glob("events.out.tfevents.*"))


@pytest.mark.parametrize("name", NAMES)
def test_view_functions(runs, name):
    r = load_run(_run(runs, name).path)
    cfg = r.config
    facts = run_facts(r)
    assert facts["model"] == cfg.model.name and facts["task"] == cfg.task.name
    assert facts["alpha"] == cfg.scaling.alpha
    assert (facts["eps"] is None) == (not supports(cfg.model, "committee_theory"))
    lines = summary_lines(r)
    assert lines[0].startswith(f"run {r.path}  status: completed")
    figs = run_figures(r)  # the saved PNGs, reused: nothing redrawn
    assert [png for _, png in figs] == [(r.path / "figures" / f"{n}.png").read_bytes()
                                        for n in _report_order(r)]
    rows = {line.split()[0]: line.split()[1:] for line in compare_table([r]).splitlines()[2:]}
    assert rows["model"] == [cfg.model.name] and rows["task"] == [cfg.task.name]
    assert rows["status"] == ["completed"]


def _report_order(r):
    from grokscope.views.report import RUN_CAPTIONS
    names = [n for n, _ in run_panels(r)]
    return [n for n in RUN_CAPTIONS if n in names] + [n for n in names if n not in RUN_CAPTIONS]


def test_ls_lists_every_preset(runs, capsys):
    root, out = runs
    trained = sorted(n for n, r in out.items() if not isinstance(r, Exception))
    assert main(["ls", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == LS_COLUMNS
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert sorted(rows) == trained
    for n in trained:
        assert rows[n][1:5] == ["run", "completed", out[n].config.model.name, out[n].config.task.name]
    entries = {e["name"]: e for e in list_entries(root)}
    assert sorted(entries) == trained


def test_compare_runs_of_every_model(runs, tmp_path, capsys):
    root, out = runs
    # one run per model family, then every run at once
    by_model: dict[str, str] = {}
    for n, r in out.items():
        if not isinstance(r, Exception):
            by_model.setdefault(r.config.model.name, str(r.path))
    assert len(by_model) >= 2
    fig = tmp_path / "models.png"
    assert main(["compare", *by_model.values(), "--out", str(fig)]) == 0
    text = capsys.readouterr().out
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"figure: {fig}" in text
    model_row = next(line for line in text.splitlines() if line.startswith("model"))
    assert model_row.split()[1:] == list(by_model)
    everything = [str(r.path) for r in out.values() if not isinstance(r, Exception)]
    assert main(["compare", *everything, "--out", str(tmp_path / "all.png")]) == 0
    status = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("status"))
    assert status.split()[1:] == ["completed"] * len(everything)


def test_sweep_views_on_a_non_committee_preset(runs, tmp_path, capsys):
    """A sweep over an MLP preset: plot (curves, heatmap), report and ls of the sweep directory."""
    from grokscope.sweep.runner import run_sweep
    from grokscope.sweep.spec import parse_spec
    name = next(n for n, r in runs[1].items() if not isinstance(r, Exception)
                and not supports(r.config.model, "committee_theory") and "test_acc" in r.metrics)
    base = {k: v for k, v in tiny_config(name, tmp_path).to_dict().items() if k != "output"}
    base["output"] = {"plots": False}
    spec = parse_spec({"name": "mix", "base": base, "axes": {"scaling.alpha": [0.5, 1.0]}, "batch": False,
                       "plots": [{"curves": "test_acc", "colour": "scaling.alpha"}]})
    sw = tmp_path / "sweeps" / "mix"
    df = run_sweep(spec, sw, progress=False)
    assert (df["status"] == "completed").all()
    assert main(["plot", str(sw)]) == 0
    assert main(["plot", str(sw), "--curves", "test_loss", "--colour", "scaling.alpha", "--normalise"]) == 0
    assert main(["plot", str(sw), "--heatmap", "final_test_loss", "--x", "scaling.alpha", "--y", "model.seed"]) == 0
    figs = sorted(p.name for p in (sw / "figures").glob("*.png"))
    assert figs == ["curves_test_acc__scaling.alpha.png", "curves_test_loss__scaling.alpha.png",
                    "heatmap_final_test_loss__scaling.alpha__model.seed.png"]
    assert main(["report", str(sw)]) == 0
    assert "grokscope sweep <code>mix</code>" in (sw / "report.html").read_text()
    capsys.readouterr()
    assert main(["ls", str(tmp_path / "sweeps")]) == 0
    assert "sweep (2 runs)  2 completed" in capsys.readouterr().out


def test_plot_run_force_and_refused_options(runs, capsys):
    r = next(r for r in runs[1].values() if not isinstance(r, Exception))
    before = {f: (r.path / f).stat().st_mtime_ns for f in r.summary["figures"]}
    assert main(["plot", str(r.path), "--force"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"figure: {r.path / f}" for f in r.summary["figures"]]
    assert all((r.path / f).stat().st_mtime_ns >= t for f, t in before.items())
    assert main(["plot", str(r.path), "--curves", "test_loss"]) == 2
    assert "--curves draw sweep views" in capsys.readouterr().err


def test_incomplete_runs_of_other_models(runs, tmp_path, capsys):
    """A killed run (no summary.json; or not even metrics) of a non-committee model: every view copes."""
    picked = {}
    for n, r in runs[1].items():
        if not isinstance(r, Exception) and not supports(r.config.model, "committee_theory"):
            picked.setdefault(r.config.model.name, r)
    root = tmp_path / "killed"
    dirs = []
    for i, r in enumerate(picked.values()):
        d = root / f"{r.path.name}-killed"
        shutil.copytree(r.path, d)
        (d / "summary.json").unlink()
        if i == 0:
            (d / "metrics.parquet").unlink()  # killed before the first flush
        dirs.append(str(d))
    assert main(["ls", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()[2:]
    assert len(lines) == len(dirs) and all(line.split()[2] == "incomplete" for line in lines)
    for i, d in enumerate(dirs):
        assert main(["show", d]) == 4 and "status: incomplete" in capsys.readouterr().out
        assert main(["report", d]) == 0
        assert 'id="incomplete"' in (Path(d) / "report.html").read_text()
        assert main(["plot", d]) == (2 if i == 0 else 0)
    assert main(["compare", *dirs, "--out", str(tmp_path / "killed.png")]) == 0
    assert (tmp_path / "killed.png").is_file()


def test_metrics_registry_names_every_column(runs):
    """METRICS (training/metrics.py) documents every column a run of any preset writes."""
    from grokscope.training.metrics import METRICS
    pattern = {k.split("<")[0] for k in METRICS if "<" in k}
    for name in NAMES:
        for col in _run(runs, name).metrics.columns:
            assert col in METRICS or any(col.startswith(p) for p in pattern), (name, col)
