"""The command line: demo, open, validate, rank, export.

Errors from user input end the command with one line on stderr and a non-zero
exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from labeltui import __version__
from labeltui.errors import LoadError


def _progress_printer(enabled: bool):
    if not enabled:
        return None

    def show(message: str, fraction: float) -> None:
        print(f"\r\x1b[2K{fraction:4.0%} {message}", end="", file=sys.stderr, flush=True)
        if fraction >= 1.0:
            print("\r\x1b[2K", end="", file=sys.stderr, flush=True)

    return show


def _load_config(path: str):
    from labeltui.config import load_config

    return load_config(path)


def cmd_validate(args: argparse.Namespace) -> int:
    from labeltui.load import load_run
    from labeltui.summary import render_validation

    config = _load_config(args.config)
    run = load_run(config, _progress_printer(sys.stderr.isatty()))
    print(render_validation(run, config))
    return 0


def _ranked(args: argparse.Namespace, config):
    """Scores and the view (index array) the filter and sort arguments select."""
    from labeltui.engine.query import apply_query
    from labeltui.pipeline import scores_for

    scored = scores_for(config, _progress_printer(sys.stderr.isatty()), use_cache=not args.no_cache)
    return scored, apply_query(scored.scores, args.filter, args.sort)


def cmd_rank(args: argparse.Namespace) -> int:
    from labeltui.report import write_ranking
    from labeltui.scores_dir import is_scores_dir, write_scores_ranking

    if is_scores_dir(args.config):  # reads only the columns the filter and sort need, then the printed rows
        write_scores_ranking(args.config, args.filter, args.sort, args.top, args.format, sys.stdout)
        return 0
    config = _load_config(args.config)
    scored, view = _ranked(args, config)
    if args.top is not None:
        view = view[: args.top]
    write_ranking(scored.scores, view, args.format, sys.stdout, title=config.name)
    return 0


def _ranked_scores_dir(args: argparse.Namespace):
    """A scores folder's run config, the columns an export and the filter and
    sort need (read from the parts, nothing else), and the view they select."""
    import pandas as pd

    from labeltui.engine.query import apply_query, compile_filter, parse_sort_key
    from labeltui.scores_dir import ScoresDir, run_config

    source = ScoresDir(args.config)
    config, _ = run_config(source)  # without a readable run config: the store kept in the scores folder
    kinds = source.dtypes()
    need = {"global_key", "issue", parse_sort_key(args.sort, kinds)[0]}
    if args.filter:
        need |= set(compile_filter(args.filter, kinds).columns)
    columns = ["data_row_id", "score", *(c for c in kinds if c in need)]  # the first two must be there
    table = pd.DataFrame(source.read_columns(columns), copy=False)
    return config, table, apply_query(table, args.filter, args.sort)


def cmd_export(args: argparse.Namespace) -> int:
    from labeltui.exporting import export_batch
    from labeltui.scores_dir import is_scores_dir

    if is_scores_dir(args.config):
        config, table, view = _ranked_scores_dir(args)
    else:
        config = _load_config(args.config)
        scored, view = _ranked(args, config)
        table = scored.scores
    written, n = export_batch(
        config,
        table,
        view,
        output=Path(args.output),
        fmt=args.format,
        name=args.name,
        priority=args.priority,
        verdict=args.verdict,
        selected=args.selected,
        top=args.top,
        filter_expr=args.filter,
        sort=args.sort,
        force=args.force,
    )
    for path in written:
        print(f"wrote {n} rows to {path}" if len(written) == 1 else f"wrote {path}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from labeltui.convert import convert

    config = _load_config(args.config)
    manifest = convert(
        config,
        Path(args.output),
        rows_per_part=args.rows_per_part,
        force=args.force,
        progress=_progress_printer(sys.stderr.isatty()),
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(f"wrote sharded run {manifest.parent}; open it with: labeltui open {manifest.parent / 'run.yaml'}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    config = _load_config(args.config)
    out = Path(args.output)
    start = time.perf_counter()
    if args.engine == "dask":
        from labeltui.distributed import print_progress, score_on_dask

        info = score_on_dask(config, out, scheduler=args.scheduler, partitions=args.partitions,
                             workers=args.workers, force=args.force, progress=print_progress)
    else:
        if args.scheduler or args.partitions or args.workers:
            raise LoadError("--scheduler, --partitions and --workers need --engine dask")
        from labeltui.score_output import score_locally

        info = score_locally(config, out, rows_per_part=args.rows_per_part, force=args.force,
                             use_cache=not args.no_cache, progress=_progress_printer(sys.stderr.isatty()))
    took = time.perf_counter() - start
    print(f"scored {info['n_rows']:,} rows in {took:.1f} s ({info['n_rows'] / max(took, 1e-9):,.0f} rows/s) "
          f"with the {args.engine} engine into {out}; open it with: labeltui open {out}")
    return 0


def demo_config(task: str, folder: Path | None) -> Path:
    """The config of a demo run: the bundled copy in a source checkout, else one
    generated (once) into ``folder`` or the user's cache folder."""
    from labeltui.demo import write_demo

    if folder is None:
        bundled = Path(__file__).resolve().parent.parent / "demo" / task / "run.yaml"
        if bundled.exists():
            return bundled
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        folder = cache / "labeltui" / f"demo-{__version__}"
        existing = folder / task / "run.yaml"
        if existing.exists():
            return existing
    return write_demo(task, folder / task)


