"""Command line: ``grokscope run|demo|show|theory|sweep|plot|presets|report|ls|compare|export``.

Flags are spelt the British way (``--colour``, ``--normalise``); the American ``--color`` and
``--normalize`` are deprecated aliases that still work and print a warning naming the new flag."""
from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from grokscope.config import ConfigError, dump_config, load_config


def _config_from_args(args: argparse.Namespace):
    from grokscope.config.presets import get_preset
    if args.config and args.preset:
        raise ConfigError("give either CONFIG.yaml or --preset, not both")
    source = get_preset(args.preset) if args.preset else (args.config or {})
    cfg = load_config(source, list(getattr(args, "defaults", [])) + (args.set or []))
    over = {}
    if args.out:
        over["output.root"] = args.out
    if args.name:
        over["output.name"] = args.name
    if args.no_progress:
        over["train.progress"] = False
    return cfg.replace(**over) if over else cfg


def _label(args: argparse.Namespace) -> str:
    if args.preset:
        return args.preset
    return Path(args.config).stem if args.config else "run"


def _run_dir(args: argparse.Namespace, cfg) -> Path:
    """Where ``grokscope run`` writes: a run directory's own saved config.yaml, given again without
    --out/--name/--set, names that directory; otherwise output.root / (output.name or label-hash)."""
    from grokscope.store import is_run_dir
    from grokscope.training.loop import default_run_dir
    if args.config and not (args.out or args.name or args.set):
        saved = Path(args.config)
        if saved.name == "config.yaml" and is_run_dir(saved.parent):
            return saved.parent
    return default_run_dir(cfg, _label(args))


def cmd_run(args: argparse.Namespace) -> int:
    from grokscope.api import run
    from grokscope.store import check_target
    from grokscope.training import checkpoint
    from grokscope.training.build import build
    from grokscope.views.summary_text import summary_lines
    cfg = _config_from_args(args)
    if args.dry_run:
        build(cfg)  # validates data files, sizes and probes without training
        print(dump_config(cfg), end="")
        return 0
    path = _run_dir(args, cfg)
    done = check_target(path, cfg, args.force)  # another config's run there: an error naming both hashes
    if done is not None:
        print(f"{path} is already complete for this exact config (use --force to run it again)")
        print("\n".join(summary_lines(done)))
        _demo_seed_line(args, done)
        return 0
    saved = None if args.force else checkpoint.load(path)
    resuming = f" (resuming from step {saved['step']})" if saved else ""
    print(f"grokscope: writing {path}{resuming}", file=sys.stderr)
    try:
        result = run(cfg, path, label=_label(args), threads=args.threads, force=args.force)
    except KeyboardInterrupt:
        print(f"\ninterrupted: partial results kept in {path} (`grokscope show {path}`)", file=sys.stderr)
        return 130
    print("\n".join(summary_lines(result)))
    _demo_seed_line(args, result)
    return 0 if result.status == "completed" else 3


def _demo_seed_line(args: argparse.Namespace, result) -> None:
    """`grokscope demo`: one line placing this draw's t_test(0.1) among the packaged seeds (docs/seeds.md)."""
    if getattr(args, "cmd", None) == "demo" and (result.summary or {}).get("events"):
        from grokscope.diagnostics.events import load_seed_table, seed_spread_line
        line = seed_spread_line(result.summary["events"], result.config.to_dict(), load_seed_table())
        if line:
            print(line)


SHOW_EXIT = {"completed": 0, "diverged": 3, "interrupted": 3, "failed": 3, "incomplete": 4}


