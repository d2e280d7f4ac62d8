"""HTML reports: content, bad input, incomplete runs, sweeps, and rendering in headless Chromium."""
from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest
import yaml
from conftest import small_config

from grokscope.api import run
from grokscope.config import ConfigError
from grokscope.views.browse import compare_figure
from grokscope.views.report import write_report


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rep")
    out = {}
    for alpha in (0.5, 2.0):
        cfg = small_config(tmp, **{"scaling.alpha": alpha, "train.steps": 60, "output.plots": True})
        out[alpha] = run(cfg, tmp / "sweep" / "runs" / f"a{alpha}", quiet=True)  # figures saved: reports reuse them
    return tmp, out


def _imgs(text):
    return re.findall(r'<img src="data:image/png;base64,([^"]+)"', text)


def test_run_report_is_self_contained(runs):
    _, r = runs
    p = write_report(r[0.5].path)
    text = p.read_text()
    assert p.name == "report.html"
    imgs = _imgs(text)
    assert len(imgs) == 5  # fig1, NTK alignment, movement, decomposition, twin
    for b in imgs:
        assert base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in text and "https://" not in text and "<link" not in text
    assert not re.search(r'\ssrc="(?!data:image/png;base64,)', text)  # no external script, image or frame
    assert text.count('id="gs-plotly"') == 1 and text.count('id="gs-plot-data"') == 1  # plotly.js once
    assert '<pre class="wrap" id="summary">' in text
    assert "committee on polynomial: α = 0.5, ε = 0.3, N = 16, P = 40, D = 12" in text
    assert "lazy until step" in r[0.5].summary["laziness"]["verdict"]
    assert r[0.5].summary["laziness"]["verdict"] in text
    assert "alpha: 0.5" in text and "torch" in text and "Grokking events" in text
    assert 'id="incomplete"' not in text


def test_not_a_run_or_sweep(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="neither a run nor a sweep.*config.yaml.*sweep.yaml.*notes.txt"):
        write_report(tmp_path)
    with pytest.raises(ConfigError, match="not a directory"):
        write_report(tmp_path / "missing")


def test_incomplete_run_has_banner(runs, tmp_path):
    _, r = runs
    d = tmp_path / "partial"
    shutil.copytree(r[2.0].path, d)
    (d / "summary.json").unlink()
    (d / "report.html").unlink(missing_ok=True)
    text = write_report(d).read_text()
    assert 'id="incomplete"' in text and "Incomplete run" in text
    assert len(_imgs(text)) == 5  # the metrics written so far are still drawn
    s = json.loads((r[2.0].path / "summary.json").read_text())
    s["status"] = "interrupted"
    (d / "summary.json").write_text(json.dumps(s))
    assert "status interrupted" in write_report(d).read_text()


HEATMAP = "heatmap_grok_amount_0.1__scaling.alpha__model.eps"
CURVES = "curves_test_loss__scaling.alpha"
COLLAPSE = "collapse_final_param_change__model.sigma_2_scaling.alpha"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"><rect width="120" height="80" fill="#48c"/></svg>'


