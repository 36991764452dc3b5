"""Regenerate the demo runs and their README: ``python -m labeltui.demo --out demo [--task TASK]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from labeltui.demo import TASKS, write_demo
from labeltui.demo.readme import write_readme


def main(argv: list[str] | None = None) -> int:
    """Write the demo runs (all tasks by default) and README.md under ``--out``; print each config path."""
    parser = argparse.ArgumentParser(prog="python -m labeltui.demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo"), help="folder to write <task>/run.yaml into")
    parser.add_argument("--task", choices=TASKS, action="append", help="only this task (repeatable)")
    args = parser.parse_args(argv)
    for task in args.task or TASKS:
        print(write_demo(task, args.out))
    write_readme(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
