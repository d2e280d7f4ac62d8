"""Sweep views, drawn from results.parquet and the run directories only (never recomputing training).

- ``heatmap``: any results column over two axes (paper Fig 3(e): grok_amount_0.1 over (α, ε)); log
  axes where the axis is log-spaced; cells averaged over the other axes (e.g. seeds); × marks cells
  that never crossed the threshold (value missing in a finished run), a red ◆ cells with a diverged
  run, a grey ! failed or unfinished runs.
- ``curves``: a metric against steps for every run, coloured by one axis (Fig 3(a)).
- ``collapse``: a results column against a derived quantity of config keys such as
  ``model.sigma**2*scaling.alpha`` (Fig 7), evaluated by a small arithmetic interpreter (no eval).
Figures go to SWEEP_DIR/figures/ through an atomic write.
"""
from __future__ import annotations

import ast
import io
import operator
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grokscope.config import ConfigError
from grokscope.store import atomic_write_bytes

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_FUNCS = {"log": np.log, "log10": np.log10, "log2": np.log2, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def derived(expr: str, df: pd.DataFrame) -> np.ndarray:
    """Evaluate an arithmetic expression of results columns (dotted config keys), one value per row.

    Allowed: numbers, dotted column names, + − * / **, unary −, and log, log10, log2, exp, sqrt, abs.
    """
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"--derived {expr!r}: not an arithmetic expression ({exc.msg})") from None

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            return float(node.value)
        key = _dotted(node)
        if key is not None:
            if key not in df.columns:
                raise ConfigError(f"--derived {expr!r}: {key!r} is not a results column; use dotted config keys "
                                  f"such as scaling.alpha or model.sigma")
            return pd.to_numeric(df[key], errors="coerce").to_numpy(dtype=float)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](ev(node.operand))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
                and len(node.args) == 1 and not node.keywords):
            return _FUNCS[node.func.id](ev(node.args[0]))
        raise ConfigError(f"--derived {expr!r}: {ast.unparse(node)!r} is not allowed; use numbers, dotted config "
                          f"keys, + - * / ** and {', '.join(_FUNCS)}")

    with np.errstate(all="ignore"):
        out = np.asarray(ev(tree), dtype=float)
    return np.broadcast_to(out, (len(df),)).copy()


def _need(df: pd.DataFrame, col: str, what: str) -> None:
    if col not in df.columns:
        sample = ", ".join(c for c in df.columns if not c.startswith(("task.", "optim.", "probes.", "events.")))[:400]
        raise ConfigError(f"{what} {col!r}: not a results column; available include {sample}")


def _save(fig: Any, sweep_dir: Path, name: str) -> Path:
    path = Path(sweep_dir) / "figures" / (re.sub(r"[^A-Za-z0-9_.=-]+", "_", name) + ".png")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    _plt().close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _edges(vals: np.ndarray, log: bool) -> np.ndarray:
    v = np.log(vals) if log else vals.astype(float)
    if len(v) == 1:
        e = np.array([v[0] - 0.5, v[0] + 0.5]) if not log else np.array([v[0] - 0.1, v[0] + 0.1])
    else:
        mid = (v[1:] + v[:-1]) / 2
        e = np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])
    return np.exp(e) if log else e


def heatmap(df: pd.DataFrame, col: str, x: str, y: str, scales: dict[str, str] | None = None,
            sweep_dir: Path | None = None, ax: Any = None) -> Any:
    """Mean of ``col`` over runs in each (x, y) cell; markers for never-crossed / diverged / failed."""
    for c, w in ((col, "--heatmap"), (x, "--x"), (y, "--y")):
        _need(df, c, w)
    for c, w in ((x, "--x"), (y, "--y")):
        if pd.to_numeric(df[c], errors="coerce").isna().any() and df[c].notna().any():
            raise ConfigError(f"{w} {c!r}: heatmap axes must be numeric, got {sorted(map(str, pd.unique(df[c])))}")
    scales = scales or {}
    plt = _plt()
    xs = np.sort(pd.unique(df[x].dropna()).astype(float))
    ys = np.sort(pd.unique(df[y].dropna()).astype(float))
    Z = np.full((len(ys), len(xs)), np.nan)
    marks: list[tuple[float, float, str]] = []
    vals = pd.to_numeric(df[col], errors="coerce")
    for i, yv in enumerate(ys):
        for j, xv in enumerate(xs):
            cell = df[(df[x].astype(float) == xv) & (df[y].astype(float) == yv)]
            v = vals[cell.index]
            st = set(cell["status"])
            if v.notna().any():
                Z[i, j] = v.mean()
            if "diverged" in st:
                marks.append((xv, yv, "diverged"))
            elif st & {"failed", "pending", "incomplete"}:
                marks.append((xv, yv, "failed"))
            elif v.isna().all():
                marks.append((xv, yv, "never"))
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 5.0), constrained_layout=True)
    logx, logy = scales.get(x) == "log", scales.get(y) == "log"
    mesh = ax.pcolormesh(_edges(xs, logx), _edges(ys, logy), np.ma.masked_invalid(Z), cmap="magma", shading="flat")
    ax.figure.colorbar(mesh, ax=ax, label=col)
    style = {"never": ("x", "0.6", "never crossed"), "diverged": ("D", "red", "diverged"),
             "failed": ("$!$", "0.4", "failed / unfinished")}
    for kind, (m, c, lab) in style.items():
        pts = [(a, b) for a, b, k in marks if k == kind]
        if pts:
            ax.scatter(*zip(*pts), marker=m, color=c, s=40, label=lab, zorder=3)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{col} over ({x}, {y})")
    if marks:
        ax.legend(fontsize=8, loc="upper left", framealpha=0.8)
    return ax


