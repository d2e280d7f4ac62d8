"""Sweeps: spec (axes, zips, seeds) → resolved configs → packs on a backend → results.parquet → views."""
from grokscope.sweep.runner import load_sweep, rebuild_results, run_sweep
from grokscope.sweep.spec import SweepSpec, expand, load_spec, parse_spec

__all__ = ["SweepSpec", "expand", "load_spec", "load_sweep", "parse_spec", "rebuild_results", "run_sweep"]