def _open_app(config_path: str, reviewer: str | None = None, use_cache: bool = True) -> int:
    from labeltui.tui import LabelTuiApp

    app = LabelTuiApp(config_path, reviewer=reviewer, use_cache=use_cache)
    app.run()
    if app.load_error:
        print(f"labeltui: error: {app.load_error}", file=sys.stderr)
    return app.return_code or 0


def cmd_open(args: argparse.Namespace) -> int:
    if not Path(args.config).exists():  # before the app takes over the terminal
        raise LoadError(f"{args.config}: no such file or folder; give a run's config YAML or a scores folder")
    return _open_app(args.config, reviewer=args.reviewer, use_cache=not args.no_cache)


def _run_demos(task: str, folder: Path | None) -> int:
    """The demo app; ``d`` (or the palette) closes one demo and opens the next."""
    from labeltui.demo import TASKS
    from labeltui.tui import LabelTuiApp

    while True:
        app = LabelTuiApp(str(demo_config(task, folder)), demos=TASKS)
        app.run()
        if app.load_error:
            print(f"labeltui: error: {app.load_error}", file=sys.stderr)
        if app.next_demo is None:
            return app.return_code or 0
        task = app.next_demo


def cmd_demo(args: argparse.Namespace) -> int:
    folder = Path(args.dir) if args.dir else None
    if not args.print and sys.stdout.isatty() and sys.stdin.isatty():
        return _run_demos(args.task, folder)
    config_path = demo_config(args.task, folder)

    from labeltui.report import write_ranking
    from labeltui.engine.query import apply_query
    from labeltui.pipeline import scores_for

    config = _load_config(str(config_path))
    scored = scores_for(config, _progress_printer(sys.stderr.isatty()))
    view = apply_query(scored.scores, None, "score", True)[: args.top]
    print(f"demo run: {config_path}", file=sys.stderr)
    write_ranking(scored.scores, view, "table", sys.stdout, title=config.name)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labeltui", description="Find label mistakes in a model run and send the bad rows back for relabeling."
    )
    parser.add_argument("--version", action="version", version=f"labeltui {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="open a bundled demo model run in the review app (--print: its top suspects)")
    p.add_argument("--task", choices=("detection", "ner", "classification"), default="detection")
    p.add_argument("--dir", help="folder to write the demo run into (default: the bundled copy)")
    p.add_argument("--print", action="store_true", help="print the top suspects as a table instead of opening the app")
    p.add_argument("--top", type=int, default=20, help="rows to print with --print (default 20)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("open", help="review a model run in the terminal app")
    p.add_argument("config", help="the run's config YAML, or a scores folder written by labeltui score")
    p.add_argument("--reviewer", help="name recorded with your verdicts (default: review.reviewer, $LABELTUI_REVIEWER, login)")
    p.add_argument("--no-cache", action="store_true", help="recompute scores even if cached")
    p.set_defaults(func=cmd_open)

    p = sub.add_parser("validate", help="load a run, print a summary and warnings; exit 1 on errors")
    p.add_argument("config", help="the run's config YAML")
    p.set_defaults(func=cmd_validate)

    def query_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--filter", metavar="EXPR", help='filter expression, e.g. "fp >= 1 and max_fp_confidence > 0.8"')
        p.add_argument("--sort", metavar="KEY", default="score", help="column to sort by; KEY:asc or KEY:desc (default score:desc)")
        p.add_argument("--top", type=_positive_int, metavar="K", help="keep the first K rows")
        p.add_argument("--no-cache", action="store_true", help="recompute scores even if cached")

    p = sub.add_parser("rank", help="print data rows ranked by how likely their labels are wrong")
    p.add_argument("config", help="the run's config YAML, or a scores folder written by labeltui score")
    query_args(p)
    p.add_argument("--format", choices=("table", "csv", "jsonl"), default="table")
    p.set_defaults(func=cmd_rank)

    p = sub.add_parser("export", help="write a batch manifest of reviewed and/or ranked rows")
    p.add_argument("config", help="the run's config YAML")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="manifest file to write")
    p.add_argument("--format", choices=("json", "csv", "labelbox"), default="json")
    p.add_argument("--name", help="batch name (default: run name + date)")
    p.add_argument("--priority", type=int, choices=range(1, 6), metavar="1..5", help="Labelbox batch priority")
    p.add_argument("--verdict", choices=("error", "ok", "skip"), help="only rows with this review verdict")
    p.add_argument("--selected", action="store_true", help="only rows selected in review")
    p.add_argument("--force", action="store_true", help="overwrite an existing manifest")
    query_args(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("convert", help="write a run as sharded Parquet (parts + manifest + run.yaml) for big runs and Dask")
    p.add_argument("config", help="the run's config YAML")
    p.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help="folder to write the sharded run into")
    p.add_argument(
        "--rows-per-part", type=_positive_int, default=100_000, metavar="N",
        help="data rows per Parquet part (default 100000: a few hundred MB per part to score, enough parts for a cluster)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing sharded run in RUN_DIR")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("score", help="score a run and write the scores as Parquet parts (on Dask with --engine dask)")
    p.add_argument("config", help="the run's config YAML (for --engine dask: a sharded run's run.yaml from `labeltui convert`)")
    p.add_argument("-o", "--output", required=True, metavar="SCORES_DIR", help="folder to write the scores into")
    p.add_argument("--engine", choices=("local", "dask"), default="local", help="local: this process (default); dask: a Dask cluster")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: a local cluster)")
    p.add_argument("--partitions", type=_positive_int, metavar="N", help="Dask partitions (default: one per part of the sharded run)")
    p.add_argument("--workers", type=_positive_int, metavar="N", help="worker processes of the local cluster (default: one per core)")
    p.add_argument("--rows-per-part", type=_positive_int, default=100_000, metavar="N", help="rows per output part, local engine (default 100000)")
    p.add_argument("--no-cache", action="store_true", help="recompute scores even if cached (local engine)")
    p.add_argument("--force", action="store_true", help="replace an existing scores folder")
    p.set_defaults(func=cmd_score)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``labeltui`` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LoadError as exc:  # every user-facing error (query, review, manifest) is one
        print(f"labeltui: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("labeltui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `labeltui rank ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
