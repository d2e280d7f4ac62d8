"""HTML reports: content, bad input, incomplete runs, sweeps, and rendering in headless Chromium."""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess

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
        cfg = small_config(tmp, **{"scaling.alpha": alpha, "train.steps": 60})
        out[alpha] = run(cfg, tmp / "sweep" / "runs" / f"a{alpha}", quiet=True)
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


def make_sweep(root, runs_):
    """A sweep directory in the sweep branch's layout: sweep.yaml, runs/, results.parquet, figures/."""
    rows = []
    for alpha, r in runs_.items():
        ev = r.summary["events"]["absolute"]["0.1"]
        rows.append({"run_id": r.path.name, "run_dir": str(r.path), "status": r.status, "error": None,
                     "wall_s": r.summary["timings"]["total_s"], "scaling.alpha": alpha,
                     "t_train_0.1": ev["t_train"], "t_test_0.1": ev["t_test"],
                     "grok_amount_0.1": ev["grok_amount"],
                     "final_test_loss": float(r.metrics["test_loss"].iloc[-1])})
    pd.DataFrame(rows).to_parquet(root / "results.parquet")
    (root / "sweep.yaml").write_text(yaml.safe_dump({"axes_keys": ["scaling.alpha"], "base": {}}))
    compare_figure(list(runs_.values()), root / "figures" / "phase.png")
    return root


def test_sweep_report(runs):
    tmp, r = runs
    d = make_sweep(tmp / "sweep", r)
    text = write_report(d).read_text()
    assert len(_imgs(text)) == 1
    assert 'class="sortable"' in text and "scaling.alpha" in text and "grok_amount_0.1" in text
    for alpha in r:
        assert f"a{alpha}" in text
    (d / "results.parquet").unlink()
    text = write_report(d).read_text()
    assert "Incomplete sweep" in text and "a0.5" in text and "a2.0" in text


CHECK_JS = """<script>window.addEventListener('load', function(){
var imgs = Array.prototype.slice.call(document.images);
var ok = imgs.filter(function(i){return i.complete && i.naturalWidth > 0}).length;
var out = {n_img: imgs.length, ok_img: ok, tables: document.querySelectorAll('table.sortable').length};
var t = document.querySelector('table.sortable');
if (t) { var hs = t.tHead.rows[0].cells, j = -1;
  for (var k = 0; k < hs.length; k++) { if (hs[k].textContent === 'scaling.alpha') { j = k; } }
  if (j >= 0) { gsSort(hs[j]); gsSort(hs[j]);
    out.alpha_desc = Array.prototype.map.call(t.tBodies[0].rows, function(r){return Number(r.cells[j].textContent)}); } }
var pre = document.createElement('pre'); pre.id = 'gs-check'; pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);});</script>"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("Chromium not found (install Debian's `chromium` package; `make test` does it when root)")


def render(html_path, tmp_path, shot):
    """Load the page in headless Chromium, return the check script's JSON, save a screenshot."""
    exe = chromium()
    page = tmp_path / "checked.html"
    page.write_text(html_path.read_text().replace("</body>", CHECK_JS + "</body>"))
    base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--virtual-time-budget=10000"]
    dom = subprocess.run(base + [f"--user-data-dir={tmp_path / 'p1'}", "--dump-dom", page.as_uri()],
                         check=False, capture_output=True, text=True,
                         timeout=120).stdout
    m = re.search(r'<pre id="gs-check">(.*?)</pre>', dom)
    assert m, f"check script did not run; chromium printed {dom[:300]!r}"
    subprocess.run(base + [f"--user-data-dir={tmp_path / 'p2'}", "--window-size=1280,2400",
                           f"--screenshot={shot}", html_path.as_uri()],
                   check=False, capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 10_000
    return json.loads(m.group(1).replace("&quot;", '"'))


def test_reports_render_in_chromium(runs, tmp_path):
    tmp, r = runs
    res = render(write_report(r[0.5].path), tmp_path, tmp_path / "run.png")
    assert res["n_img"] == 5 and res["ok_img"] == 5
    d = make_sweep(tmp / "sweep", r)
    res = render(write_report(d), tmp_path, tmp_path / "sweep.png")
    assert res["n_img"] == 1 and res["ok_img"] == 1 and res["tables"] == 1
    assert res["alpha_desc"] == [2.0, 0.5]  # the inline sort, clicked twice: descending


def test_run_writes_its_report_at_the_end(tmp_path):
    cfg = small_config(tmp_path, **{"train.steps": 20, "output.plots": True})
    r = run(cfg, tmp_path / "with", quiet=True)
    text = (r.path / "report.html").read_text()
    assert len(_imgs(text)) == 5
    # the saved Figure-1 PNG is embedded as it is, not drawn a second time
    assert base64.b64encode((r.path / "figures" / "fig1.png").read_bytes()).decode() in text
    r = run(cfg.replace(**{"output.report": False}), tmp_path / "without", quiet=True)
    assert (r.path / "figures" / "fig1.png").is_file() and not (r.path / "report.html").exists()
