"""HTML building blocks of the self-contained reports: inline CSS, escaped text, base64 figures, tables
that sort (click a header) and filter (a query box), and the page frame. No external resource is
ever referenced: every page opens offline."""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

from grokscope.views.table import fmt_value

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1200px;
padding:1em 2em;color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.banner{background:#fff3cd;border:1px solid #e0b100;padding:.6em 1em;margin:1em 0;font-weight:600}
.banner.bad{background:#f8d7da;border-color:#c0392b}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.85em}
pre.wrap{white-space:pre-wrap;overflow-wrap:anywhere}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:right;white-space:nowrap}
th{background:#eef2f6;cursor:pointer;user-select:none}th.asc:after{content:" \\25B2"}th.desc:after{content:" \\25BC"}
td.s,th.s{text-align:left}.figs{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0;flex:1 1 520px;max-width:600px}figure img{width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.scroll{overflow-x:auto}.muted{color:#777}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plot{flex:1 1 540px;max-width:600px;min-height:460px;border:1px solid #eee}
input.filter{width:32em;max-width:100%;padding:.3em;font-size:.9em}
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

# Filter a table's rows by a query: space-separated terms, all must hold. A term COLUMN<op>VALUE
# (op one of >= <= != = > <) compares that column (numerically when both sides are numbers, else as
# text; = on text is a substring match); any other term must appear in some cell of the row.
FILTER_JS = """
function gsTerm(t,heads){var m=t.match(/^(.+?)(>=|<=|!=|=|>|<)(.*)$/);if(!m){return null}
var j=heads.indexOf(m[1]);if(j<0){return null}return {j:j,op:m[2],v:m[3]}}
function gsHolds(c,op,v){var a=c.getAttribute('data-v');a=a===null?c.textContent:a;var x=Number(a),y=Number(v);
var num=a!==''&&v!==''&&!isNaN(x)&&!isNaN(y);if(!num){a=a.toLowerCase();v=v.toLowerCase()}
if(op==='='){return num?x===y:a.indexOf(v)>=0}if(op==='!='){return num?x!==y:a.indexOf(v)<0}
if(!num){return false}return op==='>'?x>y:op==='<'?x<y:op==='>='?x>=y:x<=y}
function gsFilter(inp){var t=document.getElementById(inp.getAttribute('data-table'));
var heads=Array.prototype.map.call(t.tHead.rows[0].cells,function(h){return h.textContent});
var terms=inp.value.trim().split(/\\s+/).filter(function(s){return s!==''}),n=0;
Array.prototype.forEach.call(t.tBodies[0].rows,function(r){var ok=terms.every(function(s){var c=gsTerm(s,heads);
if(c){return gsHolds(r.cells[c.j],c.op,c.v)}return r.textContent.toLowerCase().indexOf(s.toLowerCase())>=0});
r.style.display=ok?'':'none';if(ok){n++}});
document.getElementById(inp.id+'-n').textContent=n+' of '+t.tBodies[0].rows.length+' rows shown'}
document.addEventListener('input',function(e){if(e.target.classList.contains('filter')){gsFilter(e.target)}});
"""


def esc(x: Any) -> str:
    return html.escape(str(x))


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def img(data: bytes | None, caption: str, href: str | None = None, also: dict[str, str] | None = None,
        mime: str = "image/png") -> str:
    """A figure with its caption: ``data`` embedded (PNG, or ``mime`` image/svg+xml), linked to ``href``
    (the relative path of its file); ``also`` ({"PDF": href, ...}) links the other formats after the
    caption. Without ``data`` (a figure saved only as PDF) the figure is the caption and its links."""
    tag = ""
    if data is not None:
        uri = png_data_uri(data) if mime == "image/png" else f"data:{mime};base64," + base64.b64encode(data).decode()
        tag = f'<img src="{uri}" alt="{esc(caption)}">'
        if href:
            tag = f'<a href="{esc(href)}">{tag}</a>'
    links = "".join(f' · <a href="{esc(h)}">{esc(k)}</a>' for k, h in (also or {}).items())
    return f"<figure>{tag}<figcaption>{esc(caption)}{links}</figcaption></figure>"


FORMATS = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}


def figure_tags(figdir: Path, caption: Any) -> list[tuple[str, str]]:
    """(stem, <figure>) of every figure in ``figdir`` (one per stem, whatever its formats): the PNG
    embedded, else the SVG, else (PDF only) just the caption; each linked to its files.
    ``caption(stem)`` gives the caption."""
    stems: dict[str, dict[str, Path]] = {}
    for f in sorted(figdir.iterdir()) if figdir.is_dir() else []:
        ext = f.suffix.lstrip(".").lower()
        if ext in FORMATS and f.is_file():
            stems.setdefault(f.stem, {})[ext] = f
    out = []
    for stem, files in stems.items():
        shown = next((e for e in ("png", "svg") if e in files), None)
        rel = {e: f"{figdir.name}/{f.name}" for e, f in files.items()}
        also = {e.upper(): h for e, h in rel.items() if e != shown}
        data = files[shown].read_bytes() if shown else None
        out.append((stem, img(data, caption(stem), rel.get(shown or ""), also, FORMATS[shown or "png"])))
    return out


def html_table(columns: list[str], rows: list[list[Any]], sortable: bool = True, table_id: str | None = None,
               links: dict[tuple[int, int], str] | None = None, titles: dict[str, str] | None = None) -> str:
    """A table; numeric cells carry their exact value in data-v so the sort is numeric. ``links`` maps
    (row, column) to a relative href for that cell; ``titles`` gives a header a tooltip."""
    cls = ' class="sortable"' if sortable else ""
    tid = f' id="{esc(table_id)}"' if table_id else ""
    titles = titles or {}
    head = "".join(f"<th{' class=s' if j == 0 else ''}{_title(titles.get(c))}>{esc(c)}</th>"
                   for j, c in enumerate(columns))
    body = []
    for i, r in enumerate(rows):
        cells = []
        for j, v in enumerate(r):
            text = esc(fmt_value(v, missing=""))
            if links and (i, j) in links:
                text = f'<a href="{esc(links[i, j])}">{text}</a>'
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            if num and not (isinstance(v, float) and not math.isfinite(v)):
                cells.append(f'<td data-v="{v!r}">{text}</td>')
            else:
                cells.append(f'<td class="s" data-v="{esc(fmt_value(v, missing=""))}">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table{cls}{tid}><thead><tr>{head}</tr></thead><tbody>'
            + "".join(body) + "</tbody></table></div>")


def _title(text: str | None) -> str:
    return f' title="{esc(text)}"' if text else ""


def filter_box(table_id: str, n_rows: int) -> str:
    """A query box that filters the rows of table ``table_id`` (FILTER_JS), with a count of rows shown."""
    return (f'<p><input class="filter" id="{esc(table_id)}-q" data-table="{esc(table_id)}" type="search" '
            f'placeholder="filter: text, or COLUMN&gt;VALUE (=, !=, &lt;, &lt;=, &gt;=), space-separated" '
            f'aria-label="filter rows"> <span class="muted" id="{esc(table_id)}-q-n">{n_rows} of {n_rows} rows '
            f"shown</span></p>")


def page(title: str, body: list[str], scripts: tuple[str, ...] = ()) -> str:
    """The whole document: inline CSS, the body, the sort and filter scripts, then ``scripts``."""
    extra = "".join(scripts)
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body>" + "\n".join(body)
            + f"<script>{SORT_JS}{FILTER_JS}</script>{extra}</body></html>")
