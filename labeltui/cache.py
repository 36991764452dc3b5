"""Score cache: scored tables kept as Parquet, keyed by input content and settings.

The key is a hash of every input file's bytes (folders: every file in them,
by relative name), the task, the matching and scoring settings, the tool
version and the scoring code itself, so a changed input or setting recomputes and an unchanged one reopens
instantly. A cache that cannot be read or written is ignored (never an error).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from labeltui import __version__
from labeltui.config import Config

_CHUNK = 1 << 20


def _hash_file(h: "hashlib._Hash", path: Path) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)


def _hash_path(h: "hashlib._Hash", path: Path) -> None:
    if path.is_dir():
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(str(p.relative_to(path)).encode())
            _hash_file(h, p)
    else:
        _hash_file(h, path)


def _code_fingerprint() -> bytes:
    """A digest of the code that produces scores (readers, assembly, engine), so a
    changed engine never serves stale cached scores."""
    root = Path(__file__).resolve().parent
    h = hashlib.blake2b(digest_size=16)
    for p in sorted([root / "load.py", root / "run.py", root / "pipeline.py", root / "shards.py", *root.glob("formats/*.py"), *root.glob("engine/*.py")]):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.digest()


def cache_key(config: Config) -> str:
    """A hex digest of the inputs' content and every setting that affects scores."""
    h = hashlib.blake2b(digest_size=16)
    settings = {
        "version": __version__,
        "task": config.task,
        "matching": dataclasses.asdict(config.matching),
        "scoring": dataclasses.asdict(config.scoring),
        "formats": [s.format if s else None for s in (config.ground_truth, config.predictions, config.embeddings)],
        "metrics": [m.format for m in config.metrics],
    }
    h.update(json.dumps(settings, sort_keys=True).encode())
    h.update(_code_fingerprint())
    sources = [config.ground_truth, config.predictions, config.embeddings, *config.metrics]
    for s in sources:
        if s is None:
            h.update(b"-")
            continue
        _hash_path(h, s.path)
        if s.ids is not None:
            _hash_path(h, s.ids)
    return h.hexdigest()


def cache_dir(config: Config) -> Path:
    return config.cache_dir or (config.base_dir / ".labeltui-cache")


def load_cached(config: Config, key: str, name: str) -> pd.DataFrame | None:
    """The cached table ``name`` for ``key``, or None when absent or unreadable."""
    path = cache_dir(config) / f"{key}-{name}.parquet"
    if not path.exists():
        return None
    try:
        return pd.read_parquet(path)
    except Exception:  # a damaged cache entry is just a miss
        return None


#: Cached tables kept per cache folder (older ones are removed).
KEEP_ENTRIES = 8


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.parquet"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP_ENTRIES:]:
        old.unlink(missing_ok=True)


def store_cached(config: Config, key: str, name: str, table: pd.DataFrame) -> Path | None:
    """Write ``table`` atomically into the cache; returns the path, or None if not writable."""
    folder = cache_dir(config)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        os.close(fd)
        table.to_parquet(tmp, index=False)
        final = folder / f"{key}-{name}.parquet"
        os.replace(tmp, final)
        _prune(folder)
        return final
    except (OSError, ValueError, TypeError):
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass
        return None