def make_sweep(root, runs_):
    """A sweep directory in the sweep runner's layout: sweep.yaml (with two plot views), runs/,
    results.parquet, figures/ named as grokscope.sweep.views names them (stand-in PNGs: this tests
    how the report files and captions them, not how they are drawn), plus one figure of no known kind."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for alpha, r in runs_.items():
        (r.path / "report.html").unlink(missing_ok=True)  # as in a sweep (output.plots: false): no run report yet
        ev = r.summary["events"]["absolute"]["0.1"]
        rows.append({"run_id": r.path.name, "run_dir": f"runs/{r.path.name}", "status": r.status, "error": None,
                     "wall_s": r.summary["timings"]["total_s"], "scaling.alpha": alpha,
                     "t_train_0.1": ev["t_train"], "t_test_0.1": ev["t_test"],
                     "grok_amount_0.1": ev["grok_amount"],
                     "final_test_loss": float(r.metrics["test_loss"].iloc[-1])})
    pd.DataFrame(rows).to_parquet(root / "results.parquet")
    plots = [{"heatmap": "grok_amount_0.1", "x": "scaling.alpha", "y": "model.eps"},
             {"curves": "test_loss", "colour": "scaling.alpha"},
             {"collapse": "final_param_change", "derived": "model.sigma**2*scaling.alpha"}]
    (root / "sweep.yaml").write_text(yaml.safe_dump({"axes_keys": ["scaling.alpha"], "base": {}, "plots": plots}))
    png = compare_figure(list(runs_.values()), root / "figures" / "phase.png").read_bytes()
    for name in (HEATMAP, CURVES):
        (root / "figures" / f"{name}.png").write_bytes(png)
    (root / "figures" / f"{HEATMAP}.pdf").write_bytes(b"%PDF-1.4 stand-in")  # output.formats: [png, pdf]
    (root / "figures" / f"{COLLAPSE}.svg").write_bytes(SVG)  # output.formats: [svg, pdf]: no PNG
    (root / "figures" / f"{COLLAPSE}.pdf").write_bytes(b"%PDF-1.4 stand-in")
    return root


def _section(text, title):
    """The HTML between <h2>title</h2> and the next <h2>."""
    return text.split(f"<h2>{title}</h2>", 1)[1].split("<h2>", 1)[0]


def test_sweep_report(runs):
    tmp, r = runs
    d = make_sweep(tmp / "sweep", r)
    text = write_report(d).read_text()
    assert len(_imgs(text)) == 3
    phase, curves, other = _section(text, "Phase diagrams"), _section(text, "Curves"), _section(text, "Other figures")
    assert len(_imgs(phase)) == len(_imgs(curves)) == len(_imgs(other)) == 1  # curves are not phase diagrams
    assert ("Phase diagram over α (scaling.alpha) and ε (model.eps): grokking amount t_test − t_train (steps), "
            "loss threshold 0.1 · ") in phase
    assert "Curves: test loss against step, one line per run, coloured by α (scaling.alpha)</figcaption>" in curves
    assert f">{HEATMAP}<" not in text and f">{CURVES}<" not in text  # captions, not file names
    assert f' · <a href="figures/{HEATMAP}.pdf">PDF</a></figcaption>' in phase  # the other formats, linked
    collapse = _section(text, "Collapse plots")  # saved as SVG and PDF only: the SVG is shown
    svg = base64.b64encode(SVG).decode()
    assert f'<a href="figures/{COLLAPSE}.svg"><img src="data:image/svg+xml;base64,{svg}"' in collapse
    assert ("Collapse: final param change against model.sigma**2*scaling.alpha · "
            f'<a href="figures/{COLLAPSE}.pdf">PDF</a></figcaption>') in collapse
    assert 'class="sortable"' in text and "scaling.alpha" in text and "grok_amount_0.1" in text
    assert 'class="filter"' in text
    for alpha, run_ in r.items():  # each row links to its run's report, relative, and the report exists
        href = f"runs/a{alpha}/report.html"
        assert f'<a href="{href}">a{alpha}</a>' in text and (d / href).is_file()
        assert '<a href="../../report.html">' in (d / href).read_text()  # and back
    (d / "results.parquet").unlink()
    text = write_report(d).read_text()
    assert "Incomplete sweep" in text and "a0.5" in text and "a2.0" in text


def test_sweep_run_reports_are_rewritten_only_when_stale(runs, tmp_path):
    _, r = runs
    d = make_sweep(tmp_path / "sw", r)
    shutil.copytree(r[0.5].path, d / "runs" / "a0.5")
    (d / "runs" / "a0.5" / "report.html").unlink(missing_ok=True)
    text = write_report(d).read_text()
    rep = d / "runs" / "a0.5" / "report.html"
    assert '<a href="runs/a0.5/report.html">a0.5</a>' in text
    assert ">a2.0</td>" in text and 'href="runs/a2.0' not in text  # a row without a run directory: no link
    t0 = rep.stat().st_mtime_ns
    write_report(d)
    assert rep.stat().st_mtime_ns == t0  # up to date: kept
    os.utime(d / "runs" / "a0.5" / "summary.json", ns=(t0 + 10**9, t0 + 10**9))
    write_report(d)
    assert rep.stat().st_mtime_ns > t0  # older than the summary: written again
    rep.unlink()
    text = write_report(d, run_reports=False).read_text()
    assert not rep.exists() and ">a0.5</td>" in text  # not written: no link to nothing


CHECK_JS = """<script>(function(){
function finish(out){var pre=document.createElement('pre');pre.id='gs-check';pre.textContent=JSON.stringify(out);
document.body.appendChild(pre)}
function check(){
var imgs = Array.prototype.slice.call(document.images);
var ok = imgs.filter(function(i){return i.complete && i.naturalWidth > 0}).length;
var out = {n_img: imgs.length, ok_img: ok, tables: document.querySelectorAll('table.sortable').length,
  plots_state: document.body.getAttribute('data-plots'), plots: [],
  links: Array.prototype.map.call(document.links, function(a){return [a.getAttribute('href'), a.href]})};
var pre = document.getElementById('summary');
if (pre) { out.summary_overflow = pre.scrollWidth - pre.clientWidth; }
document.querySelectorAll('.js-plotly-plot').forEach(function(d){
  var lines = d.querySelectorAll('.scatterlayer .trace path.js-line');
  out.plots.push({id: d.id, traces: d.data.length, drawn: Array.prototype.filter.call(lines, function(p){
    var a = p.getAttribute('d'), b = p.getBBox(); return a && a.length > 10 && (b.width > 0 || b.height > 0)}).length});});
var t = document.querySelector('table.sortable');
if (t) { var hs = t.tHead.rows[0].cells, j = -1;
  for (var k = 0; k < hs.length; k++) { if (hs[k].textContent === 'scaling.alpha') { j = k; } }
  if (j >= 0) { gsSort(hs[j]); gsSort(hs[j]);
    out.alpha_desc = Array.prototype.map.call(t.tBodies[0].rows, function(r){return Number(r.cells[j].textContent)});
    var q = document.querySelector('input.filter'), shown = function(){return Array.prototype.filter.call(
      t.tBodies[0].rows, function(r){return r.style.display !== 'none'}).length};
    out.filtered = {};
    ['scaling.alpha>1', 'scaling.alpha<=1', 'a0.5', 'status=completed scaling.alpha!=2', 'nothing-matches'].forEach(
      function(v){q.value = v; q.dispatchEvent(new Event('input', {bubbles: true})); out.filtered[v] = shown();});
    out.filter_note = document.getElementById(q.id + '-n').textContent; } }
var d = document.querySelector('.js-plotly-plot');
if (!d) { finish(out); return; }
Plotly.Fx.hover(d, [{curveNumber: 0, pointNumber: 3}]);
out.hover = Array.prototype.map.call(d.querySelectorAll('.hovertext'), function(h){return h.textContent});
var before = d._fullLayout.xaxis.range.slice();
Plotly.relayout(d, {'xaxis.range': [0.5, 1.5]}).then(function(){
  out.zoom = [before, d._fullLayout.xaxis.range.slice()]; finish(out);});}
if (document.getElementById('gs-plot-data')) {
  document.addEventListener('gs-plots-done', check);
} else { window.addEventListener('load', check); }})();</script>"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("Chromium not found (install Debian's `chromium` package; `make test` does it when root)")


def render(html_path, tmp_path, shot, width=500):
    """Load the page in headless Chromium (one launch: the check script's JSON from the DOM, and a
    screenshot), return the JSON. The window is narrow (500 px, Chromium's minimum) so that unwrapped summary
    text would overflow (checked: without `pre.wrap` the summary is ~610 px wide in a 436 px box)."""
    exe = chromium()
    page = html_path.parent / f"checked-{html_path.stem}.html"  # beside the report: its relative links hold
    page.write_text(html_path.read_text().replace("</body>", CHECK_JS + "</body>"))
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=30000",
           f"--user-data-dir={tmp_path / ('p-' + shot.stem)}", f"--window-size={width},3000", f"--screenshot={shot}",
           "--dump-dom", page.as_uri()]
    try:
        dom = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=180).stdout
    finally:
        page.unlink()
    m = re.search(r'<pre id="gs-check">(.*?)</pre>', dom)
    assert m, f"check script did not run; chromium printed {dom[:300]!r}"
    assert shot.is_file() and shot.stat().st_size > 10_000
    return json.loads(html.unescape(m.group(1)))


