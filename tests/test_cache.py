"""Score cache key: remembered file digests, and when they are not trusted."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from labeltui.cache import cache_dir, cache_key
from labeltui.config import load_config

DEMO = Path(__file__).resolve().parents[1] / "demo" / "ner"


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(DEMO, tmp_path / "ner")
    return tmp_path / "ner" / "run.yaml"


def _age(path: Path, seconds: float = 3600) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def test_a_reopened_run_uses_remembered_digests(tmp_path):
    config = load_config(_copy(tmp_path))
    gt = config.ground_truth.path
    _age(gt)
    first = cache_key(config)
    memo = json.loads((cache_dir(config) / "digests.json").read_text())
    assert str(gt.resolve()) in memo
    # same size, same modification time, same inode: the digest is not recomputed
    # (the trade-off every mtime-based tool makes), so the key stays
    data = bytearray(gt.read_bytes())
    mtime = gt.stat().st_mtime_ns
    data[0:1] = b"[" if data[0:1] != b"[" else b"{"
    with open(gt, "r+b") as f:
        f.write(bytes(data))
    os.utime(gt, ns=(mtime, mtime))
    assert cache_key(config) == first


def test_a_file_rewritten_just_now_is_hashed_again(tmp_path):
    config = load_config(_copy(tmp_path))
    gt = config.ground_truth.path
    first = cache_key(config)
    data = bytearray(gt.read_bytes())
    data[-2:-1] = b" " if data[-2:-1] != b" " else b"\t"
    gt.write_bytes(bytes(data))  # same size, modified within the racy window
    assert cache_key(config) != first


def test_a_changed_file_changes_the_key_and_a_broken_memo_is_ignored(tmp_path):
    config = load_config(_copy(tmp_path))
    gt = config.ground_truth.path
    _age(gt)
    first = cache_key(config)
    (cache_dir(config) / "digests.json").write_text("{not json")
    assert cache_key(config) == first
    gt.write_bytes(gt.read_bytes() + b"\n")
    assert cache_key(config) != first
