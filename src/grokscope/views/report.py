"""Self-contained HTML reports of a run or a sweep: ``write_report(dir) -> dir/report.html``.

One file that opens offline: figures are embedded as base64 PNG, CSS is inline, and the only
script is a small inline one that sorts tables. A view never recomputes training: everything is
drawn from the stored config, metrics, summary and (for sweeps) results table and figures.
"""
from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

import yaml

from grokscope.config import ConfigError, dump_config
from grokscope.store import FINISHED, atomic_write_text, is_run_dir, is_sweep_dir, load_run
from grokscope.views.canvas import shared_canvas
from grokscope.views.plots import current_figure, run_panels
from grokscope.views.summary_text import summary_lines
from grokscope.views.table import fmt_value, run_rows

__all__ = ["REPORT_NAME", "RUN_CAPTIONS", "html_table", "is_sweep_dir", "run_figures", "run_html", "saved_figure",
           "sweep_html", "write_report"]

REPORT_NAME = "report.html"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1200px;
padding:1em 2em;color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.banner{background:#fff3cd;border:1px solid #e0b100;padding:.6em 1em;margin:1em 0;font-weight:600}
.banner.bad{background:#f8d7da;border-color:#c0392b}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.85em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:right;white-space:nowrap}
th{background:#eef2f6;cursor:pointer;user-select:none}th.asc:after{content:" \\25B2"}th.desc:after{content:" \\25BC"}
td.s,th.s{text-align:left}.figs{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0;flex:1 1 520px;max-width:600px}figure img{width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.scroll{overflow-x:auto}.muted{color:#777}
"""

# Sort a table by the clicked header: numbers numerically, text alphabetically, blanks last.
SORT_JS = """
function gsSort(th){var tb=th.closest('table').tBodies[0],i=th.cellIndex,asc=!th.classList.contains('asc');
th.parentNode.querySelectorAll('th').forEach(function(h){h.classList.remove('asc','desc')});
th.classList.add(asc?'asc':'desc');var rows=Array.prototype.slice.call(tb.rows);
function key(r){var t=r.cells[i].getAttribute('data-v');t=t===null?r.cells[i].textContent:t;
if(t===''){return null}var n=Number(t);return isNaN(n)?t:n}
rows.sort(function(a,b){var x=key(a),y=key(b);if(x===null&&y===null){return 0}if(x===null){return 1}
if(y===null){return -1}var c=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));
return asc?c:-c});rows.forEach(function(r){tb.appendChild(r)})}
document.addEventListener('click',function(e){var t=e.target;if(t.tagName==='TH'&&t.closest('table.sortable')){gsSort(t)}});
"""


def _esc(x: Any) -> str:
    return html.escape(str(x))


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _img(png: bytes, caption: str) -> str:
    return (f'<figure><img src="{png_data_uri(png)}" alt="{_esc(caption)}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


RUN_CAPTIONS = {"fig1": "Train and test loss (paper Fig 1(b)), linearised twin, K₀ line, NTK alignment",
                "ntk_alignment": "NTK–label alignment on the test set",
                "movement": "Kernel distance and parameter change",
                "decomposition": "Test-loss decomposition (paper eq. 6, Fig 4)",
                "twin": "Network vs its linearised twin",
                "accuracy": "Train and test accuracy with the losses (paper Fig 16)"}


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
    order = [n for n in RUN_CAPTIONS if n in panels] + [n for n in panels if n not in RUN_CAPTIONS]
    for name in order:
        png = saved_figure(run, name)
        if png is None:
            png = shared_canvas().png(panels[name], run)
        out.append((RUN_CAPTIONS.get(name, name), png))
    return out


def _fmt(v: Any) -> str:
    return fmt_value(v, missing="")


def html_table(columns: list[str], rows: list[list[Any]], sortable: bool = True) -> str:
    """A table; numeric cells carry their exact value in data-v so the sort is numeric."""
    cls = ' class="sortable"' if sortable else ""
    head = "".join(f"<th{' class=s' if j == 0 else ''}>{_esc(c)}</th>" for j, c in enumerate(columns))
    body = []
    for r in rows:
        cells = []
        for v in r:
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            if num and not (isinstance(v, float) and not math.isfinite(v)):
                cells.append(f'<td data-v="{v!r}">{_esc(_fmt(v))}</td>')
            else:
                cells.append(f'<td class="s" data-v="{_esc(_fmt(v))}">{_esc(_fmt(v))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table{cls}><thead><tr>{head}</tr></thead><tbody>'
            + "".join(body) + "</tbody></table></div>")


def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{_esc(title)}</title>"
            f"<style>{CSS}</style></head><body>" + "\n".join(body) + f"<script>{SORT_JS}</script></body></html>")


def _events_table(ev: dict[str, Any]) -> str:
    rows = []
    for kind in ("absolute", "relative"):
        for th, c in (ev.get(kind) or {}).items():
            rows.append([f"{kind} {th}", c.get("threshold_train"), c.get("threshold_test"), c.get("t_train"),
                         c.get("t_test"), c.get("grok_amount"), c.get("delay_ratio")])
    cols = ["threshold", "train threshold", "test threshold", "t_train", "t_test", "grokking amount",
            "t_test / t_train"]
    return html_table(cols, rows, sortable=False)


def run_html(path: str | Path) -> str:
    """The HTML text of one run's report."""
    run = load_run(path)
    s = run.summary or {}
    body = [f"<h1>grokscope run <code>{_esc(Path(run.path).name)}</code></h1>"]
    if run.summary is None:
        n = len(run.metrics)
        last = int(run.metrics["step"].iloc[-1]) if n else 0
        body.append(f'<div class="banner bad" id="incomplete">Incomplete run: no summary.json (the process was '
                    f"stopped before the end). Showing the {n} metric rows written so far (up to step {last}); "
                    "events, verdict and timings are not available.</div>")
    elif run.status not in FINISHED:
        body.append(f'<div class="banner bad" id="incomplete">Incomplete run: status {_esc(run.status)}'
                    f"{' — ' + _esc(s['reason']) if s.get('reason') else ''}.</div>")
    elif run.status == "diverged":
        body.append(f'<div class="banner">Diverged: {_esc(s.get("reason", ""))}</div>')
    body.append("<h2>Summary</h2>")
    lz = s.get("laziness") or {}
    if lz.get("verdict"):
        body.append(f"<p><b>Verdict:</b> {_esc(lz['verdict'])}</p>")
    body.append("<pre>" + _esc("\n".join(summary_lines(run))) + "</pre>")
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
    figs = run_figures(run)
    body.append("<h2>Figures</h2>")
    if figs:
        body.append('<div class="figs">' + "".join(_img(png, cap) for cap, png in figs) + "</div>")
    else:
        body.append("<p class='muted'>No metrics logged yet: nothing to plot.</p>")
    body.append("<h2>Config</h2><pre>" + _esc(dump_config(run.config)) + "</pre>")
    extra = {k: s[k] for k in ("engine", "k0", "twin", "device", "dtype", "eta") if k in s}
    if extra:
        body.append("<h2>Run details</h2><pre>" + _esc(json.dumps(extra, indent=2, default=str)) + "</pre>")
    return _page(f"grokscope run {Path(run.path).name}", body)


def sweep_html(path: str | Path) -> str:
    """The HTML text of a sweep's report: spec, phase diagrams, sortable results table."""
    import pandas as pd
    p = Path(path)
    body = [f"<h1>grokscope sweep <code>{_esc(p.name)}</code></h1>"]
    spec: dict[str, Any] = {}
    if (p / "sweep.yaml").is_file():
        spec = yaml.safe_load((p / "sweep.yaml").read_text()) or {}
    rp = p / "results.parquet"
    if rp.is_file():
        df = pd.read_parquet(rp)
    else:
        df = pd.DataFrame(run_rows(p / "runs"))
        body.append('<div class="banner bad" id="incomplete">Incomplete sweep: no results.parquet yet. The table '
                    f"below is read from the {len(df)} run directories found under runs/.</div>")
    if "status" in df:
        counts = df["status"].value_counts().to_dict()
        body.append("<p><b>Runs:</b> " + _esc(", ".join(f"{v} {k}" for k, v in counts.items()) or "none") + "</p>")
    axes = spec.get("axes_keys") or []
    if axes:
        body.append("<p><b>Axes:</b> " + _esc(", ".join(map(str, axes))) + "</p>")
    figs = sorted((p / "figures").glob("*.png")) if (p / "figures").is_dir() else []
    body.append("<h2>Phase diagrams</h2>")
    if figs:
        body.append('<div class="figs">' + "".join(_img(f.read_bytes(), f.stem) for f in figs) + "</div>")
    else:
        body.append("<p class='muted'>No figures in figures/.</p>")
    body.append("<h2>Results</h2><p class='muted'>Click a column header to sort.</p>")
    if "run_id" in df and "run_dir" not in df:
        df["run_dir"] = [str(p / "runs" / r) for r in df["run_id"]]
    front = [c for c in ("run_id", "status", *axes) if c in df]
    cols = front + [c for c in df.columns if c not in front]
    rows = [[_cell(v) for v in rec] for rec in df[cols].itertuples(index=False, name=None)]
    body.append(html_table(cols, rows))
    if spec:
        body.append("<h2>Sweep spec</h2><pre>" + _esc(yaml.safe_dump(spec, sort_keys=False)) + "</pre>")
    return _page(f"grokscope sweep {p.name}", body)


def _cell(v: Any) -> Any:
    """Parquet values to plain Python for the table (numpy scalars, NaN, lists)."""
    if hasattr(v, "item") and not isinstance(v, (list, dict)):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (list, tuple, dict)) or (hasattr(v, "tolist") and not isinstance(v, (int, float, str))):
        return json.dumps(v.tolist() if hasattr(v, "tolist") else v, default=str)
    return v


def write_report(path: str | Path) -> Path:
    """Write ``path/report.html`` for a run directory or a sweep directory; returns its path."""
    p = Path(path)
    if not p.is_dir():
        raise ConfigError(f"report: {str(p)!r} is not a directory; expected a run directory (config.yaml, "
                          "metrics.parquet, summary.json) or a sweep directory (sweep.yaml, results.parquet, runs/)")
    if is_run_dir(p):
        text = run_html(p)
    elif is_sweep_dir(p):
        text = sweep_html(p)
    else:
        found = ", ".join(sorted(x.name for x in p.iterdir())[:10]) or "nothing"
        raise ConfigError(f"report: {str(p)!r} is neither a run nor a sweep directory: expected config.yaml "
                          f"(a run written by `grokscope run`) or sweep.yaml / results.parquet (a sweep); "
                          f"found {found}")
    out = p / REPORT_NAME
    atomic_write_text(out, text)
    return out
