"""The printed end-of-run summary of a run directory."""
from __future__ import annotations

from grokscope.diagnostics.events import format_events
from grokscope.store import Run


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
        parts = [f"{k} {v:.4g}" for k, v in fin.items() if k != "step" and v is not None]
        lines.append(f"final (step {fin['step']}): " + ", ".join(parts))
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
