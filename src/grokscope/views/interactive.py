"""Interactive curves for the run report (zoom, pan, hover, legend toggles), drawn by plotly.js inside
the page: no network at view time.

plotly.js (from the ``plotly`` package, extra ``interactive``) is embedded once per page, gzip-compressed
and base64-encoded (4.8 MB → 2.0 MB for plotly 7.1); a small loader inflates it with the browser's
``DecompressionStream`` and draws the figures, whose data (plotly figure JSON: traces of metric columns
against step) sit in one ``<script type="application/json">``. When plotly is not installed the section
says which extra to install; the static PNGs of the report are there either way.

A run inside a sweep (SWEEP/runs/<id>/) does not carry its own copy: its report loads
SWEEP/assets/plotly-<version>.min.js (written once per sweep) by a relative path, still offline, so a
196-run sweep holds one 4.8 MB copy instead of 196 × 2 MB.
"""
from __future__ import annotations

import base64
import functools
import gzip
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from grokscope.store import atomic_write_bytes, is_sweep_dir
from grokscope.views.html import esc

EXTRA_HINT = "pip install 'grokscope[interactive]'"

# (id, title, {column: legend label}, y-axis title, log y)
LOSS_COLS = {"train_loss": "train loss", "test_loss": "test loss", "test_loss_exact": "test loss (exact)",
             "lin_train_loss": "linearised twin train", "lin_test_loss": "linearised twin test"}
PLOTS: list[tuple[str, str, dict[str, str], str, bool]] = [
    ("loss", "Train and test loss", LOSS_COLS, "loss", True),
    ("accuracy", "Train and test accuracy", {"train_acc": "train accuracy", "test_acc": "test accuracy"},
     "accuracy", False),
    ("alignment", "NTK–label alignment (test set)",
     {"ntk_alignment": "centred alignment", "ntk_alignment_uncentred": "uncentred alignment", "ntk_cka": "CKA"},
     "alignment", False),
    ("decomposition", "Test-loss decomposition (paper eq. 6)",
     {"decomp_variance": "variance", "decomp_misalignment": "misalignment", "decomp_linear": "power in linear modes",
      "decomp_orthogonal": "orthogonal power", "test_loss_exact": "exact test loss"}, "test-loss term", True),
    ("movement", "Kernel distance and parameter change",
     {"kernel_distance": "kernel distance ‖K_t − K₀‖/‖K₀‖", "param_change": "parameter change ‖θ − θ₀‖/‖θ₀‖"},
     "relative change", True),
]
COLOURS = {"train": "#1f77b4", "test": "#ff7f0e"}
SAME_RTOL = 1e-6  # two curves closer than this (relative, pointwise) are drawn once, both named
HOVER = "%{fullData.name}<br>step %{x}<br>%{y:.5g}<extra></extra>"


@functools.lru_cache(maxsize=2)
def _packed(path: str, mtime_ns: int) -> str:
    return base64.b64encode(gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0)).decode("ascii")


def plotly_js_packed() -> str:
    """plotly.min.js of the installed plotly package, gzip-compressed and base64-encoded (cached per
    process). Raises ImportError naming the extra when plotly is missing."""
    js, _ = _plotly_js_file()
    return _packed(str(js), js.stat().st_mtime_ns)


def _plotly_js_file() -> tuple[Path, str]:
    """(path of the installed plotly.min.js, plotly's version); ImportError naming the extra if missing."""
    try:
        import plotly
    except ImportError as exc:
        raise ImportError(f"interactive report curves need plotly: {EXTRA_HINT}") from exc
    js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not js.is_file():
        raise ImportError(f"plotly {plotly.__version__} has no package_data/plotly.min.js; reinstall: {EXTRA_HINT}")
    return js, plotly.__version__


def shared_plotly_src(run_dir: Path) -> str | None:
    """For a run in a sweep's layout (SWEEP/runs/<id>, SWEEP a sweep directory): write
    SWEEP/assets/plotly-<version>.min.js if missing and return its path relative to the run's report
    (``../../assets/...``); None for a run on its own."""
    run_dir = Path(run_dir)
    sweep = run_dir.parent.parent
    if run_dir.parent.name != "runs" or not is_sweep_dir(sweep):
        return None
    js, version = _plotly_js_file()
    name = f"plotly-{version}.min.js"
    target = sweep / "assets" / name
    if not target.is_file() or target.stat().st_size != js.stat().st_size:
        target.parent.mkdir(exist_ok=True)
        atomic_write_bytes(target, js.read_bytes())
    return f"../../assets/{name}"