def cmd_show(args: argparse.Namespace) -> int:
    """Exit status: 0 completed; 3 diverged, interrupted or failed; 4 incomplete (killed); 2 bad input."""
    from grokscope.store import load_run
    from grokscope.views.summary_text import summary_lines
    r = load_run(args.run_dir)
    code = SHOW_EXIT.get(r.status, 3)
    if args.json:
        _print_json({"path": str(r.path), "status": r.status, "summary": r.summary,
                     "config": r.config.to_dict(), "rows": len(r.metrics)})
        return code
    if r.summary is None:
        n = len(r.metrics)
        last = int(r.metrics["step"].iloc[-1]) if n else 0
        print(f"run {r.path}  status: incomplete (no summary.json: the process was killed); "
              f"{n} logged rows up to step {last}")
        return code
    print("\n".join(summary_lines(r)))
    return code


def _print_json(obj) -> None:
    import json
    print(json.dumps(obj, indent=2, default=str, allow_nan=True))


def cmd_theory(args: argparse.Namespace) -> int:
    import json

    from grokscope.views.theory_report import format_theory, theory_report
    if args.run:
        if args.config or args.preset or args.set:
            raise ConfigError("theory --run RUN_DIR uses the run's own config: give no CONFIG, --preset or --set")
        from grokscope.store import load_run
        from grokscope.views.theory_overlay import overlay_data, save_theory_figure
        run = load_run(args.run)
        try:
            data = overlay_data(run)
        except ValueError as exc:
            raise ConfigError(f"theory --run {args.run}: {exc}") from None
        rep = data["report"]
        path = save_theory_figure(run, data)
    elif args.asymptotic:
        from grokscope.views.theory_asymptotic import asymptotic_report, format_asymptotic
        rep = asymptotic_report(_config_from_args(args))
        print(json.dumps(rep, indent=2, default=str) if args.json else "\n".join(format_asymptotic(rep)))
        return 0
    else:
        rep, path = theory_report(_config_from_args(args)), None
    if args.json:
        print(json.dumps(rep, indent=2, default=str))
    else:
        print("\n".join(format_theory(rep)))
    if path is not None:
        print(f"theory curves over the run: {path}", file=sys.stderr)
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    import yaml

    from grokscope.config.presets import DESCRIPTIONS, PRESETS
    from grokscope.sweep.spec import spec_presets, specs_dir
    runs = {name: DESCRIPTIONS.get(name, "") for name in PRESETS}
    sweeps = {name: (yaml.safe_load((specs_dir() / f"{name}.yaml").read_text()) or {}).get("description", "")
              for name in spec_presets()}
    if args.json:
        _print_json({"runs": runs, "sweeps": sweeps})
        return 0
    width = max(map(len, [*runs, *sweeps])) + 2
    print("runs (grokscope run --preset NAME):")
    for name, doc in runs.items():
        print(f"  {name:{width}s}{doc}".rstrip())
    print("sweeps (grokscope sweep --preset NAME [--quick]):")
    for name, doc in sweeps.items():
        print(f"  {name:{width}s}{doc}".rstrip())
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from grokscope.sweep.runner import default_sweep_dir, run_sweep, status_counts
    from grokscope.sweep.spec import expand, load_spec
    spec = load_spec(args.spec, preset=args.preset, quick=args.quick)
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: must be ≥ 1")
    if args.address and args.backend != "ray":
        raise ConfigError(f"--address {args.address!r}: only used with --backend ray (got --backend {args.backend})")
    out = Path(args.out) if args.out else default_sweep_dir(spec)
    if args.dry_run:
        plan = expand(spec)
        print(f"sweep {spec.name}{' (quick)' if spec.quick else ''}: {len(plan)} runs -> {out}")
        for k, vals in spec.axes.items():
            print(f"  axis {k} ({spec.scales.get(k, 'lin')}): {vals}")
        for i, g in enumerate(spec.zip):
            for k, vals in g.items():
                print(f"  zip[{i}] {k}: {vals}")
        if spec.seeds > 1:
            print(f"  seeds: {spec.seeds} (varying {', '.join(spec.seed_keys)})")
        return 0
    print(f"grokscope: sweep {spec.name}: writing {out}", file=sys.stderr)
    try:
        df = run_sweep(spec, out, backend=args.backend, workers=args.workers, address=args.address,
                       progress=not args.no_progress, threads=args.threads)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished runs are kept in {out}; run the same command again to resume",
              file=sys.stderr)
        return 130
    counts = status_counts(df)
    print(f"sweep {spec.name}: {len(df)} runs ({', '.join(f'{v} {k}' for k, v in counts.items())}); "
          f"results in {out / 'results.parquet'}")
    if spec.plots:
        from grokscope.sweep.views import draw
        try:
            with _printed_deprecations():
                paths = draw(out, spec.plots)
            for p in paths:
                print(f"figure: {p}")
        except ConfigError as exc:
            print(f"grokscope: note: default plots not drawn: {exc}", file=sys.stderr)
    return 0 if counts.get("failed", 0) == 0 else 3


