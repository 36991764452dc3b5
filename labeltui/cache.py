"""Score cache: scored tables kept as Parquet, keyed by input content and settings.

The key is a hash of every input file's bytes (folders: every file in them,
by relative name; each file's digest is remembered, see ``_Digests``), the task, the matching and scoring settings, the tool
version and the scoring code itself, so a changed input or setting recomputes and an unchanged one reopens
instantly. A cache that cannot be read or written is ignored (never an error).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from labeltui import __version__
from labeltui.config import Config

_CHUNK = 1 << 20
MEMO_ENTRIES = 4096  # file digests remembered per cache folder


class _Digests:
    """Content digests of input files, remembered in the cache folder by path,
    size, modification time and inode so a reopened run is not re-read.

    As git does for its index, an entry is trusted only when the file's
    modification time is older than the moment the digest was taken by
    ``RACY_NS``: a file rewritten within the timestamp granularity with the same
    size is always hashed again."""

    RACY_NS = 2_000_000_000

    def __init__(self, folder: Path) -> None:
        self.file = folder / "digests.json"
        self.dirty = False
        try:
            self.memo = json.loads(self.file.read_text(encoding="utf-8"))
            if not isinstance(self.memo, dict):
                self.memo = {}
        except (OSError, ValueError):
            self.memo = {}

    def of(self, path: Path) -> str:
        st = path.stat()
        key = str(path.resolve())
        sig = [st.st_size, st.st_mtime_ns, st.st_ino]
        entry = self.memo.get(key)
        if isinstance(entry, list) and len(entry) == 5 and entry[:3] == sig and st.st_mtime_ns < entry[3] - self.RACY_NS:
            return str(entry[4])
        taken = time.time_ns()
        h = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        self.memo[key] = [*sig, taken, h.hexdigest()]
        self.dirty = True
        return h.hexdigest()

    def save(self) -> None:
        """Write the memo back (best effort, atomically)."""
        if not self.dirty:
            return
        if len(self.memo) > MEMO_ENTRIES:  # keep the most recently hashed files
            newest = sorted(self.memo.items(), key=lambda kv: kv[1][3] if isinstance(kv[1], list) and len(kv[1]) == 5 else 0)
            self.memo = dict(newest[-MEMO_ENTRIES:])
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.file.parent, prefix=".digests-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.memo, f)
            os.replace(tmp, self.file)
        except OSError:
            pass


def _hash_path(h: "hashlib._Hash", path: Path, digests: _Digests) -> None:
    if path.is_dir():
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(str(p.relative_to(path)).encode())
            h.update(digests.of(p).encode())
    else:
        h.update(digests.of(path).encode())


def _code_fingerprint() -> bytes:
    """A digest of the code that produces scores (readers, assembly, engine), so a
    changed engine never serves stale cached scores."""
    root = Path(__file__).resolve().parent
    h = hashlib.blake2b(digest_size=16)
    for p in sorted([root / "load.py", root / "run.py", root / "pipeline.py", root / "shards.py", root / "score_output.py", *root.glob("formats/*.py"), *root.glob("engine/*.py")]):
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
    digests = _Digests(cache_dir(config))
    sources = [config.ground_truth, config.predictions, config.embeddings, *config.metrics]
    for s in sources:
        if s is None:
            h.update(b"-")
            continue
        _hash_path(h, s.path, digests)
        if s.ids is not None:
            _hash_path(h, s.ids, digests)
    digests.save()
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