def _series(df: Any, col: str, logy: bool) -> tuple[np.ndarray, np.ndarray]:
    """(step, value) of a column with non-finite (and on a log axis non-positive) points dropped; step 0
    is drawn at 1 on the log step axis."""
    x = np.maximum(df["step"].to_numpy(dtype=float), 1.0)
    y = df[col].to_numpy(dtype=float, na_value=np.nan)
    m = np.isfinite(y) & ((y > 0) if logy else True)
    return x[m], y[m]


def _same(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    return (a[0].shape == b[0].shape and a[0].size > 0 and bool(np.array_equal(a[0], b[0]))
            and bool(np.allclose(a[1], b[1], rtol=SAME_RTOL, atol=0.0)))


def _num(v: np.ndarray) -> list[float]:
    """Values to 7 significant digits (hover shows 5; the page stays small). Steps are kept exact."""
    return [float(f"{t:.7g}") for t in v.tolist()]


def _line(name: str, x: list[Any], y: list[float], colour: str | None = None, dash: str = "solid",
          width: float = 1.8) -> dict[str, Any]:
    line: dict[str, Any] = {"dash": dash, "width": width}
    if colour:
        line["color"] = colour
    return {"type": "scatter", "mode": "lines", "name": name, "x": x, "y": y, "line": line, "hovertemplate": HOVER}


def _style(plot: str, col: str) -> tuple[str | None, str]:
    """(colour, dash) of a curve: train blue, test orange, linearised twin dashed, exact test loss dotted
    (black on the decomposition plot), other curves in plotly's default colour cycle."""
    if col == "test_loss_exact":
        return ("#000000" if plot == "decomposition" else COLOURS["test"]), "dot"
    colour = COLOURS["test"] if "test" in col else COLOURS["train"] if "train" in col else None
    return colour, "dash" if col.startswith("lin_") else "solid"


def _markers(run: Any, lo: float, hi: float, xmax: float) -> list[dict[str, Any]]:
    """The first absolute threshold (horizontal), its crossings t_train, t_test (vertical) and the K₀
    regression test MSE, as traces with legend entries spanning the plotted range [lo, hi] × [1, xmax]."""
    s = run.summary or {}
    out = []
    k0 = (s.get("k0") or {}).get("test_mse")
    if k0:
        out.append(_line("K₀ regression test MSE", [1.0, xmax], [k0, k0], "#d62728", "solid", 1.0))
    ab = ((s.get("events") or {}).get("absolute") or {})
    if ab:
        th, c = next(iter(ab.items()))
        out.append(_line(f"threshold {th}", [1.0, xmax], [float(th)] * 2, "#888888", "dash", 1.0))
        for key, part in (("t_train", "train"), ("t_test", "test")):
            if c.get(key) is not None:
                t = float(max(c[key], 1))
                out.append(_line(f"{key} = {c[key]}", [t, t], [lo, hi], COLOURS[part], "dashdot", 1.2))
    return out


def run_plots(run: Any) -> list[dict[str, Any]]:
    """Plotly figure specs ({id, data, layout, config}) of every PLOTS entry the run's metrics support.
    Curves equal to an earlier one within SAME_RTOL are drawn once with both names ("CKA = centred
    alignment (identical)"); the loss plot carries the threshold, t_train/t_test and K₀ lines."""
    df = run.metrics
    if not len(df) or "step" not in df:
        return []
    figs = []
    for key, title, cols, ylab, logy in PLOTS:
        kept: list[tuple[list[str], tuple[np.ndarray, np.ndarray], str]] = []
        for col, lab in cols.items():
            if col not in df:
                continue
            xy = _series(df, col, logy)
            if not xy[0].size:
                continue
            same = next((k for k in kept if _same(k[1], xy)), None)
            if same is not None:
                same[0].append(lab)
            else:
                kept.append(([lab], xy, col))
        if not kept:
            continue
        data = [_line(" = ".join(labs) + (" (identical)" if len(labs) > 1 else ""), x.astype(np.int64).tolist(),
                      _num(y), *_style(key, col)) for labs, (x, y), col in kept]
        if key == "loss":
            ys = np.concatenate([y for _, (_, y), _ in kept])
            data += _markers(run, float(ys.min()), float(ys.max()), float(max(x.max() for _, (x, _), _ in kept)))
        figs.append({"id": f"gs-plot-{key}", "data": data, "config": {"displaylogo": False, "responsive": True},
                     "layout": {"title": {"text": title, "font": {"size": 14}, "x": 0.01, "xanchor": "left"},
                                "height": 460, "margin": {"l": 60, "r": 20, "t": 40, "b": 10},
                                "hovermode": "closest",
                                "xaxis": {"type": "log", "title": {"text": "step (step 0 drawn at 1)"}},
                                "yaxis": {"type": "log" if logy else "linear", "title": {"text": ylab}},
                                "legend": {"font": {"size": 10}, "orientation": "h", "x": 0, "y": -0.16,
                                           "yanchor": "top"}}})
    return figs


LOADER_JS = """
(function(){var st=document.getElementById('gs-interactive-status');
function fail(m){st.textContent=m;st.className='banner bad';document.body.setAttribute('data-plots','failed');
document.dispatchEvent(new Event('gs-plots-done'))}
if(typeof DecompressionStream==='undefined'){fail('This browser cannot inflate the embedded plotly.js '+
'(no DecompressionStream: Chrome/Edge 80+, Firefox 113+, Safari 16.4+ can); '+
'the static figures below show the same curves.');return}
var b=atob(document.getElementById('gs-plotly').textContent.trim()),u=new Uint8Array(b.length);
for(var i=0;i<b.length;i++){u[i]=b.charCodeAt(i)}
new Response(new Blob([u]).stream().pipeThrough(new DecompressionStream('gzip'))).text().then(function(js){
(0,eval)(js);var figs=JSON.parse(document.getElementById('gs-plot-data').textContent);
return Promise.all(figs.map(function(f){return Plotly.newPlot(f.id,f.data,f.layout,f.config)}))}).then(function(){
st.textContent='';document.body.setAttribute('data-plots','ready');document.dispatchEvent(new Event('gs-plots-done'))
}).catch(function(e){fail('interactive plots failed: '+e)})})();
"""

# Loader for a sweep run's report: plotly.js came from SWEEP/assets by a <script src> just before; it
# draws on 'load' (like the embedded loader, asynchronously), so listeners added later in the page see it.
SHARED_LOADER_JS = """
window.addEventListener('load',function(){var st=document.getElementById('gs-interactive-status');
function done(state,m){if(m){st.textContent=m;st.className='banner bad'}else{st.textContent=''}
document.body.setAttribute('data-plots',state);document.dispatchEvent(new Event('gs-plots-done'))}
if(typeof Plotly==='undefined'){done('failed','plotly.js was not found beside this sweep (assets/); '+
'rewrite the reports with grokscope report SWEEP_DIR. The static figures below show the same curves.');return}
var figs=JSON.parse(document.getElementById('gs-plot-data').textContent);
Promise.all(figs.map(function(f){return Plotly.newPlot(f.id,f.data,f.layout,f.config)})).then(function(){
done('ready')}).catch(function(e){done('failed','interactive plots failed: '+e)})});
"""


def _json_script(obj: Any) -> str:
    """JSON safe inside <script> (no '</'), non-finite numbers as null."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, default=_nan_null)
    return text.replace("</", "<\\/")


def _nan_null(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def interactive_section(run: Any) -> tuple[str, str]:
    """(HTML of the "Interactive curves" section, the scripts to put at the end of the page). Without
    plotly: a note naming the extra and no scripts; without plottable metrics: ("", "")."""
    figs = run_plots(run)
    if not figs:
        return "", ""
    head = "<h2>Interactive curves</h2>"
    try:
        shared = shared_plotly_src(run.path)
        packed = None if shared else plotly_js_packed()
    except ImportError as exc:
        return (head + f'<p class="banner" id="no-interactive">Interactive curves are not included: {esc(exc)}. '
                "The static figures below show the same curves.</p>"), ""
    divs = "".join(f'<div class="plot" id="{f["id"]}"></div>' for f in figs)
    html = (head + "<p class='muted'>Drag to zoom, double-click to reset, hover for values, click a legend "
            "entry to hide its curve.</p><p id='gs-interactive-status' class='muted'>Loading the plots…</p>"
            f'<div class="plots">{divs}</div>')
    data = f'<script type="application/json" id="gs-plot-data">{_json_script(figs)}</script>'
    if shared:
        return html, data + f'<script src="{esc(shared)}"></script><script>{SHARED_LOADER_JS}</script>'
    scripts = (data + f'<script type="application/octet-stream" id="gs-plotly">{packed}</script>'
               f"<script>{LOADER_JS}</script>")
    return html, scripts