# deprecated flag (its argparse dest) → the flag that replaces it
DEPRECATED_FLAGS = {"color_deprecated": ("--color", "--colour", "colour"),
                    "normalize_deprecated": ("--normalize", "--normalise", "normalise")}


def _deprecation_note(message: str) -> None:
    """A deprecation: printed to stderr (always seen on the command line) and raised as a
    DeprecationWarning (seen by tests and by callers of :func:`main`)."""
    print(f"grokscope: warning: {message}", file=sys.stderr)
    warnings.warn(message, DeprecationWarning, stacklevel=3)


def _deprecated_flags(args: argparse.Namespace) -> None:
    """Move each deprecated flag's value to its new flag's dest, with a warning naming the new flag."""
    for dest, (old, new, new_dest) in DEPRECATED_FLAGS.items():
        old_value = getattr(args, dest, None)
        if old_value in (None, False):
            continue
        _deprecation_note(f"{old} is deprecated (American spelling); use {new}")
        given = getattr(args, new_dest, None)
        if given not in (None, False) and given != old_value:
            raise ConfigError(f"{old} (deprecated) and {new} given with different values; give {new} only")
        setattr(args, new_dest, old_value)


@contextmanager
def _printed_deprecations() -> Iterator[None]:
    """Print the DeprecationWarnings raised inside (e.g. a sweep spec's ``color:`` plot key) to stderr,
    then raise them again for callers that watch warnings."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DeprecationWarning)
            yield
    finally:  # also when the views then fail: the warning may say why
        for w in caught:
            if issubclass(w.category, DeprecationWarning) and str(w.message).startswith("grokscope:"):
                print(f"grokscope: warning: {str(w.message).removeprefix('grokscope: ')}", file=sys.stderr)
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def cmd_plot(args: argparse.Namespace) -> int:
    from grokscope.store import is_run_dir
    _deprecated_flags(args)
    if is_run_dir(args.dir):
        return _plot_run(args)
    from grokscope.sweep.runner import load_sweep
    from grokscope.sweep.views import draw
    spec, _ = load_sweep(args.dir)
    if args.force:
        raise ConfigError("grokscope plot: --force is for a run directory (sweep views are always redrawn)")
    views = []
    if args.heatmap:
        views.append({"heatmap": args.heatmap, "x": args.x, "y": args.y,
                      **({"theory": args.theory} if args.theory else {})})
    if args.curves:
        views.append({"curves": args.curves, "colour": args.colour, "normalise": args.normalise})
    if args.collapse:
        views.append({"collapse": args.collapse, "derived": args.derived, "colour": args.colour})
    if not views:
        views = spec.plots
    if not views:
        raise ConfigError("grokscope plot: this sweep's spec has no plots:; give --heatmap COL --x KEY --y KEY, "
                          "--curves METRIC --colour KEY or --collapse COL --derived EXPR")
    with _printed_deprecations():
        paths = draw(args.dir, views)
    for p in paths:
        print(f"figure: {p}")
    return 0


def _plot_run(args: argparse.Namespace) -> int:
    """``grokscope plot RUN_DIR [--force]``: bring the run's own figures (figures/*.png) up to date with
    its stored metrics: draw the missing or stale ones (all with ``--force``)."""
    from grokscope.store import load_run
    from grokscope.views.plots import update_run_figures
    sweep_only = [f for f, v in (("--heatmap", args.heatmap), ("--curves", args.curves), ("--collapse", args.collapse),
                                 ("--x", args.x), ("--y", args.y), ("--colour", args.colour),
                                 ("--normalise", args.normalise), ("--derived", args.derived),
                                 ("--theory", args.theory)) if v]
    if sweep_only:
        raise ConfigError(f"grokscope plot {args.dir}: {', '.join(sweep_only)} draw sweep views; {args.dir!r} is a "
                          "run directory, whose own figures `grokscope plot RUN_DIR [--force]` draws")
    run = load_run(args.dir)
    if not len(run.metrics):
        raise ConfigError(f"grokscope plot {args.dir}: the run has logged no metrics yet: nothing to draw")
    for rel, drawn in update_run_figures(run, force=args.force):
        print(f"figure: {Path(args.dir) / rel}" + ("" if drawn else "  (up to date)"))
    return 0


def _add_run_args(p: argparse.ArgumentParser, with_config: bool = True) -> None:
    if with_config:
        p.add_argument("config", nargs="?", help="YAML config file")
        p.add_argument("--preset", help="named config (see `grokscope presets`)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="dotted override, e.g. model.N=1000")
    p.add_argument("--out", help="root folder for run directories (default: runs)")
    p.add_argument("--name", help="run directory name (default: label-<config hash>)")
    p.add_argument("--force", action="store_true", help="rerun even if this config already completed")
    p.add_argument("--dry-run", action="store_true", help="validate and print the resolved config")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=_threads, default="auto",
                   help="CPU threads for the whole run, probes included: auto (default: the cores no other "
                        "process keeps busy, re-read at every probe point) or a number from 1 to 1024")


def _threads(text: str) -> int | str:
    """``--threads`` value: auto, or an integer from 1 to 1024."""
    if text == "auto":
        return text
    try:
        n = int(text)
        if n > 1024:
            raise ValueError
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--threads = {text!r}: allowed are auto or an integer from 1 to 1024")
    return n


def _worker_threads(text: str) -> int:
    """A sweep's ``--threads`` (torch threads per worker): an integer from 1 to 1024."""
    n = _threads(text)
    if n == "auto":
        raise argparse.ArgumentTypeError("--threads = 'auto': a sweep takes an integer from 1 to 1024 "
                                         "(threads per worker; each run then uses them)")
    return n


