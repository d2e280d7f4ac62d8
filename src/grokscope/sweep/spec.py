"""Sweep spec: a base config plus axes, expanded into fully resolved configs.

YAML keys::

    name: fig3e
    base: {preset: fig1, set: {task.P: 450}}   # or {config: PATH, set: ...} or a config mapping
    axes:                                      # grid: the product over axes
      scaling.alpha: {lin: [0.4, 5.6], num: 14}   # lo + (hi − lo)·i/(K − 1)
      model.eps: {log: [0.02, 0.28], num: 14}     # lo·(hi/lo)^(i/(K − 1)), lo > 0
      task.P: [50, 120, 500]                      # an explicit list
    zip:                                       # groups varied together (one grid factor each)
      - {model.sigma: [0.5, 1, 2], optim.lr: [2, 0.5, 0.125]}
    seeds: 3                                   # seed index s = 0..K−1 adds s to every key in seed_keys
    seed_keys: [model.seed, train.seed]        # default; add task.data_seed etc. to resample the data
    quick: {set: {...}, axes: {...}, zip: [...], seeds: 1}   # the --quick variant (axes merged by key)
    plots: [{heatmap: grok_amount_0.1, x: scaling.alpha, y: model.eps}]
    pack_size: 4                               # runs per backend task
    batch: true                                # train batchable runs as one ensemble when available
    max_runs: 10000                            # refuse larger grids (counted before expanding; ≤ 10**6)

Every resolved config is validated up front; an error names the axis, the value and what is allowed.
``name`` is one path component (≤ 100 characters). ``derived`` expressions (plots, ``grokscope plot
--derived``) are bounded in length, size, depth and exponent; x/0 gives NaN.
"""
from __future__ import annotations

import ast
import itertools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from grokscope.config import Config, ConfigError, load_config, read_yaml
from grokscope.config.limits import name_problem, short

SPEC_KEYS = ("name", "base", "axes", "zip", "seeds", "seed_keys", "quick", "plots", "pack_size", "batch",
             "description", "max_runs")
MAX_RUNS, MAX_RUNS_CAP = 10_000, 10**6  # default and largest allowed ``max_runs``
QUICK_KEYS = ("set", "axes", "zip", "seeds", "pack_size")
DEFAULT_SEED_KEYS = ("model.seed", "train.seed")
SEED_AXIS = "seed"


@dataclass(frozen=True)
class PlannedRun:
    """One point of the sweep: its resolved config, id, and the axis values that made it."""

    run_id: str
    cfg: Config
    axes: dict[str, Any]
    seed_index: int


