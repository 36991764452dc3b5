"""``labeltui convert``: turn any run (COCO, Labelbox NDJSON, CoNLL, ...) into a
sharded run: Parquet parts of ``rows_per_part`` data rows plus a manifest and a
``run.yaml`` every command accepts (layout in :mod:`labeltui.shards`).

The run is loaded once with :func:`labeltui.load.load_run` (so the parts hold
exactly what every other command sees), written into a temporary folder beside
the output and renamed into place, so a crash never leaves half a run behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Callable

import yaml

from labeltui.config import Config
from labeltui.errors import LoadError
from labeltui.load import Progress, load_run
from labeltui.shards import FORMAT, MANIFEST, write_shards

#: Rows per part by default: ~100k rows keep a part's scoring memory in the
#: hundreds of MB for detection runs and give a Dask cluster enough partitions.
DEFAULT_ROWS_PER_PART = 100_000


def _is_sharded_run(folder: Path) -> bool:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _inputs(config: Config) -> list[Path]:
    sources = [config.ground_truth, config.predictions, config.embeddings, *config.metrics]
    paths = [s.path for s in sources if s is not None] + [s.ids for s in sources if s is not None and s.ids is not None]
    return [p.resolve() for p in paths + ([config.path] if config.path else [])]


def _check_output(out: Path, config: Config, force: bool) -> None:
    """Refuse an output that is a file, holds the run's inputs, or is a non-empty
    folder (unless ``force`` and it is an earlier sharded run)."""
    if out.exists() and not out.is_dir():
        raise LoadError("exists and is not a folder; pass a folder for the sharded run", path=out)
    for p in _inputs(config):
        if p == out or out in p.parents:
            raise LoadError(f"holds the run's input {p}; write the sharded run to another folder", path=out)
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise LoadError("the output folder is not empty; pass --force to replace it", path=out)
        if not _is_sharded_run(out):
            raise LoadError(
                "the output folder is not empty and holds no sharded run; --force only replaces a sharded run, "
                "pick another folder",
                path=out,
            )


def _run_yaml(config: Config, manifest: dict) -> str:
    """The config of the sharded run: its source plus the source's settings."""
    data: dict = {
        "name": config.name,
        "task": config.task,
        "ground_truth": {"format": "shards", "path": MANIFEST},
        "matching": dataclasses.asdict(config.matching),
        "scoring": dataclasses.asdict(config.scoring),
        "review": {"store": str(config.review_store)} | ({"reviewer": config.reviewer} if config.reviewer else {}),
        "export": {"dir": str(config.export_dir)},
    }
    if config.cache_dir is not None:
        data["cache"] = {"dir": str(config.cache_dir)}
    if config.keys:
        data["keys"] = dict(config.keys)
    head = (
        f"# labeltui sharded run: {manifest['n_rows']} rows in {len(manifest['parts'])} part(s), "
        f"written by `labeltui convert` from {manifest['source_config']}\n"
    )
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _move_into_place(tmp: Path, out: Path) -> None:
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    if not out.exists():
        os.rename(tmp, out)
        return
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def convert(
    config: Config,
    output: str | Path,
    *,
    rows_per_part: int = DEFAULT_ROWS_PER_PART,
    force: bool = False,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Load the run ``config`` names and write it as a sharded run into the folder
    ``output``; returns the path of its manifest.json.

    ``progress`` follows loading (as in ``load_run``); ``log`` gets one line per
    part written. A non-empty ``output`` is refused unless ``force`` (and then
    only an earlier sharded run is replaced).
    """
    if rows_per_part < 1:
        raise LoadError(f"--rows-per-part: must be at least 1, got {rows_per_part}")
    out = Path(output).expanduser().absolute()
    _check_output(out, config, force)
    run = load_run(config, progress)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise LoadError(f"cannot create the output folder: {exc.strerror or exc}", path=out) from None
    try:
        manifest = write_shards(run, tmp, rows_per_part=rows_per_part, source_config=config.path, log=log)
        (tmp / "run.yaml").write_text(_run_yaml(config, manifest), encoding="utf-8")
        _move_into_place(tmp, out)
    except OSError as exc:
        raise LoadError(f"cannot write the sharded run: {exc.strerror or exc}", path=out) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / MANIFEST
