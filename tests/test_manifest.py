"""Batch manifests: round trips, Labelbox batches, atomic no-clobber writes, clear errors."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import labeltui
from labeltui import manifest as mf
from labeltui.errors import LoadError
from labeltui.manifest import (
    LABELBOX_MAX_ROWS,
    ROW_FIELDS,
    ManifestError,
    build_manifest,
    labelbox_batches,
    load_manifest,
    write_manifest,
)

REPO = Path(__file__).resolve().parents[1]
WRITER = Path(__file__).resolve().parent / "helpers" / "manifest_writer.py"
HEADER = ("name", "run_name", "created_at", "tool_version", "filter_expr", "sort", "reviewers", "priority")


def tricky_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "data_row_id": ["z-last", "007", "a,b", "ü-row"],
            "global_key": ["img/z.jpg", None, "", "img/ü.jpg"],
            "issue": ["missing_gt", "fp", None, "wrong_class"],
            "score": [0.1 + 0.2, np.nan, 1e-30, 12345.678901234567],
            "verdict": ["error", "error", "ok", "error"],
            "note": ['said "car", but\nit is a van', None, "=SUM(A1)", "ü ✓"],
            "reviewer": ["alice", "bob", "alice", None],
            "extra_column": [1, 2, 3, 4],
        }
    )


@pytest.fixture
def manifest():
    return build_manifest(
        tricky_rows(), name="exp12-errors", run_name="exp12", filter_expr='fp >= 1 and label == "car"',
        sort="-score", priority=2,
    )


# -------------------------------------------------------------------- build
def test_build_normalises_rows_and_fills_header(manifest):
    assert list(manifest.rows.columns) == list(ROW_FIELDS)
    assert manifest.rows["data_row_id"].tolist() == ["z-last", "007", "a,b", "ü-row"]  # order kept
    assert manifest.rows["global_key"].tolist() == ["img/z.jpg", None, None, "img/ü.jpg"]
    assert manifest.rows["score"].dtype == "float64" and np.isnan(manifest.rows["score"].iloc[1])
    assert manifest.reviewers == ("alice", "bob")  # from the reviewer column, in order
    assert manifest.tool_version == labeltui.__version__
    created = datetime.fromisoformat(manifest.created_at)
    assert manifest.created_at.endswith("Z") and created.tzinfo == timezone.utc
    assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 60


def test_build_with_only_ids_and_explicit_reviewers():
    m = build_manifest(pd.DataFrame({"data_row_id": [3, 1, 2]}), name="b", run_name="r", reviewers=["carol"])
    assert m.rows["data_row_id"].tolist() == ["3", "1", "2"]
    assert m.rows["verdict"].isna().all() and m.rows["score"].isna().all()
    assert m.reviewers == ("carol",) and m.priority is None


@pytest.mark.parametrize(
    ("rows", "kwargs", "match"),
    [
        (pd.DataFrame({"id": ["a"]}), {}, "data_row_id"),
        (pd.DataFrame({"data_row_id": ["a", None]}), {}, "row 1 has no data_row_id"),
        (pd.DataFrame({"data_row_id": ["a", "b", "a"]}), {}, "'a' appears twice"),
        (pd.DataFrame({"data_row_id": ["a", "b"], "score": [0.5, "high"]}), {}, "score: row 1: 'high' is not a number"),
        (pd.DataFrame({"data_row_id": ["a"], "score": [np.inf]}), {}, "finite"),
        (pd.DataFrame({"data_row_id": ["a"]}), {"priority": 0}, "priority"),
        (pd.DataFrame({"data_row_id": ["a"]}), {"priority": 6}, "priority"),
        (pd.DataFrame({"data_row_id": ["a"]}), {"priority": True}, "priority"),
        (pd.DataFrame({"data_row_id": ["a"]}), {"priority": "3"}, "priority"),
        (pd.DataFrame({"data_row_id": ["a"]}), {"name": "  "}, "needs a name"),
    ],
)
def test_build_rejects_bad_input(rows, kwargs, match):
    args = {"name": "b", "run_name": "r", **kwargs}
    with pytest.raises(ManifestError, match=match) as info:
        build_manifest(rows, **args)
    assert isinstance(info.value, LoadError)


# --------------------------------------------------------------- round trip
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_round_trip_same_rows_order_and_fields(tmp_path, manifest, fmt):
    [path] = write_manifest(manifest, tmp_path / f"batch.{fmt}", format=fmt)
    assert path == tmp_path / f"batch.{fmt}"
    back = load_manifest(path)
    pd.testing.assert_frame_equal(back.rows, manifest.rows)
    assert {k: getattr(back, k) for k in HEADER} == {k: getattr(manifest, k) for k in HEADER}
    assert back.rows["score"].iloc[0] == 0.1 + 0.2  # exact float round trip


def test_json_layout_is_readable(tmp_path, manifest):
    [path] = write_manifest(manifest, tmp_path / "b.json")
    doc = json.loads(path.read_text())
    assert doc["flavour"] == "json" and doc["row_count"] == 4 and doc["filter"] == manifest.filter_expr
    assert doc["rows"][1] == {
        "data_row_id": "007", "global_key": None, "issue": "fp", "score": None, "verdict": "error", "note": None,
    }
    assert len(path.read_text().splitlines()) > 4  # one row a line, not one giant line


def test_csv_is_plain_csv_with_batch_columns(tmp_path, manifest):
    [path] = write_manifest(manifest, tmp_path / "b.csv", format="csv")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(frame.columns[:6]) == list(ROW_FIELDS)
    assert set(frame["batch_name"]) == {"exp12-errors"} and set(frame["reviewers"]) == {"alice; bob"}
    assert frame["note"].iloc[0] == 'said "car", but\nit is a van'


# --------------------------------------------------------------- labelbox
def fake_create_batch(name, data_rows=None, priority=5, consensus_settings=None, global_keys=None):
    """The Labelbox SDK's Project.create_batch signature and its checks."""
    assert (data_rows is None) != (global_keys is None), "one of global_keys or data_rows, not both"
    ids = data_rows if data_rows is not None else global_keys
    assert 0 < len(ids) <= 100_000
    assert isinstance(priority, int) and 1 <= priority <= 5
    return name, ids