@dataclass
class SweepSpec:
    """A validated spec: base config, axes (key → resolved list), zip groups, seeds."""

    name: str
    base: Config
    axes: dict[str, list[Any]]
    zip: list[dict[str, list[Any]]] = field(default_factory=list)
    seeds: int = 1
    seed_keys: list[str] = field(default_factory=lambda: list(DEFAULT_SEED_KEYS))
    plots: list[dict[str, Any]] = field(default_factory=list)
    pack_size: int = 4
    batch: bool = True
    quick: bool = False
    scales: dict[str, str] = field(default_factory=dict)  # axis key → "log" | "lin"
    description: str = ""
    max_runs: int = MAX_RUNS

    @property
    def axes_keys(self) -> list[str]:
        """Dotted config keys varied by the sweep (grid axes, zip keys, and the seed keys if seeds > 1)."""
        keys = list(self.axes) + [k for g in self.zip for k in g]
        if self.seeds > 1:
            keys += [k for k in self.seed_keys if k not in keys]
        return keys

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as written to SWEEP_DIR/sweep.yaml; ``spec_from_dict`` reads it back."""
        return {"name": self.name, "description": self.description, "quick": self.quick,
                "base": self.base.to_dict(), "axes": self.axes, "zip": self.zip, "seeds": self.seeds,
                "seed_keys": self.seed_keys, "plots": self.plots, "pack_size": self.pack_size,
                "batch": self.batch, "scales": self.scales, "axes_keys": self.axes_keys, "max_runs": self.max_runs}


def _config_keys(model: Any = Config, prefix: str = "") -> set[str]:
    out = set()
    from grokscope.config import MODEL_SECTIONS, TASK_SECTIONS
    for name, f in model.model_fields.items():
        ann = f.annotation
        if model is Config and name in ("task", "model"):  # union sections: the keys of every member
            for sec in (TASK_SECTIONS if name == "task" else MODEL_SECTIONS).values():
                out |= _config_keys(sec, f"{name}.")
        elif isinstance(ann, type) and hasattr(ann, "model_fields"):
            out |= _config_keys(ann, f"{prefix}{name}.")
        else:
            out.add(f"{prefix}{name}")
    return out


CONFIG_KEYS = frozenset(_config_keys())


def _check_key(key: Any, where: str, allow_output: bool = False) -> str:
    if not isinstance(key, str) or key not in CONFIG_KEYS:
        near = sorted(k for k in CONFIG_KEYS if isinstance(key, str) and k.split(".")[-1] == key.split(".")[-1])
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise ConfigError(f"{where} {short(key)}: unknown dotted config key{hint}; keys look like scaling.alpha, "
                          f"model.eps, task.P (see `grokscope run --dry-run` for the full tree)")
    if key.startswith("output.") and not allow_output:
        raise ConfigError(f"{where} {short(key)}: output settings cannot be swept "
                          "(the sweep places run directories)")
    return key


def _clean(v: float) -> float:
    """Round to 12 significant digits so 0.4·3 gives 1.2 and 2^(−5 + i) gives exact powers of two."""
    return float(f"{v:.12g}")


def _range(key: str, kind: str, spec: dict[str, Any], where: str, limit: int) -> list[float]:
    extra = set(spec) - {kind, "num"}
    if extra:
        raise ConfigError(f"{where} {key}: unknown range keys {sorted(extra)}; a range is "
                          f"{{{kind}: [lo, hi], num: K}}")
    lohi, num = spec.get(kind), spec.get("num")
    if (not isinstance(lohi, (list, tuple)) or len(lohi) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in lohi)):
        raise ConfigError(f"{where} {key}: {kind} = {short(lohi)}; expected two numbers [lo, hi]")
    if not isinstance(num, int) or isinstance(num, bool) or not 1 <= num <= limit:
        raise ConfigError(f"{where} {key}: num = {short(num)}; expected an integer with 1 ≤ num ≤ {limit} "
                          "(max_runs)")
    lo, hi = _float(lohi[0]), _float(lohi[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and max(abs(lo), abs(hi)) <= 1e300):
        raise ConfigError(f"{where} {key}: {kind} = {short(lohi)}; bounds must be finite")
    if num == 1:
        return [_clean(lo)]
    if kind == "lin":
        return [_clean(lo + (hi - lo) * i / (num - 1)) for i in range(num)]
    if lo <= 0 or hi <= 0:
        raise ConfigError(f"{where} {key}: log = {short(lohi)}; a log range needs lo > 0 and hi > 0")
    return [_clean(lo * (hi / lo) ** (i / (num - 1))) for i in range(num)]


def _float(v: float) -> float:
    try:
        return float(v)
    except OverflowError:
        return math.inf


def _values(key: str, raw: Any, where: str, limit: int) -> tuple[list[Any], str]:
    """Axis values and their scale ("log" for log ranges and positive geometric lists, else "lin")."""
    if isinstance(raw, dict):
        kinds = [k for k in ("log", "lin") if k in raw]
        if len(kinds) != 1:
            raise ConfigError(f"{where} {key} = {short(raw)}: expected a list of values, "
                              f"{{log: [lo, hi], num: K}} "
                              f"or {{lin: [lo, hi], num: K}}")
        return _range(key, kinds[0], raw, where, limit), kinds[0]
    if not isinstance(raw, list):
        raise ConfigError(f"{where} {key} = {short(raw)}: expected a list of values, {{log: [lo, hi], num: K}} "
                          f"or {{lin: [lo, hi], num: K}}")
    if not raw:
        raise ConfigError(f"{where} {key}: empty list; give at least one value")
    return list(raw), _list_scale(raw)


def _list_scale(vals: list[Any]) -> str:
    nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(nums) != len(vals) or len(nums) < 3 or min(nums) <= 0:
        return "lin"
    s = sorted({_float(v) for v in nums})
    if len(s) < 3 or not math.isfinite(s[-1]):
        return "lin"
    ratios = [b / a for a, b in itertools.pairwise(s)]
    diffs = [b - a for a, b in itertools.pairwise(s)]
    log_spread = max(ratios) / min(ratios)
    lin_spread = max(diffs) / min(diffs)
    return "log" if log_spread < lin_spread else "lin"


def _base(raw: Any, root: Path) -> Config:
    from grokscope.config.presets import get_preset
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"sweep base = {short(raw)}: expected a config mapping, {{preset: NAME}} or "
                          "{config: PATH}")
    raw = dict(raw)
    preset, path, sets = raw.pop("preset", None), raw.pop("config", None), raw.pop("set", None) or {}
    if preset is not None and path is not None:
        raise ConfigError("sweep base: give preset or config, not both")
    if not isinstance(sets, dict):
        raise ConfigError(f"sweep base.set = {short(sets)}: expected a mapping of dotted keys to values")
    if preset is not None:
        data = get_preset(str(preset))
    elif path is not None:
        p = Path(path)
        data = read_yaml(p if p.is_absolute() else root / p)
    else:
        data = {}
    _deep_merge(data, raw)
    for k in sets:
        _check_key(k, "sweep base.set", allow_output=True)
    return load_config(data, dict(sets))


def _deep_merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _deep_merge(dst[k], v)
        else:
            dst[k] = v


_OLD_VIEW_KEYS = {"color": "colour", "normalize": "normalise"}  # deprecated spellings (sweep.views has the same)


def _british(view: dict[str, Any], i: int) -> dict[str, Any]:
    """A plot entry with the deprecated American keys renamed (with a DeprecationWarning)."""
    import warnings
    out = {}
    for k, v in view.items():
        new = _OLD_VIEW_KEYS.get(k)
        if new is not None:
            warnings.warn(f"grokscope: sweep plots[{i}] key {k!r} is deprecated (American spelling); use {new!r}",
                          DeprecationWarning, stacklevel=3)
            if new in view and view[new] != v:
                raise ConfigError(f"sweep plots[{i}]: both {k!r} and {new!r} given, with different values")
        out[new or k] = v
    return out


def parse_spec(data: dict[str, Any], *, quick: bool = False, root: str | os.PathLike[str] = ".",
               name: str | None = None) -> SweepSpec:
    """Validate a spec mapping (``quick`` applies its ``quick:`` section) and resolve its axes."""
    if not isinstance(data, dict):
        raise ConfigError(f"sweep spec: top level must be a mapping, got {type(data).__name__}")
    unknown = set(data) - set(SPEC_KEYS)
    if unknown:
        raise ConfigError(f"sweep spec: unknown keys {sorted(unknown)}; allowed: {', '.join(SPEC_KEYS)}")
    try:
        data = yaml.safe_load(yaml.safe_dump(data, sort_keys=False))  # deep copy, key order kept
    except (yaml.YAMLError, RecursionError) as exc:
        raise ConfigError(f"sweep spec: not plain YAML data ({exc.__class__.__name__})") from None
    q = data.get("quick") or {}
    if not isinstance(q, dict) or set(q) - set(QUICK_KEYS):
        raise ConfigError(f"sweep quick = {short(q)}: expected a mapping with keys among {', '.join(QUICK_KEYS)}")
    if quick and not q:
        raise ConfigError("--quick: this spec has no quick: section")
    base_raw = data.get("base")
    axes_raw = data.get("axes") or {}
    zip_raw = data.get("zip") or []
    seeds, pack_size = data.get("seeds", 1), data.get("pack_size", 4)
    if quick:
        base_raw = dict(base_raw or {})
        base_raw["set"] = {**(base_raw.get("set") or {}), **(q.get("set") or {})}
        axes_raw = {**axes_raw, **(q.get("axes") or {})}
        axes_raw = {k: v for k, v in axes_raw.items() if v is not None}
        zip_raw = q.get("zip", zip_raw) or []
        seeds, pack_size = q.get("seeds", seeds), q.get("pack_size", pack_size)
    if not isinstance(axes_raw, dict):
        raise ConfigError(f"sweep axes = {short(axes_raw)}: expected a mapping of dotted config keys to values")
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"sweep seeds = {short(seeds)}: expected an integer ≥ 1")
    if not isinstance(pack_size, int) or isinstance(pack_size, bool) or not 1 <= pack_size <= MAX_RUNS_CAP:
        raise ConfigError(f"sweep pack_size = {short(pack_size)}: expected an integer with 1 ≤ x ≤ {MAX_RUNS_CAP}")
    max_runs = data.get("max_runs", MAX_RUNS)
    if not isinstance(max_runs, int) or isinstance(max_runs, bool) or not 1 <= max_runs <= MAX_RUNS_CAP:
        raise ConfigError(f"sweep max_runs = {short(max_runs)}: expected an integer with 1 ≤ x ≤ {MAX_RUNS_CAP}")
    nm = data.get("name") or name or "sweep"
    if not isinstance(nm, str) or name_problem(nm):
        why = name_problem(nm) if isinstance(nm, str) else f"must be text, got {type(nm).__name__}"
        raise ConfigError(f"sweep name = {short(nm)}: {why} (it names the sweep directory)")
    batch = data.get("batch", True)
    if not isinstance(batch, bool):
        raise ConfigError(f"sweep batch = {short(batch)}: expected true or false")
    seed_keys = data.get("seed_keys", list(DEFAULT_SEED_KEYS))
    if not isinstance(seed_keys, list) or not seed_keys:
        raise ConfigError(f"sweep seed_keys = {short(seed_keys)}: expected a non-empty list of dotted seed keys")
    for k in seed_keys:
        _check_key(k, "sweep seed_keys entry")
        if not k.endswith("seed"):
            raise ConfigError(f"sweep seed_keys entry {short(k)}: not a seed key (names end in 'seed')")
    base = _base(base_raw, Path(root))
    axes: dict[str, list[Any]] = {}
    scales: dict[str, str] = {}
    for key, raw in axes_raw.items():
        _check_key(key, "sweep axis")
        axes[key], scales[key] = _values(key, raw, "sweep axis", max_runs)
    if not isinstance(zip_raw, list):
        raise ConfigError(f"sweep zip = {short(zip_raw)}: expected a list of groups {{key: [values], ...}}")
    zips: list[dict[str, list[Any]]] = []
    seen = set(axes)
    for gi, group in enumerate(zip_raw):
        if not isinstance(group, dict) or len(group) < 1:
            raise ConfigError(f"sweep zip[{gi}] = {short(group)}: expected a mapping of keys to "
                              "equal-length lists")
        g: dict[str, list[Any]] = {}
        for key, raw in group.items():
            _check_key(key, f"sweep zip[{gi}] axis")
            g[key], scales[key] = _values(key, raw, f"sweep zip[{gi}] axis", max_runs)
        lengths = {k: len(v) for k, v in g.items()}
        if len(set(lengths.values())) > 1:
            raise ConfigError(f"sweep zip[{gi}]: lists of unequal length {lengths}; zipped keys vary together "
                              f"and need the same number of values")
        zips.append(g)
    for key in [k for g in zips for k in g]:
        if key in seen:
            raise ConfigError(f"sweep axis {short(key)}: appears twice (in axes and/or zip groups)")
        seen.add(key)
    if seeds > 1:
        for k in seed_keys:
            if k in seen:
                raise ConfigError(f"sweep axis {short(k)}: is swept and also a seed key while seeds = {seeds}; "
                                  f"drop it from seed_keys or set seeds: 1")
    plots = data.get("plots") or []
    if not isinstance(plots, list) or not all(isinstance(p, dict) for p in plots):
        raise ConfigError(f"sweep plots = {short(plots)}: expected a list of mappings (heatmap/curves/collapse)")
    plots = [_british(p, i) for i, p in enumerate(plots)]
    for i, p in enumerate(plots):
        if "derived" in p:
            parse_expression(p["derived"], f"sweep plots[{i}].derived")
    spec = SweepSpec(name=nm, base=base, axes=axes, zip=zips, seeds=seeds, seed_keys=list(seed_keys),
                     plots=plots, pack_size=pack_size, batch=batch, quick=quick, scales=scales,
                     description=str(data.get("description") or ""), max_runs=max_runs)
    expand(spec)  # validate every resolved config before any work starts
    return spec


def _dotted_get(d: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        d = d[part]
    return d


def _fmt_point(point: dict[str, Any]) -> str:
    text = ", ".join(f"{k} = {short(v, 60)}" for k, v in point.items())
    return text if len(text) <= 300 else text[:300] + "…"


def count_runs(spec: SweepSpec) -> int:
    """Grid size before de-duplication: product of the axis sizes and zip lengths, times seeds."""
    sizes = [len(v) for v in spec.axes.values()] + [len(next(iter(g.values()))) for g in spec.zip]
    return math.prod(sizes) * spec.seeds


def expand(spec: SweepSpec) -> list[PlannedRun]:
    """Resolved runs in a fixed order: grid axes (first key slowest), then zip groups, then seeds.

    Points that resolve to the same config (same run id) are kept once. Grids of more than
    ``spec.max_runs`` points are refused before any is built.
    """
    n = count_runs(spec)
    if n > spec.max_runs:
        raise ConfigError(f"sweep {spec.name}: {n} runs (axes × zip groups × seeds); at most max_runs = "
                          f"{spec.max_runs} allowed (set max_runs: up to {MAX_RUNS_CAP} in the spec to "
                          "allow more)")
    factors: list[list[dict[str, Any]]] = [[{k: v} for v in vals] for k, vals in spec.axes.items()]
    for g in spec.zip:
        n = len(next(iter(g.values())))
        factors.append([{k: vals[i] for k, vals in g.items()} for i in range(n)])
    base_d = spec.base.to_dict()
    out: list[PlannedRun] = []
    seen: set[str] = set()
    from grokscope.store import run_id
    for combo in itertools.product(*factors):
        point: dict[str, Any] = {}
        for part in combo:
            point.update(part)
        for s in range(spec.seeds):
            over = dict(point)
            if spec.seeds > 1:
                for k in spec.seed_keys:
                    over[k] = _dotted_get(base_d, k) + s
            over["train.progress"] = False
            try:
                cfg = spec.base.replace(**over)
            except ConfigError as exc:
                raise ConfigError(f"sweep axis values {_fmt_point(point)}: {exc}") from None
            rid = run_id(cfg)
            if rid in seen:
                continue
            seen.add(rid)
            d = cfg.to_dict()
            axes = {k: _dotted_get(d, k) for k in spec.axes_keys}
            out.append(PlannedRun(rid, cfg, axes, s))
    return out


def spec_from_dict(d: dict[str, Any]) -> SweepSpec:
    """Read back the resolved spec written to sweep.yaml (no quick section applied twice)."""
    from grokscope.config import parse_config
    return SweepSpec(name=d["name"], base=parse_config(d["base"]), axes=d.get("axes") or {},
                     zip=d.get("zip") or [], seeds=d.get("seeds", 1),
                     seed_keys=d.get("seed_keys") or list(DEFAULT_SEED_KEYS), plots=d.get("plots") or [],
                     pack_size=d.get("pack_size", 4), batch=d.get("batch", True), quick=d.get("quick", False),
                     scales=d.get("scales") or {}, description=d.get("description") or "",
                     max_runs=d.get("max_runs", MAX_RUNS))


def specs_dir() -> Path:
    """The packaged figure specs (src/grokscope/config/specs/*.yaml; experiments/ links to them)."""
    return Path(__file__).resolve().parent.parent / "config" / "specs"


def spec_presets() -> list[str]:
    return sorted(p.stem for p in specs_dir().glob("*.yaml"))


def load_spec(source: str | os.PathLike[str] | None = None, *, preset: str | None = None,
              quick: bool = False) -> SweepSpec:
    """Spec from a YAML file or a packaged preset name (``fig3a``, ``fig3e``, ``fig7``, ``fig9``)."""
    if (source is None) == (preset is None):
        raise ConfigError("grokscope sweep: give either SPEC.yaml or --preset NAME")
    if preset is not None:
        path = specs_dir() / f"{preset}.yaml"
        if not path.is_file():
            raise ConfigError(f"--preset {short(preset)}: unknown sweep preset; available: "
                              f"{', '.join(spec_presets())}")
    else:
        path = Path(source)  # type: ignore[arg-type]
    data = read_yaml(path, "sweep spec")
    return parse_spec(data, quick=quick, root=path.parent, name=path.stem)


# --- derived expressions: numbers, dotted keys, + - * / **, unary ±, a few functions; no eval ---
EXPR_MAX_CHARS, EXPR_MAX_NODES, EXPR_MAX_DEPTH, EXPR_MAX_POWER = 500, 200, 32, 1000.0
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Pow: np.power,
    ast.Div: lambda a, b: np.where(np.asarray(b) == 0, np.nan, np.divide(a, b))}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: np.negative, ast.UAdd: np.positive}
_FUNCS = {"log": np.log, "log10": np.log10, "log2": np.log2, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


def parse_expression(expr: Any, where: str = "--derived") -> ast.Expression:
    """Parse and check a derived expression: ≤ 500 characters, ≤ 200 nodes, depth ≤ 32, allowed
    operations only, and constant exponents |p| ≤ 1000 (checked with every key set to 1)."""
    if not isinstance(expr, str) or not expr.strip() or len(expr) > EXPR_MAX_CHARS:
        raise ConfigError(f"{where} {short(expr)}: expected an expression of 1 to {EXPR_MAX_CHARS} characters")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise ConfigError(f"{where} {short(expr)}: not an arithmetic expression "
                          f"({getattr(exc, 'msg', None) or exc.__class__.__name__})") from None
    stack, count = [(tree.body, 1)], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > EXPR_MAX_NODES or depth > EXPR_MAX_DEPTH:
            raise ConfigError(f"{where} {short(expr)}: too large (at most {EXPR_MAX_NODES} terms, nesting depth "
                              f"{EXPR_MAX_DEPTH})")
        if (isinstance(node, ast.Constant) and isinstance(node.value, (int, float))
                and not isinstance(node.value, bool)) or _dotted(node) is not None:
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            stack += [(node.left, depth + 1), (node.right, depth + 1)]
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            stack.append((node.operand, depth + 1))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
              and len(node.args) == 1 and not node.keywords):
            stack.append((node.args[0], depth + 1))
        else:
            raise ConfigError(f"{where} {short(expr)}: {short(ast.unparse(node), 80)} is not allowed; use "
                              f"numbers, dotted config keys, + - * / ** and {', '.join(_FUNCS)}")
    with np.errstate(all="ignore"):
        _eval(tree.body, lambda key: np.ones(1), expr, where)
    return tree


def _eval(node: ast.AST, column: Callable[[str], Any], expr: str, where: str) -> np.ndarray:
    if isinstance(node, ast.Constant):
        value = _float(node.value)
        if not math.isfinite(value):
            raise ConfigError(f"{where} {short(expr)}: the number {short(node.value, 40)} is too large")
        return np.asarray(value)
    key = _dotted(node)
    if key is not None:
        return np.asarray(column(key), dtype=float)
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, column, expr, where), _eval(node.right, column, expr, where)
        if isinstance(node.op, ast.Pow) and np.any(np.abs(right[np.isfinite(right)]) > EXPR_MAX_POWER):
            raise ConfigError(f"{where} {short(expr)}: exponent {short(ast.unparse(node.right), 40)} = "
                              f"{np.nanmax(np.abs(right)):g}; |exponent| ≤ {EXPR_MAX_POWER:g} allowed")
        return np.asarray(_BINOPS[type(node.op)](left, right), dtype=float)
    if isinstance(node, ast.UnaryOp):
        return np.asarray(_UNARY[type(node.op)](_eval(node.operand, column, expr, where)), dtype=float)
    return np.asarray(_FUNCS[node.func.id](_eval(node.args[0], column, expr, where)), dtype=float)  # type: ignore


def evaluate_expression(expr: str, column: Callable[[str], Any], where: str = "--derived") -> np.ndarray:
    """Value of a checked derived expression; ``column(key)`` gives a key's values (1-d array).
    Overflow gives ±inf, x/0 and invalid operations NaN; never an exception but ConfigError."""
    tree = parse_expression(expr, where)
    with np.errstate(all="ignore"):
        return _eval(tree.body, column, expr, where)
