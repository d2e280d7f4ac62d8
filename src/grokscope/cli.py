"""Command line: ``grokscope run|demo|show|presets``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grokscope.config import ConfigError, dump_config, load_config


def _config_from_args(args: argparse.Namespace):
    from grokscope.presets import get_preset
    if args.config and args.preset:
        raise ConfigError("give either CONFIG.yaml or --preset, not both")
    source = get_preset(args.preset) if args.preset else (args.config or {})
    cfg = load_config(source, args.set or [])
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


def cmd_run(args: argparse.Namespace) -> int:
    from grokscope.store import is_complete, load_run
    from grokscope.train import build, default_run_dir, run, summary_lines
    cfg = _config_from_args(args)
    if args.dry_run:
        build(cfg)  # validates data files, sizes and probes without training
        print(dump_config(cfg), end="")
        return 0
    path = default_run_dir(cfg, _label(args))
    if is_complete(path) and not args.force:
        print(f"{path} is already complete for this exact config (use --force to run it again)")
        print("\n".join(summary_lines(load_run(path))))
        return 0
    print(f"grokscope: writing {path}", file=sys.stderr)
    try:
        result = run(cfg, path, label=_label(args))
    except KeyboardInterrupt:
        print(f"\ninterrupted: partial results kept in {path} (`grokscope show {path}`)", file=sys.stderr)
        return 130
    print("\n".join(summary_lines(result)))
    return 0 if result.status == "completed" else 3


def cmd_show(args: argparse.Namespace) -> int:
    from grokscope.store import load_run
    from grokscope.train import summary_lines
    r = load_run(args.run_dir)
    if r.summary is None:
        n = len(r.metrics)
        last = int(r.metrics["step"].iloc[-1]) if n else 0
        print(f"run {r.path}  status: incomplete (no summary.json: the process was killed); "
              f"{n} logged rows up to step {last}")
        return 0
    print("\n".join(summary_lines(r)))
    return 0


def cmd_theory(args: argparse.Namespace) -> int:
    import json

    from grokscope.theory.summary import format_theory, theory_report
    cfg = _config_from_args(args)
    rep = theory_report(cfg)
    if args.json:
        print(json.dumps(rep, indent=2, default=str))
    else:
        print("\n".join(format_theory(rep)))
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from grokscope.presets import DESCRIPTIONS, PRESETS
    for name in PRESETS:
        print(f"{name:10s} {DESCRIPTIONS.get(name, '')}")
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


def cmd_report(args: argparse.Namespace) -> int:
    from grokscope.report import write_report
    print(write_report(args.dir))
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from grokscope.browse import LS_COLUMNS, format_table, list_entries
    rows = list_entries(args.dir)
    if not rows:
        print(f"no runs or sweeps under {args.dir}")
        return 0
    print(format_table(rows, LS_COLUMNS))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from grokscope.browse import compare_figure, compare_table, load_runs
    runs = load_runs(args.runs)
    out = compare_figure(runs, args.out)
    print(compare_table(runs))
    print(f"figure: {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from grokscope.exporters import export_run
    print(f"exported {args.run_dir} to {args.to}: {export_run(args.run_dir, args.to, args.uri)}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="grokscope", description="Grokking as the lazy → rich transition.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="train one config (YAML file or --preset)")
    _add_run_args(p)
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("demo", help="the paper's Figure 1 experiment (= run --preset fig1)")
    _add_run_args(p, with_config=False)
    p.set_defaults(fn=cmd_run, config=None, preset="fig1")
    p = sub.add_parser("show", help="print a run's summary")
    p.add_argument("run_dir")
    p.set_defaults(fn=cmd_show)
    p = sub.add_parser("theory", help="kernel spectrum, sample-complexity window, time scales, grok verdict")
    p.add_argument("config", nargs="?", help="YAML config file")
    p.add_argument("--preset", help="named config (see `grokscope presets`)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="dotted override")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(fn=cmd_theory, out=None, name=None, no_progress=False)
    p = sub.add_parser("presets", help="list named configs")
    p.set_defaults(fn=cmd_presets)
    p = sub.add_parser("report", help="write DIR/report.html for a run or a sweep directory")
    p.add_argument("dir")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("ls", help="table of the runs and sweeps under DIR (default: runs)")
    p.add_argument("dir", nargs="?", default="runs")
    p.set_defaults(fn=cmd_ls)
    p = sub.add_parser("compare", help="overlay several runs' loss curves and print their summaries side by side")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--out", default="compare.png", help="figure path (default: compare.png)")
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser("export", help="send a run's metrics to TensorBoard, MLflow or W&B (offline)")
    p.add_argument("run_dir")
    p.add_argument("--to", required=True, choices=["tensorboard", "mlflow", "wandb"])
    p.add_argument("--uri", help="TensorBoard logdir, MLflow tracking URI, or W&B directory")
    p.set_defaults(fn=cmd_export)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except ConfigError as exc:
        print(f"grokscope: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