def test_labelbox_uses_global_keys_when_all_rows_have_one(tmp_path):
    rows = pd.DataFrame({"data_row_id": ["a", "b"], "global_key": ["ka", "kb"]})
    m = build_manifest(rows, name="fix-me", run_name="r", priority=1)
    [path] = write_manifest(m, tmp_path / "lb.json", format="labelbox")
    doc = json.loads(path.read_text())
    assert doc["batches"] == [{"name": "fix-me", "global_keys": ["ka", "kb"], "priority": 1}]
    assert [fake_create_batch(**b) for b in doc["batches"]] == [("fix-me", ["ka", "kb"])]
    assert doc["run_name"] == "r" and doc["id_field"] == "global_keys"


def test_labelbox_falls_back_to_data_row_ids(manifest):
    [batch] = labelbox_batches(manifest)
    assert batch == {"name": "exp12-errors", "data_rows": ["z-last", "007", "a,b", "ü-row"], "priority": 2}
    rows = pd.DataFrame({"data_row_id": ["a", "b"], "global_key": ["k", "k"]})
    dup_keys = build_manifest(rows, name="n", run_name="r")
    assert "data_rows" in labelbox_batches(dup_keys)[0]
    assert labelbox_batches(dup_keys)[0]["priority"] == 5  # SDK default


def test_labelbox_split_into_numbered_parts_in_order():
    rows = pd.DataFrame({"data_row_id": [f"id{i}" for i in range(7)], "global_key": [f"k{i}" for i in range(7)]})
    batches = labelbox_batches(build_manifest(rows, name="big", run_name="r"), batch_size=3)
    assert [b["name"] for b in batches] == ["big-part1", "big-part2", "big-part3"]
    assert [len(b["global_keys"]) for b in batches] == [3, 3, 1]
    assert sum((b["global_keys"] for b in batches), []) == [f"k{i}" for i in range(7)]
    for bad in (0, LABELBOX_MAX_ROWS + 1, 2.5):
        with pytest.raises(ManifestError, match="batch_size"):
            labelbox_batches(build_manifest(rows, name="big", run_name="r"), batch_size=bad)


def test_labelbox_split_at_the_real_limit(tmp_path):
    n = LABELBOX_MAX_ROWS + 1
    ids = np.char.add("id", np.arange(n).astype(str)).astype(object)
    m = build_manifest(pd.DataFrame({"data_row_id": ids}), name="huge", run_name="r", priority=3)
    [path] = write_manifest(m, tmp_path / "huge.json", format="labelbox")
    doc = json.loads(path.read_text())
    assert [(b["name"], len(b["data_rows"])) for b in doc["batches"]] == [("huge-part1", 100_000), ("huge-part2", 1)]
    assert doc["batches"][1]["data_rows"] == [f"id{n - 1}"]
    for batch in doc["batches"]:
        fake_create_batch(**batch)
    exact = build_manifest(pd.DataFrame({"data_row_id": ids[:LABELBOX_MAX_ROWS]}), name="one", run_name="r")
    assert [b["name"] for b in labelbox_batches(exact)] == ["one"]


def test_labelbox_file_is_not_loaded_as_a_manifest(tmp_path, manifest):
    [path] = write_manifest(manifest, tmp_path / "lb.json", format="labelbox")
    with pytest.raises(ManifestError, match="labelbox batch file"):
        load_manifest(path)


# ------------------------------------------------------ never overwrite
def test_existing_file_is_never_overwritten_without_force(tmp_path, manifest):
    target = tmp_path / "batch.json"
    target.write_text("precious")
    first = write_manifest(manifest, target)
    second = write_manifest(manifest, target)
    assert first == [tmp_path / "batch-2.json"] and second == [tmp_path / "batch-3.json"]
    assert target.read_text() == "precious"
    assert load_manifest(first[0]).rows["data_row_id"].tolist() == manifest.rows["data_row_id"].tolist()
    assert write_manifest(manifest, target, force=True) == [target]
    assert load_manifest(target).name == "exp12-errors"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch-2.json", "batch-3.json", "batch.json"]


