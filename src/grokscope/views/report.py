"""Self-contained HTML reports of a run or a sweep: ``write_report(dir) -> dir/report.html``.

One file that opens offline: figures are embedded as base64 PNG, CSS and scripts are inline (table
sort and filter; for runs, the interactive curves of :mod:`grokscope.views.interactive` with plotly.js
embedded), and links are relative paths to files beside the report. A view never recomputes training:
everything is drawn from the stored config, metrics, summary and (for sweeps) results table and figures.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grokscope.config import ConfigError, dump_config
from grokscope.store import FINISHED, atomic_write_text, is_run_dir, is_sweep_dir, load_run
from grokscope.views.canvas import shared_canvas
from grokscope.views.html import esc, figure_tags, html_table, img, page
from grokscope.views.interactive import interactive_section
from grokscope.views.plots import current_figure, run_panels
from grokscope.views.report_sweep import REPORT_NAME, sweep_html
from grokscope.views.summary_text import summary_lines
from grokscope.views.table import run_facts

__all__ = ["EXTRA_CAPTIONS", "REPORT_NAME", "RUN_CAPTIONS", "figure_html", "html_table", "is_sweep_dir",
           "run_figures", "run_html", "saved_figure", "sweep_html", "write_report"]

RUN_CAPTIONS = {"fig1": "Train and test loss (paper Fig 1(b)), linearised twin, K₀ line, NTK alignment",
                "ntk_alignment": "NTK–label alignment on the test set",
                "movement": "Kernel distance and parameter change",
                "decomposition": "Test-loss decomposition (paper eq. 6, Fig 4)",
                "twin": "Network vs its linearised twin",
                "accuracy": "Train and test accuracy with the losses (paper Fig 16)"}
# figures other views write into a run's figures/ (not panels of run_panels)
EXTRA_CAPTIONS = {"theory": "Theory curves over the run: the linearised (kernel-limit) losses in closed form and "
                            "the predicted time scales (`grokscope theory --run`)"}


def saved_figure(run: Any, name: str) -> bytes | None:
    """figures/<name>.png when the run wrote it at or after the last write of its metrics, else None."""
    f = current_figure(run, name)
    return f.read_bytes() if f is not None else None


def run_figures(run: Any) -> list[tuple[str, bytes]]:
    """(caption, PNG) of every panel the run's metrics support (:func:`grokscope.views.plots.run_panels`,
    in the order and with the captions of RUN_CAPTIONS): the PNG the run saved itself when it is up to date, else drawn now
    (on :func:`grokscope.views.canvas.shared_canvas`)."""
    out: list[tuple[str, bytes]] = []
    if len(run.metrics) == 0 or not {"train_loss", "test_loss"} <= set(run.metrics.columns):
        return out
    panels = dict(run_panels(run))
    for name in _panel_order(run):
        png = saved_figure(run, name)
        if png is None:
            png = shared_canvas().png(panels[name], run)
        out.append((RUN_CAPTIONS.get(name, name), png))
    return out


def _panel_order(run: Any) -> list[str]:
    if len(run.metrics) == 0 or not {"train_loss", "test_loss"} <= set(run.metrics.columns):
        return []
    names = [n for n, _ in run_panels(run)]
    return [n for n in RUN_CAPTIONS if n in names] + [n for n in names if n not in RUN_CAPTIONS]


def figure_html(run: Any) -> list[str]:
    """<figure>s of the run report: every panel of :func:`run_figures` (linked to its saved PNG when that
    is up to date, and to its PDF/SVG when saved), then every other figure in figures/ (theory, ...)."""
    d = Path(run.path) / "figures"
    names = _panel_order(run)
    tags = []
    for n, (cap, png) in zip(names, run_figures(run)):
        also = {e.upper(): f"figures/{n}.{e}" for e in ("svg", "pdf") if (d / f"{n}.{e}").is_file()}
        tags.append(img(png, cap, f"figures/{n}.png" if current_figure(run, n) is not None else None, also))
    panels = {n for n, _ in run_panels(run)} if len(run.metrics) else set()
    tags += [tag for stem, tag in figure_tags(d, lambda s: EXTRA_CAPTIONS.get(s, s.replace("_", " ")))
             if stem not in panels]
    return tags


def _events_table(ev: dict[str, Any]) -> str:
    rows = []
    for kind in ("absolute", "relative"):
        for th, c in (ev.get(kind) or {}).items():
            rows.append([f"{kind} {th}", c.get("threshold_train"), c.get("threshold_test"), c.get("t_train"),
                         c.get("t_test"), c.get("grok_amount"), c.get("delay_ratio")])
    cols = ["threshold", "train threshold", "test threshold", "t_train", "t_test", "grokking amount",
            "t_test / t_train"]
    return html_table(cols, rows, sortable=False)


def _settings(run: Any) -> str:
    """"committee on polynomial: α = 0.5, ε = 0.3, N = 16, P = 40, D = 12" (the values the run has)."""
    f = run_facts(run)
    vals = ", ".join(f"{sym} = {f[k]:.4g}" if isinstance(f[k], float) else f"{sym} = {f[k]}"
                     for k, sym in (("alpha", "α"), ("eps", "ε"), ("N", "N"), ("P", "P"), ("D", "D"))
                     if f.get(k) is not None)
    return f"{f['model']} on {f['task']}: {vals}"


def _files(run: Any, sweep_link: bool) -> str:
    """Links to the run's own files (relative), and to the report of the sweep it belongs to when that
    exists (or ``sweep_link``: it is being written now)."""
    p = Path(run.path)
    links = [f'<a href="{n}">{n}</a>' for n in ("config.yaml", "metrics.parquet", "summary.json") if (p / n).is_file()]
    sweep = p.parent.parent
    if p.parent.name == "runs" and is_sweep_dir(sweep) and (sweep_link or (sweep / REPORT_NAME).is_file()):
        links.append(f'<a href="../../{REPORT_NAME}">the sweep\'s report ({esc(p.parent.parent.name)})</a>')
    return "<h2>Files</h2><p>" + " · ".join(links) + "</p>" if links else ""


def run_html(path: str | Path, sweep_link: bool = False) -> str:
    """The HTML text of one run's report (``sweep_link``: link the sweep's report, about to be written)."""
    run = load_run(path)
    s = run.summary or {}
    body = [f"<h1>grokscope run <code>{esc(Path(run.path).name)}</code></h1>", f"<p>{esc(_settings(run))}</p>"]
    if run.summary is None:
        n = len(run.metrics)
        last = int(run.metrics["step"].iloc[-1]) if n else 0
        body.append(f'<div class="banner bad" id="incomplete">Incomplete run: no summary.json (the process was '
                    f"stopped before the end). Showing the {n} metric rows written so far (up to step {last}); "
                    "events, verdict and timings are not available.</div>")
    elif run.status not in FINISHED:
        body.append(f'<div class="banner bad" id="incomplete">Incomplete run: status {esc(run.status)}'
                    f"{' — ' + esc(s['reason']) if s.get('reason') else ''}.</div>")
    elif run.status == "diverged":
        body.append(f'<div class="banner">Diverged: {esc(s.get("reason", ""))}</div>')
    body.append("<h2>Summary</h2>")
    lz = s.get("laziness") or {}
    if lz.get("verdict"):
        body.append(f"<p><b>Verdict:</b> {esc(lz['verdict'])}</p>")
    body.append('<pre class="wrap" id="summary">' + esc("\n".join(summary_lines(run))) + "</pre>")
    if s.get("events"):
        body.append("<h3>Grokking events</h3>" + _events_table(s["events"]))
    tm = s.get("timings") or {}
    if tm.get("probes_s"):
        rows = [[k, v] for k, v in tm["probes_s"].items()]
        body.append("<h3>Timings (s)</h3>" + html_table(["probe", "seconds"],
                                                         [["total", tm.get("total_s")], ["training", tm.get("train_s")]]
                                                         + rows, sortable=False))
    if s.get("versions"):
        body.append("<h3>Versions</h3>" + html_table(["package", "version"], [[k, v] for k, v in s["versions"].items()],
                                                      sortable=False))
    section, scripts = interactive_section(run)
    body.append(section)
    body.append("<h2>Figures</h2>")
    tags = figure_html(run)
    if tags:
        body.append('<div class="figs">' + "".join(tags) + "</div>")
    else:
        body.append("<p class='muted'>No metrics logged yet: nothing to plot.</p>")
    body.append("<h2>Config</h2><pre>" + esc(dump_config(run.config)) + "</pre>")
    extra = {k: s[k] for k in ("engine", "k0", "twin", "device", "dtype", "eta") if k in s}
    if extra:
        body.append("<h2>Run details</h2><pre>" + esc(json.dumps(extra, indent=2, default=str)) + "</pre>")
    body.append(_files(run, sweep_link))
    return page(f"grokscope run {Path(run.path).name}", body, (scripts,))


def write_report(path: str | Path, run_reports: bool = True) -> Path:
    """Write ``path/report.html`` for a run directory or a sweep directory; returns its path. For a sweep,
    ``run_reports`` first writes the report of every run directory whose report is missing or older than
    its metrics or summary, so that each row of the results table links to one."""
    p = Path(path)
    if not p.is_dir():
        raise ConfigError(f"report: {str(p)!r} is not a directory; expected a run directory (config.yaml, "
                          "metrics.parquet, summary.json) or a sweep directory (sweep.yaml, results.parquet, runs/)")
    if is_run_dir(p):
        text = run_html(p)
    elif is_sweep_dir(p):
        problems: dict[str, str] = {}
        if run_reports:
            for d in sorted((p / "runs").iterdir()) if (p / "runs").is_dir() else []:
                if is_run_dir(d) and _stale(d):
                    try:
                        atomic_write_text(d / REPORT_NAME, run_html(d, sweep_link=True))
                    except (ConfigError, OSError, ValueError, KeyError) as exc:  # one bad run: say so, go on
                        problems[d.name] = f"{type(exc).__name__}: {exc}"
        text = sweep_html(p, problems)
    else:
        found = ", ".join(sorted(x.name for x in p.iterdir())[:10]) or "nothing"
        raise ConfigError(f"report: {str(p)!r} is neither a run nor a sweep directory: expected config.yaml "
                          f"(a run written by `grokscope run`) or sweep.yaml / results.parquet (a sweep); "
                          f"found {found}")
    out = p / REPORT_NAME
    atomic_write_text(out, text)
    return out


def _stale(run_dir: Path) -> bool:
    """True when run_dir/report.html is missing or older than the run's metrics or summary."""
    rep = run_dir / REPORT_NAME
    if not rep.is_file():
        return True
    t = rep.stat().st_mtime_ns
    return any((run_dir / n).is_file() and (run_dir / n).stat().st_mtime_ns > t
               for n in ("metrics.parquet", "summary.json"))