def assert_links_resolve(res, base):
    """Every <a href> is a relative path (no scheme: nothing leaves the machine) to an existing file."""
    assert res["links"]
    for href, absolute in res["links"]:
        assert "://" not in href and not href.startswith("/"), href
        target = Path(unquote(urlparse(absolute).path))
        assert target.is_file(), f"{href} -> {target} does not exist"
        assert target.resolve().is_relative_to(base.resolve()), href


def test_reports_render_in_chromium(runs, tmp_path):
    tmp, r = runs
    d = make_sweep(tmp / "sweep", r)
    res = render(write_report(d), tmp_path, tmp_path / "sweep.png")  # writes the run reports too
    assert res["n_img"] == 4 and res["ok_img"] == 4 and res["tables"] == 1  # 3 PNG, 1 SVG
    assert res["alpha_desc"] == [2.0, 0.5]  # the inline sort, clicked twice: descending
    assert res["filtered"] == {"scaling.alpha>1": 1, "scaling.alpha<=1": 1, "a0.5": 1,
                               "status=completed scaling.alpha!=2": 1, "nothing-matches": 0}
    assert res["filter_note"] == "0 of 2 rows shown"
    assert_links_resolve(res, d)
    assert {h for h, _ in res["links"]} >= {"runs/a0.5/report.html", "runs/a2.0/report.html", f"figures/{HEATMAP}.png",
                                            f"figures/{HEATMAP}.pdf", f"figures/{COLLAPSE}.svg"}

    text = (r[0.5].path / "report.html").read_text()
    assert '<script src="../../assets/plotly-' in text and 'id="gs-plotly"' not in text  # the sweep's one copy
    res = render(r[0.5].path / "report.html", tmp_path, tmp_path / "run.png")
    assert res["n_img"] == 5 and res["ok_img"] == 5
    assert res["summary_overflow"] <= 0  # the summary wraps: no horizontal scrolling at 500 px
    assert res["plots_state"] == "ready"
    assert [p["id"] for p in res["plots"]] == ["gs-plot-loss", "gs-plot-alignment", "gs-plot-decomposition",
                                               "gs-plot-movement"]
    for p in res["plots"]:
        assert p["traces"] > 0 and p["drawn"] == p["traces"], p  # every curve drew a non-empty SVG path
    assert len(res["hover"]) == 1 and "train loss" in res["hover"][0] and "step" in res["hover"][0]
    before, after = res["zoom"]
    assert before != after and after == [0.5, 1.5]
    assert_links_resolve(res, d)  # config.yaml, metrics.parquet, summary.json, the sweep's report