def test_export_folder_is_created(tmp_path, manifest):
    [path] = write_manifest(manifest, tmp_path / "batches" / "new" / "b.csv", format="csv")
    assert path.exists()


# ----------------------------------------------------------------- errors
def test_unwritable_destination_is_one_clear_line(tmp_path, manifest):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(ManifestError) as info:
        write_manifest(manifest, blocker / "b.json")
    message = str(info.value)
    assert "\n" not in message and str(blocker / "b.json") in message and "cannot write manifest" in message


def test_permission_denied_names_path_and_fix(tmp_path, manifest, monkeypatch):
    real_open = os.open

    def deny(path, flags, *args, **kwargs):
        if Path(path).parent == tmp_path and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(mf.os, "open", deny)
    with pytest.raises(ManifestError, match="no permission to write there: choose another output path") as info:
        write_manifest(manifest, tmp_path / "b.json")
    assert str(tmp_path / "b.json") in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fail_in", ["write", "fsync"])
def test_disk_full_keeps_old_file_and_removes_temp(tmp_path, manifest, monkeypatch, fail_in):
    target = tmp_path / "b.json"
    target.write_bytes(b"old complete manifest")
    real_write = os.write

    def full_write(fd, data):
        real_write(fd, bytes(data[:10]))  # part of the data lands, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    def full_fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    if fail_in == "write":
        monkeypatch.setattr(mf.os, "write", full_write)
    else:
        monkeypatch.setattr(mf.os, "fsync", full_fsync)
    with pytest.raises(ManifestError, match="disk is full") as info:
        write_manifest(manifest, target, force=True)
    assert str(target) in str(info.value) and "\n" not in str(info.value)
    assert target.read_bytes() == b"old complete manifest"
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]  # no temp file left


def test_write_refuses_unknown_format_and_empty_selection(tmp_path, manifest):
    with pytest.raises(ManifestError, match="unknown manifest format"):
        write_manifest(manifest, tmp_path / "b.xml", format="xml")
    empty = build_manifest(pd.DataFrame({"data_row_id": []}), name="e", run_name="r")
    with pytest.raises(ManifestError, match="no rows to export"):
        write_manifest(empty, tmp_path / "e.json")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("b.json", '{"labeltui_manifest": 1,\n "rows": [', r"b\.json:2: not valid JSON"),
        ("b.json", '{"rows": []}', "not a labeltui manifest"),
        ("b.json", '{"labeltui_manifest": 7, "rows": []}', "newer than this labeltui"),
        ("b.csv", "data_row_id,score\na,1\n", "missing column"),
        ("b.csv", "", "empty"),
    ],
)
def test_load_rejects_bad_files(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ManifestError, match=match):
        load_manifest(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(ManifestError, match="file not found"):
        load_manifest(tmp_path / "nope.json")


# -------------------------------------------------------------- atomicity
def test_killed_writer_leaves_old_or_complete_new_file(tmp_path):
    """SIGKILL slow exports over existing manifests at random moments: never a partial file.

    Four writers (json and csv) run at once, each in its own folder; each is killed
    a random delay after its first os.write of the new file.
    """
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    rows = 10_000
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    old = build_manifest(pd.DataFrame({"data_row_id": ["old-1", "old-2"]}), name="old", run_name="r")
    runs = []
    for k, fmt in enumerate(["json", "csv"] * 2):
        folder = tmp_path / f"run{k}"
        [target] = write_manifest(old, folder / f"batch.{fmt}", format=fmt)
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(target), str(rows), fmt],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        runs.append((proc, target, target.read_bytes(), rng.uniform(0.0, 0.05)))

    def kill_when_writing(proc: subprocess.Popen, delay: float) -> None:
        if proc.stdout.readline() == "writing\n":
            time.sleep(delay)
        proc.kill()

    threads = [threading.Thread(target=kill_when_writing, args=(proc, delay)) for proc, _, _, delay in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    outcomes = []
    for proc, target, old_bytes, _ in runs:
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
        leftovers = [p.name for p in target.parent.iterdir() if p != target]
        assert all(name.startswith(".batch.") and name.endswith(".tmp") for name in leftovers), leftovers
        if target.read_bytes() == old_bytes:
            outcomes.append("old, killed mid-write" if leftovers else "old")
        else:
            new = load_manifest(target)  # a partial file would fail to parse or miss rows
            assert len(new.rows) == rows, f"seed {seed}"
            assert new.rows["data_row_id"].iloc[-1] == f"new-{rows - 1}", f"seed {seed}"
            outcomes.append("new")
    assert any("mid-write" in o for o in outcomes), f"no kill landed inside a write (seed {seed}): {outcomes}"
