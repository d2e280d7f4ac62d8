"""The HTML report of a sweep: run counts and wall-clock time, the figures of figures/ filed by kind
(phase diagrams, curves, collapse plots) with captions that say what they show, and the results table
(sortable, filterable, each row linked to its run's report), then the spec."""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import yaml

from grokscope.views.html import esc, figure_tags, filter_box, html_table, page
from grokscope.views.naming import column_label, key_label
from grokscope.views.table import run_rows, sweep_wall

REPORT_NAME = "report.html"
# figure kinds by file-name prefix (the names grokscope.sweep.views writes), in report order
SECTIONS = (("heatmap", "Phase diagrams"), ("curves", "Curves"), ("collapse", "Collapse plots"))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)


def view_caption(view: dict[str, Any]) -> tuple[str, str, str] | None:
    """(figure stem, section kind, caption) of a sweep plot view {heatmap, x, y} | {curves, colour} |
    {collapse, derived}, or None for a view of another kind."""
    if view.get("heatmap") and view.get("x") and view.get("y"):
        col, x, y = view["heatmap"], view["x"], view["y"]
        return (_safe(f"heatmap_{col}__{x}__{y}"), "heatmap",
                f"Phase diagram over {key_label(x)} ({x}) and {key_label(y)} ({y}): {column_label(col)}")
    if view.get("curves"):
        colour = view.get("colour") or view.get("color")
        if not colour:
            return None
        norm = " divided by its value at step 0" if view.get("normalise") or view.get("normalize") else ""
        return (_safe(f"curves_{view['curves']}__{colour}"), "curves",
                f"Curves: {column_label(view['curves'])}{norm} against step, one line per run, coloured by "
                f"{key_label(colour)} ({colour})")
    if view.get("collapse") and view.get("derived"):
        return (_safe(f"collapse_{view['collapse']}__{view['derived']}"), "collapse",
                f"Collapse: {column_label(view['collapse'])} against {view['derived']}")
    return None


def figure_caption(stem: str, spec: dict[str, Any]) -> tuple[str, str]:
    """(section kind, caption) of figures/<stem>.png: from the spec's plot views when one names it, else
    read from the file name's pattern (kind_COLUMN__KEY[__KEY]); kind "other" when neither applies."""
    for v in spec.get("plots") or []:
        got = view_caption(v) if isinstance(v, dict) else None
        if got and got[0] == stem:
            return got[1], got[2]
    kind, _, rest = stem.partition("_")
    parts = rest.split("__")
    if kind == "heatmap" and len(parts) == 3:
        return kind, view_caption({"heatmap": parts[0], "x": parts[1], "y": parts[2]})[2]  # type: ignore[index]
    if kind == "curves" and len(parts) == 2:
        return kind, view_caption({"curves": parts[0], "colour": parts[1]})[2]  # type: ignore[index]
    if kind == "collapse" and len(parts) == 2:
        return kind, f"Collapse: {column_label(parts[0])} against {parts[1]} (as spelt in the file name)"
    return "other", stem.replace("_", " ")


def _figures(p: Path, spec: dict[str, Any]) -> list[str]:
    tags = figure_tags(p / "figures", lambda stem: figure_caption(stem, spec)[1])
    if not tags:
        return ["<h2>Figures</h2><p class='muted'>No figures in figures/ (`grokscope plot SWEEP_DIR` draws the "
                "views of the spec).</p>"]
    by_kind: dict[str, list[str]] = {}
    for stem, tag in tags:
        by_kind.setdefault(figure_caption(stem, spec)[0], []).append(tag)
    out = []
    for kind, title in (*SECTIONS, ("other", "Other figures")):
        if by_kind.get(kind):
            out.append(f"<h2>{title}</h2><div class=\"figs\">" + "".join(by_kind[kind]) + "</div>")
    return out


def _axes_text(spec: dict[str, Any], df: Any) -> str:
    parts = []
    for k in spec.get("axes_keys") or []:
        vals = sorted({v for v in df[k] if v is not None and not (isinstance(v, float) and math.isnan(v))},
                      key=lambda v: (isinstance(v, str), v)) if k in df else []
        span = (f"{vals[0]:.4g} … {vals[-1]:.4g}, " if vals and all(isinstance(v, (int, float)) for v in vals)
                else "")
        parts.append(f"{key_label(k)} ({k}): {span}{len(vals)} values")
    return "; ".join(parts)


def _run_link(p: Path, row: dict[str, Any]) -> str | None:
    """The relative path from the sweep directory to the row's run report, when that file exists."""
    rd = row.get("run_dir") or (f"runs/{row['run_id']}" if row.get("run_id") else None)
    if not rd:
        return None
    target = (p / rd) if not os.path.isabs(str(rd)) else Path(str(rd))
    if not (target / REPORT_NAME).is_file():
        return None
    return Path(os.path.relpath(target / REPORT_NAME, p)).as_posix()


def sweep_html(path: str | Path, problems: dict[str, str] | None = None) -> str:
    """The HTML text of a sweep's report: counts, wall-clock time, figures by kind, results, spec;
    ``problems`` ({run id: error}) lists run reports that could not be written."""
    import pandas as pd
    p = Path(path)
    body = [f"<h1>grokscope sweep <code>{esc(p.name)}</code></h1>"]
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
        body.append("<p><b>Runs:</b> " + (esc(", ".join(f"{v} {k}" for k, v in counts.items())) or "none") + "</p>")
    wall, source = sweep_wall(p, df)
    if wall is not None:
        body.append(f"<p><b>Wall-clock time:</b> {wall:.1f} s ({esc(source)})</p>")
    if spec.get("axes_keys"):
        body.append("<p><b>Axes:</b> " + esc(_axes_text(spec, df)) + "</p>")
    if problems:
        body.append('<div class="banner bad" id="run-report-problems">Run reports not written (their rows have no '
                    "link): " + "; ".join(f"{esc(k)}: {esc(v)}" for k, v in problems.items()) + "</div>")
    body += _figures(p, spec)
    axes = [k for k in spec.get("axes_keys") or [] if k in df]
    front = [c for c in ("run_id", "status", *axes) if c in df]
    cols = front + [c for c in df.columns if c not in front]
    recs = df[cols].to_dict("records") if len(df) else []
    rows = [[_cell(r[c]) for c in cols] for r in recs]
    links = {}
    if "run_id" in cols:
        for i, r in enumerate(recs):
            href = _run_link(p, r)
            if href:
                links[i, cols.index("run_id")] = href
    body.append("<h2>Results</h2><p class='muted'>Click a column header to sort; a run id opens that run's "
                "report; hover a header for its meaning.</p>" + filter_box("results", len(rows)))
    titles = {c: column_label(c) for c in cols}
    body.append(html_table(cols, rows, table_id="results", links=links, titles=titles))
    if spec:
        body.append("<h2>Sweep spec</h2><pre>" + esc(yaml.safe_dump(spec, sort_keys=False)) + "</pre>")
    return page(f"grokscope sweep {p.name}", body)


def _cell(v: Any) -> Any:
    """Parquet values to plain Python for the table (numpy scalars, NaN, lists)."""
    import json
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