def cmd_report(args: argparse.Namespace) -> int:
    from grokscope.views.report import write_report
    print(write_report(args.dir))
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from grokscope.views.browse import LS_COLUMNS, format_table, list_entries
    rows = list_entries(args.dir)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print(f"no runs or sweeps under {args.dir}")
        return 0
    print(format_table(rows, LS_COLUMNS))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from grokscope.views.browse import compare_figure, compare_table, load_runs
    runs = load_runs(args.runs)
    if args.json:
        from grokscope.views.table import run_row
        _print_json([run_row(r) | {"path": str(r.path)} for r in runs])
        return 0
    out = compare_figure(runs, args.out)
    print(compare_table(runs))
    print(f"figure: {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from grokscope.training.exporters import export_run
    print(f"exported {args.run_dir} to {args.to}: {export_run(args.run_dir, args.to, args.uri)}")
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from grokscope.store import load_run
    from grokscope.views.monitor import monitor_lines
    lines = monitor_lines(load_run(args.run_dir).metrics, args.signal, with_score=args.score)
    print("\n".join(lines))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with “did you mean” for a mistyped subcommand or flag."""

    def error(self, message: str) -> None:  # type: ignore[override]
        import re

        from grokscope.config.suggest import did_you_mean
        bad = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if bad:
            message += did_you_mean(bad.group(1), re.findall(r"'([^']*)'", bad.group(2)))
        unknown = re.search(r"unrecognized arguments: (.*)", message)
        if unknown:
            flags = sorted({o for p in _all_parsers(self) for a in p._actions for o in a.option_strings})
            for word in unknown.group(1).split():
                if word.startswith("-"):
                    message += did_you_mean(word.split("=")[0], flags)
        super().error(message)


def _all_parsers(p: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    return [p] + [q for s in subs for q in s.choices.values()]


def make_parser() -> argparse.ArgumentParser:
    from grokscope.sweep.spec import spec_presets
    from grokscope.version import __version__
    ap = _Parser(prog="grokscope", description="Grokking as the lazy → rich transition.")
    ap.add_argument("--version", action="version", version=f"grokscope {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    p = sub.add_parser("run", help="train one config (YAML file or --preset)")
    _add_run_args(p)
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("demo", help="the paper's Figure 1 experiment (= run --preset fig1 --set "
                                    "train.dtype=float32)")
    _add_run_args(p, with_config=False)
    # float32 like the paper's JAX code, its training 1.4–3× faster in our runs; the events are the float64
    # run's to the step (README, Performance). `--set train.dtype=float64` gives double precision.
    p.set_defaults(fn=cmd_run, config=None, preset="fig1", defaults=["train.dtype=float32"])
    p = sub.add_parser("show", help="print a run's summary (exit status 0 completed, 3 diverged/interrupted/"
                                    "failed, 4 incomplete)")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true", help="the summary, config and status as JSON")
    p.set_defaults(fn=cmd_show)
    p = sub.add_parser("theory", help="kernel spectrum, sample-complexity window, time scales, grok verdict")
    p.add_argument("config", nargs="?", help="YAML config file")
    p.add_argument("--preset", help="named config (see `grokscope presets`)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="dotted override")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--asymptotic", action="store_true",
                   help="the finite-sample-ratio theory (docs/theory-asymptotic.md): lazy floor, feature-escape "
                        "budget, predicted crossings")
    p.add_argument("--run", metavar="RUN_DIR",
                   help="use a finished run's config and draw the theory curves over it (figures/theory.png)")
    p.set_defaults(fn=cmd_theory, out=None, name=None, no_progress=False)
    import textwrap
    names = ", ".join(spec_presets())
    listed = textwrap.fill(names, 88, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False,
                           break_long_words=False)  # argparse's own wrapping would split liu-rank at its hyphen
    p = sub.add_parser("sweep", help="run or resume a grid of configs (SPEC.yaml or --preset NAME)",
                       epilog=f"packaged sweep specs (--preset):\n{listed}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", nargs="?", help="sweep spec YAML")
    p.add_argument("--preset", help="packaged sweep spec (listed below)")
    p.add_argument("--quick", action="store_true", help="the spec's quick: variant (minutes on 2 CPU cores)")
    p.add_argument("--backend", default="local", choices=["local", "process", "ray"])
    p.add_argument("--workers", type=int, help="parallel workers (process, ray; default: all cores)")
    p.add_argument("--address", help="Ray cluster address (default: start a local Ray instance)")
    p.add_argument("--threads", type=_worker_threads, help="torch threads per worker (small runs are fastest with 1)")
    p.add_argument("--out", help="sweep directory (default: sweeps/<name>[-quick])")
    p.add_argument("--dry-run", action="store_true", help="print the number of runs and the axes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(fn=cmd_sweep)
    p = sub.add_parser("plot", help="phase diagrams and curves of a sweep directory, or a run's own figures")
    p.add_argument("dir", metavar="DIR", help="a sweep directory, or a run directory (draws its figures/ that "
                                              "are missing or older than its metrics)")
    p.add_argument("--force", action="store_true", help="run directory: redraw every figure, even up-to-date ones")
    p.add_argument("--heatmap", metavar="COL", help="results column to draw over --x and --y")
    p.add_argument("--x", metavar="KEY")
    p.add_argument("--y", metavar="KEY")
    p.add_argument("--theory", choices=["boundary"], help="heatmap over two of scaling.alpha, model.eps, task.P: "
                   "draw the asymptotic theory's generalisation and grokking edges (docs/theory-asymptotic.md §5)")
    p.add_argument("--curves", metavar="METRIC", help="metric against steps, one line per run")
    p.add_argument("--colour", metavar="KEY", help="axis colouring curves / collapse points")
    p.add_argument("--normalise", action="store_true", help="curves divided by their step-0 value")
    p.add_argument("--color", dest="color_deprecated", metavar="KEY", help="deprecated spelling of --colour")
    p.add_argument("--normalize", dest="normalize_deprecated", action="store_true",
                   help="deprecated spelling of --normalise")
    p.add_argument("--collapse", metavar="COL", help="results column against --derived")
    p.add_argument("--derived", metavar="EXPR", help="expression of config keys, e.g. model.sigma**2*scaling.alpha")
    p.set_defaults(fn=cmd_plot)
    p = sub.add_parser("presets", help="list named configs")
    p.add_argument("--json", action="store_true", help='{"runs": {name: description}, "sweeps": {...}}')
    p.set_defaults(fn=cmd_presets)
    p = sub.add_parser("report", help="write DIR/report.html for a run or a sweep directory")
    p.add_argument("dir")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("ls", help="table of the runs and sweeps under DIR (default: runs)")
    p.add_argument("dir", nargs="?", default="runs")
    p.add_argument("--json", action="store_true", help="one object per run or sweep (the table's columns)")
    p.set_defaults(fn=cmd_ls)
    p = sub.add_parser("compare", help="overlay several runs' loss curves and print their summaries side by side")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--out", default="compare.png", help="figure path (default: compare.png)")
    p.add_argument("--json", action="store_true", help="one object per run (the ls columns and its path); no figure")
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser("export", help="send a run's metrics to TensorBoard, MLflow or W&B (offline)")
    p.add_argument("run_dir")
    p.add_argument("--to", required=True, choices=["tensorboard", "mlflow", "wandb"])
    p.add_argument("--uri", help="TensorBoard logdir, MLflow tracking URI, or W&B directory")
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("monitor", help="estimate a run's onset of generalisation from train-only signals "
                       "(the pathways probe), with the method's measured uncertainty")
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument("--signal", help="train-only metric column (default: the run's calibrated signal with the "
                   "narrowest measured lead range, docs/train-only-monitor.md)")
    p.add_argument("--score", action="store_true", help="also score every signal against the run's test accuracy")
    p.set_defaults(fn=cmd_monitor)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except (ConfigError, FileNotFoundError) as exc:
        print(f"grokscope: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `grokscope ls | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _ordinary_exit_needed() -> bool:
    """Whether :func:`entry` must leave through ``sys.exit``: a non-daemon thread is alive (the ordinary
    exit waits for it; daemon threads such as tqdm's monitor are stopped by either exit) or a profiler
    or tracer is set (``python -m cProfile -m grokscope.cli …`` writes its profile after the module
    returns)."""
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return True
    return sys.getprofile() is not None or sys.gettrace() is not None


def entry() -> None:
    """Console entry point: :func:`main`, then exit without tearing the interpreter down.

    Finalising a process that imported torch, pandas and matplotlib (module teardown, then C++ static
    destructors) took 1–2.7 s here, as long as many commands take to run. The exit handlers still
    run first (``atexit``: logging, multiprocessing, Ray, ``weakref.finalize`` such as temporary
    folders) and both streams are flushed; every file grokscope writes is closed (atomic writes) by
    then. The ordinary exit is taken when :func:`_ordinary_exit_needed`. An exception from ``main``
    propagates as usual (traceback, exit status 1)."""
    code = main()
    if _ordinary_exit_needed():
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed pipe (`grokscope … | head`), or closed
            code = code or 120  # what CPython exits with when flushing stdout fails
    os._exit(code)


if __name__ == "__main__":
    entry()