def test_run_writes_its_report_at_the_end(tmp_path):
    cfg = small_config(tmp_path, **{"train.steps": 20, "output.plots": True})
    r = run(cfg, tmp_path / "with", quiet=True)
    text = (r.path / "report.html").read_text()
    assert len(_imgs(text)) == 5
    # the saved Figure-1 PNG is embedded as it is, not drawn a second time
    assert base64.b64encode((r.path / "figures" / "fig1.png").read_bytes()).decode() in text
    r = run(cfg.replace(**{"output.report": False}), tmp_path / "without", quiet=True)
    assert (r.path / "figures" / "fig1.png").is_file() and not (r.path / "report.html").exists()


def test_sweep_runs_share_one_plotly_js(runs, tmp_path):
    """A run in a sweep's layout loads SWEEP/assets/plotly-<version>.min.js (byte-equal to the package's)
    instead of embedding 2 MB; a run on its own embeds it; without a sweep around it nothing is shared."""
    plotly = pytest.importorskip("plotly")
    from grokscope.views.interactive import shared_plotly_src
    tmp, r = runs
    d = make_sweep(tmp_path / "sw", {a: run(small_config(tmp_path, **{"scaling.alpha": a, "train.steps": 30}),
                                           tmp_path / "sw" / "runs" / f"s{a}", quiet=True) for a in (0.5, 2.0)})
    write_report(d)
    asset = d / "assets" / f"plotly-{plotly.__version__}.min.js"
    pkg = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert asset.read_bytes() == pkg.read_bytes()
    for a in (0.5, 2.0):
        page = d / "runs" / f"s{a}" / "report.html"
        assert page.stat().st_size < 1_000_000 and f"../../assets/{asset.name}" in page.read_text()
    assert shared_plotly_src(tmp_path / "lonely") is None
    alone = run(small_config(tmp_path, **{"train.steps": 30, "output.plots": True}), tmp_path / "alone", quiet=True)
    standalone = alone.path / "report.html"
    assert 'id="gs-plotly"' in standalone.read_text() and standalone.stat().st_size > 1_500_000
