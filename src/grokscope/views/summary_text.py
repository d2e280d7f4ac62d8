"""The printed end-of-run summary of a run directory (``grokscope run``/``show``, the report)."""
from __future__ import annotations

from typing import Any

from grokscope.diagnostics.events import format_events
from grokscope.store import Run
from grokscope.views.table import format_table


def final_table(r: Run, final: dict[str, Any]) -> str:
    """The final metrics as an aligned table, one metric a line: its first logged value, its final value
    (summary.json ``events.final``, the last logged row) and, for a probe with its own cadence that is
    empty on that row, its last logged value and step instead."""
    df = r.metrics
    rows = []
    for k, v in final.items():
        if k == "step":
            continue
        col = df[k].dropna() if k in df else None
        first = float(col.iloc[0]) if col is not None and len(col) else None
        row: dict[str, Any] = {"metric": k, "first": first, "final": v, "at step": final["step"]}
        if v is None and col is not None and len(col):
            row["final"], row["at step"] = float(col.iloc[-1]), int(df.loc[col.index[-1], "step"])
        rows.append(row)
    return format_table(rows, ["metric", "first", "final", "at step"])


def summary_lines(r: Run) -> list[str]:
    """The printed end-of-run summary."""
    s = r.summary or {}
    lines = [f"run {r.path}  status: {r.status}" + (f" ({s['reason']})" if s.get("reason") else "")]
    if s.get("engine"):
        eng, eta = s["engine"], s.get("eta")
        lines.append(f"engine: {eng.get('name')} ({eng.get('reason')})" + (f"; η = {eta:.6g}" if eta is not None else ""))
    ev = s.get("events")
    if ev:
        fin = ev["final"]
        lines.append(f"final (step {fin['step']}):")
        lines.extend("  " + t for t in final_table(r, fin).splitlines())
        lines.extend(format_events(ev))
    k0 = s.get("k0")
    if k0 and "test_mse" in k0:
        warn = f"  WARNING: {k0['warning']}" if k0.get("warning") else ""
        lines.append(f"K₀ kernel regression (lazy limit): train MSE {k0['train_mse']:.4g}, test MSE "
                     f"{k0['test_mse']:.4g} (cond {k0['cond']:.3g}){warn}")
    lz = s.get("laziness", {})
    if lz.get("verdict"):
        extra = ", ".join(f"{k.removeprefix('final_').replace('_', ' ')} {lz[k]:.3g}"
                          for k in ("final_kernel_distance", "final_param_change") if k in lz)
        lines.append(f"laziness: {lz['verdict']}" + (f" (final {extra})" if extra else ""))
    tm = s.get("timings")
    if tm:
        sps = f", {tm['steps_per_s']:.0f} steps/s" if tm.get("steps_per_s") else ""
        lines.append(f"wall time {tm['total_s']:.1f} s (training {tm['train_s']:.1f} s{sps})")
    return lines