LEGEND_MAX = 8  # curves(): at most this many distinct colour values get a legend, not a colour bar


def curves(df: pd.DataFrame, sweep_dir: Path, metric: str, color: str, scales: dict[str, str] | None = None,
           normalize: bool = False, ax: Any = None) -> Any:
    """``metric`` against step for every finished run, coloured by axis ``color`` (÷ its step-0 value
    when ``normalize``, as in paper Fig 3(a)); a legend of the values when there are at most
    ``LEGEND_MAX`` of them (e.g. fig9's three P), else a colour bar."""
    _need(df, color, "--color")
    import matplotlib as mpl
    plt = _plt()
    scales = scales or {}
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    cv = pd.to_numeric(df[color], errors="coerce").astype(float)
    finite = cv[np.isfinite(cv)]
    if finite.empty:
        raise ConfigError(f"--color {color!r}: no numeric values in the results")
    lo, hi = float(finite.min()), float(finite.max())
    norm = (mpl.colors.LogNorm(lo, hi) if scales.get(color) == "log" and lo > 0 and hi > lo
            else mpl.colors.Normalize(lo, hi if hi > lo else lo + 1))
    cmap = mpl.colormaps["viridis"]
    drawn = 0
    for i, r in df.iterrows():
        mp = Path(sweep_dir) / r["run_dir"] / "metrics.parquet"
        if r["status"] not in ("completed", "diverged") or not mp.is_file():
            continue
        m = pd.read_parquet(mp)
        if metric not in m.columns:
            raise ConfigError(f"--curves {metric!r}: not a metric of run {r['run_id']}; it has "
                              f"{', '.join(c for c in m.columns if c != 'step')}")
        yv = m[metric].to_numpy(float)
        ok = np.isfinite(yv)
        if normalize and ok.any():
            yv = yv / yv[ok][0]
        ax.plot(np.maximum(m["step"].to_numpy()[ok], 1), yv[ok], color=cmap(norm(cv[i])), lw=1.3)
        drawn += 1
    if drawn == 0:
        raise ConfigError("--curves: no finished run to draw yet")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"{metric} / {metric}(0)" if normalize else metric)
    values = sorted(set(finite.tolist()))
    if len(values) <= LEGEND_MAX:
        from matplotlib.lines import Line2D
        ax.legend(handles=[Line2D([], [], color=cmap(norm(v)), lw=1.3, label=f"{color} = {v:g}")
                           for v in values], fontsize=8, framealpha=0.8)
    else:
        ax.figure.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=color)
    return ax


def collapse(df: pd.DataFrame, col: str, expr: str, color: str | None = None, ax: Any = None) -> Any:
    """``col`` against the derived quantity ``expr`` on log-log axes (non-positive values dropped)."""
    _need(df, col, "--collapse")
    plt = _plt()
    xv = derived(expr, df)
    yv = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
    ok = np.isfinite(xv) & np.isfinite(yv) & (xv > 0) & (yv > 0)
    if not ok.any():
        raise ConfigError(f"--collapse {col!r} against {expr!r}: no run has positive finite values of both")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 4.4), constrained_layout=True)
    if color is not None and color in df.columns:
        c = pd.to_numeric(df[color], errors="coerce").to_numpy(float)[ok]
        sc = ax.scatter(xv[ok], yv[ok], c=c, cmap="viridis", s=30,
                        norm="log" if (c > 0).all() and len(set(c)) > 1 else None)
        ax.figure.colorbar(sc, ax=ax, label=color)
    else:
        ax.scatter(xv[ok], yv[ok], s=30)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(expr)
    ax.set_ylabel(col)
    ax.set_title(f"{col} against {expr}")
    return ax


def draw(sweep_dir: str | Path, views: list[dict[str, Any]]) -> list[Path]:
    """Draw views ({heatmap, x, y} | {curves, color[, normalize]} | {collapse, derived[, color]}) of a sweep."""
    from grokscope.sweep.runner import load_sweep
    sweep_dir = Path(sweep_dir)
    spec, _ = load_sweep(sweep_dir)
    rp = sweep_dir / "results.parquet"
    if not rp.is_file():
        raise ConfigError(f"{str(sweep_dir)!r}: no results.parquet yet (run `grokscope sweep` first)")
    df = pd.read_parquet(rp)
    plt = _plt()
    out = []
    for v in views:
        fig, ax = plt.subplots(figsize=(6.4, 4.8), constrained_layout=True)
        try:
            if "heatmap" in v:
                x, y = v.get("x"), v.get("y")
                if not x or not y:
                    raise ConfigError(f"heatmap {v['heatmap']!r}: needs --x KEY and --y KEY (axes: "
                                      f"{', '.join(spec.axes_keys)})")
                heatmap(df, v["heatmap"], x, y, spec.scales, sweep_dir, ax=ax)
                name = f"heatmap_{v['heatmap']}__{x}__{y}"
            elif "curves" in v:
                color = v.get("color") or (spec.axes_keys[0] if spec.axes_keys else None)
                if color is None:
                    raise ConfigError(f"curves {v['curves']!r}: needs --color KEY")
                curves(df, sweep_dir, v["curves"], color, spec.scales, bool(v.get("normalize")), ax=ax)
                name = f"curves_{v['curves']}__{color}"
            elif "collapse" in v:
                if not v.get("derived"):
                    raise ConfigError(f"collapse {v['collapse']!r}: needs --derived EXPR")
                collapse(df, v["collapse"], v["derived"], v.get("color"), ax=ax)
                name = f"collapse_{v['collapse']}__{v['derived']}"
            else:
                raise ConfigError(f"plot view {v!r}: expected a heatmap, curves or collapse entry")
        except BaseException:
            plt.close(fig)
            raise
        out.append(_save(fig, sweep_dir, name))
    return out
