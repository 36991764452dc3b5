"""Reduced previews of large images kept on disk, so a second look is instant.

Decoding a 4000x4000 JPEG for a terminal pane costs 40-80 ms even in draft
mode (the entropy decoding cannot be skipped), a 4000x4000 PNG 0.5-1 s;
reading back a copy of at most 512 pixels a side costs 2-3 ms. Entries are
JPEG files named by a hash of the image's path, modification time and size (an
edited image is a new entry), written by one background thread (the caller
never waits for the encode), touched on use and pruned oldest first beyond
``max_bytes``. A store that cannot be read or written is ignored: it is a
cache, never an error.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PIL import Image

VERSION = 1  # bump when the entry format changes
#: Images with fewer pixels than this decode fast enough: they are not stored.
MIN_SOURCE_PIXELS = 2_000_000
#: Entries are at most this many pixels on their long side.
MAX_SIDE = 512
QUALITY = 90
_PRUNE_EVERY = 64  # writes between two scans of the folder


class PreviewStore:
    """Reduced, oriented RGB copies of large images in ``folder`` (created on first write)."""

    def __init__(self, folder: str | Path, *, max_bytes: int = 256 << 20) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="preview-store")
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        self._writes = 0

    def _entry(self, path: str | Path, st: os.stat_result) -> Path:
        key = f"{VERSION}\0{os.path.abspath(path)}\0{st.st_mtime_ns}\0{st.st_size}"
        return self.folder / f"{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}.jpg"

    def get(self, path: str | Path, st: os.stat_result) -> tuple[Image.Image, tuple[int, int]] | None:
        """The stored copy of the image at ``path`` (``st`` its stat) and the
        oriented size of the original; None when there is none."""
        entry = self._entry(path, st)
        try:
            with Image.open(entry) as img:
                source = _source_size(img.info.get("comment", b""))
                if source is None or img.mode != "RGB":
                    return None
                img.load()
                copy = img.copy()
        except Exception:  # missing, half-written by another process, unreadable: a miss
            return None
        try:
            os.utime(entry)  # recently used: pruned last
        except OSError:  # a read-only store still serves its entries
            pass
        return copy, source

    def has(self, path: str | Path, st: os.stat_result) -> bool:
        """Whether the store holds a copy of the image at ``path`` (``st`` its stat)."""
        return self._entry(path, st).exists()

    def put(self, path: str | Path, st: os.stat_result, image: Image.Image, source_size: tuple[int, int]) -> None:
        """Store ``image`` (the whole oriented RGB image, any size; reduced to
        ``MAX_SIDE``) for ``path`` in the background, unless a copy at least as
        large is there already."""
        entry = self._entry(path, st)
        try:
            future = self._writer.submit(self._write, entry, image, source_size)
        except RuntimeError:  # closed, or the interpreter is exiting: a cache skips the write
            return
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    def flush(self) -> None:
        """Wait until every write handed to ``put`` is on disk (or has failed)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.exception()

    def close(self) -> None:
        """Finish pending writes and stop the writer thread."""
        self._writer.shutdown(wait=True)

    def _write(self, entry: Path, image: Image.Image, source_size: tuple[int, int]) -> None:
        if image.width > MAX_SIDE or image.height > MAX_SIDE:
            image = image.copy()
            image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
        try:
            with Image.open(entry) as old:
                if old.size[0] >= image.size[0] and old.size[1] >= image.size[1]:
                    return
        except Exception:  # no entry yet (or a broken one: replaced)
            pass
        tmp = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".jpg")
            with os.fdopen(fd, "wb") as f:
                comment = f"labeltui-preview {source_size[0]} {source_size[1]}".encode()
                image.save(f, "JPEG", quality=QUALITY, comment=comment)
            os.replace(tmp, entry)
            tmp = None
        except OSError:
            return
        finally:
            if tmp is not None:
                _unlink(Path(tmp))
        self._writes += 1
        if self._writes % _PRUNE_EVERY == 1:
            self.prune()

    def prune(self) -> None:
        """Delete the least recently used entries until the folder holds at most ``max_bytes``."""
        entries = []
        try:
            for entry in os.scandir(self.folder):
                if entry.name.endswith(".jpg"):
                    st = entry.stat()
                    entries.append((st.st_mtime_ns, st.st_size, Path(entry.path)))
        except OSError:  # no folder yet, or an entry gone meanwhile: prune next time
            return
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            _unlink(path)
            total -= size


def _source_size(comment: bytes) -> tuple[int, int] | None:
    parts = comment.split()
    if len(parts) != 3 or parts[0] != b"labeltui-preview" or not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    return int(parts[1]), int(parts[2])


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
