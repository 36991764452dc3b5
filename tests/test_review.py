"""The review store: durable verdicts, history, undo, resume, concurrency, bad files."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from labeltui import review
from labeltui.errors import LoadError
from labeltui.review import ReviewError, ReviewStore

REPO = Path(__file__).resolve().parents[1]
WRITER = Path(__file__).resolve().parent / "helpers" / "verdict_writer.py"


def env_for(reviewer: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["LABELTUI_REVIEWER"] = reviewer
    return env


@pytest.fixture
def store(tmp_path):
    with ReviewStore.open(tmp_path / "run.sqlite", run_name="run1", reviewer="alice") as s:
        yield s


# ------------------------------------------------------------------ basics
def test_set_and_read_back(store):
    store.set_verdict(["a", "b"], "error")
    store.set_selected(["b", "c"], True)
    store.set_note("a", "box misses the tail")
    store.set_tags("a", ["fp", "fp", "wrong-class"])
    assert store.get("a") == {
        "data_row_id": "a",
        "verdict": "error",
        "selected": False,
        "tags": ["fp", "wrong-class"],
        "note": "box misses the tail",
        "reviewer": "alice",
        "updated_at": pytest.approx(time.time(), abs=60),
    }
    assert store.get("c")["verdict"] is None and store.get("c")["selected"] is True
    assert store.get("never-touched") is None
    assert store.counts() == {"reviewed": 2, "error": 2, "ok": 0, "skip": 0, "selected": 2}
    frame = store.verdicts()
    assert list(frame.columns) == ["data_row_id", "verdict", "selected", "tags", "note", "reviewer", "updated_at"]
    assert frame["data_row_id"].tolist() == ["a", "b", "c"]
    assert frame["selected"].dtype == bool and frame["updated_at"].dtype == "float64"
    assert frame.loc[frame.data_row_id == "a", "tags"].item() == ["fp", "wrong-class"]


def test_empty_store_frame_and_counts(store):
    assert len(store.verdicts()) == 0
    assert list(store.verdicts().columns)[0] == "data_row_id"
    assert store.counts() == {"reviewed": 0, "error": 0, "ok": 0, "skip": 0, "selected": 0}


def test_single_string_id_is_one_id_not_characters(store):
    store.set_verdict("abc", "ok")
    assert store.verdicts()["data_row_id"].tolist() == ["abc"]


def test_bad_verdict_is_rejected_and_nothing_written(store):
    with pytest.raises(ReviewError, match="verdict must be one of"):
        store.set_verdict(["a"], "maybe")
    assert store.get("a") is None
    assert isinstance(ReviewError("x"), LoadError)


def test_history_keeps_both_verdicts_with_reviewers(tmp_path):
    path = tmp_path / "h.sqlite"
    with ReviewStore.open(path, run_name="r", reviewer="alice") as a:
        a.set_verdict(["x"], "error")
    with ReviewStore.open(path, run_name="r", reviewer="bob") as b:
        b.set_verdict(["x"], "ok")
        b.set_verdict(["x"], "ok")  # no change: no history row
        hist = [(h["field"], h["old"], h["new"], h["reviewer"]) for h in b.history("x")]
        assert hist == [("verdict", None, "error", "alice"), ("verdict", "error", "ok", "bob")]
        assert b.get("x")["reviewer"] == "bob"


def test_batch_is_one_changeset_and_undo_reverts_it(store):
    store.set_verdict(["a"], "ok")
    store.set_verdict(["a", "b", "c"], "error")
    changesets = {store.history(i)[-1]["changeset"] for i in "abc"}
    assert len(changesets) == 1
    assert store.undo() == ["a", "b", "c"]
    assert [store.get(i)["verdict"] for i in "abc"] == ["ok", None, None]
    last = store.history("b")[-1]
    assert (last["kind"], last["old"], last["new"], last["reviewer"]) == ("undo", "error", None, "alice")
    assert store.undo() == ["a"]  # the next older change-set
    assert store.get("a")["verdict"] is None
    assert store.undo() == []  # nothing left; undos are not themselves undone


def test_undo_each_field_kind(store):
    store.set_selected(["a"], True)
    store.set_tags("a", ["fn"])
    store.set_note("a", "n1")
    assert store.undo() == ["a"] and store.get("a")["note"] == ""
    assert store.undo() == ["a"] and store.get("a")["tags"] == []
    assert store.undo() == ["a"] and store.get("a")["selected"] is False


def test_undo_is_per_reviewer_and_keeps_later_changes_by_others(tmp_path):
    path = tmp_path / "u.sqlite"
    with ReviewStore.open(path, run_name="r", reviewer="alice") as a, ReviewStore.open(
        path, run_name="r", reviewer="bob"
    ) as b:
        a.set_verdict(["x", "y"], "error")
        b.set_verdict(["y"], "ok")  # bob changed y after alice
        b.set_verdict(["z"], "skip")
        assert a.undo() == ["x"]  # y is bob's now: left alone
        assert a.get("x")["verdict"] is None and a.get("y")["verdict"] == "ok"
        assert a.get("z")["verdict"] == "skip"  # bob's change-set untouched
        assert a.undo(reviewer="bob") == ["z"]
        assert a.get("z")["verdict"] is None


def test_noop_change_does_not_become_an_undo_step(store):
    store.set_verdict(["a"], "error")
    store.set_verdict(["a"], "error")
    assert store.undo() == ["a"]
    assert store.get("a")["verdict"] is None


def test_resume_restores_verdicts_selection_and_state(tmp_path):
    path = tmp_path / "resume.sqlite"
    with ReviewStore.open(path, run_name="r", reviewer="alice") as s:
        s.set_verdict(["a"], "error")
        s.set_selected(["a", "b"], True)
        s.save_state("cursor", {"row": "b", "index": 17})
        s.save_state("filter", "fp >= 1")
    with ReviewStore.open(path, run_name="r", reviewer="alice") as s:
        assert s.load_state("cursor") == {"row": "b", "index": 17}
        assert s.load_state("filter") == "fp >= 1"
        assert s.load_state("missing", default=3) == 3
        assert s.counts()["selected"] == 2 and s.get("a")["verdict"] == "error"
        assert s.run_name == "r"
        with pytest.raises(ReviewError, match="not JSON"):
            s.save_state("bad", object())


def test_reviewer_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELTUI_REVIEWER", "carol")
    with ReviewStore.open(tmp_path / "a.sqlite", run_name="r") as s:
        assert s.reviewer == "carol"
    monkeypatch.delenv("LABELTUI_REVIEWER")
    monkeypatch.setattr(review.getpass, "getuser", lambda: "dave")
    assert review.default_reviewer() == "dave"

    def no_user() -> str:
        raise KeyError("uid not in passwd")

    monkeypatch.setattr(review.getpass, "getuser", no_user)
    assert review.default_reviewer() == "unknown"


# ------------------------------------------------------------- durability
def _read_reported(proc: subprocess.Popen) -> list[tuple[str, str]]:
    out = proc.communicate()[0]
    lines = out.split("\n")[:-1]  # drop the (possibly partial) text after the last newline
    return [tuple(line.split()) for line in lines if line and line != "ready"]


def test_sigkill_never_loses_a_reported_verdict(tmp_path):
    """Kill writers at random moments; every verdict they printed as saved must be in the store.

    20 writers in 5 waves of 4 concurrent processes on one store, so kills also land
    while another writer holds the lock, and each wave recovers the WAL the last one left.
    """
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    path = tmp_path / "kill.sqlite"
    reported: dict[str, tuple[str, str]] = {}
    for wave in range(5):
        procs = {
            f"killer{wave}-{k}": subprocess.Popen(
                [sys.executable, str(WRITER), str(path), f"w{wave}-{k}", "1000000"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env_for(f"killer{wave}-{k}"),
            )
            for k in range(4)
        }
        for proc in procs.values():
            assert proc.stdout.readline() == "ready\n"
        for who, proc in rng.sample(sorted(procs.items()), len(procs)):
            time.sleep(rng.uniform(0.0, 0.05))
            proc.kill()
        for who, proc in procs.items():
            for row, verdict in _read_reported(proc):
                reported[row] = (verdict, who)
    assert len(reported) >= 20, f"writers saved too little to test anything (seed {seed})"
    with ReviewStore.open(path, run_name="helper") as s:
        frame = s.verdicts().set_index("data_row_id")
    missing = [r for r in reported if r not in frame.index]
    assert not missing, f"lost {len(missing)} verdicts, e.g. {missing[:3]} (seed {seed})"
    got = {r: (frame.at[r, "verdict"], frame.at[r, "reviewer"]) for r in reported}
    assert got == reported, f"seed {seed}"


def test_two_processes_write_concurrently_without_lost_updates(tmp_path):
    path = tmp_path / "shared.sqlite"
    n, shared = 150, 5
    procs = {
        who: subprocess.Popen(
            [sys.executable, str(WRITER), str(path), who, str(n), "--shared", str(shared), "--wait-go"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env_for(who),
        )
        for who in ("alice", "bob")
    }
    for proc in procs.values():
        assert proc.stdout.readline() == "ready\n"
    for proc in procs.values():
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for who, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "locked" not in err
        assert len(out.splitlines()) == n
    with ReviewStore.open(path, run_name="helper") as s:
        frame = s.verdicts().set_index("data_row_id")
        for who in ("alice", "bob"):
            own = frame.loc[[f"{who}-{i}" for i in range(n)]]
            assert (own["reviewer"] == who).all()
            assert own["verdict"].tolist() == [review.VERDICTS[i % 3] for i in range(n)]
        # every note write of both writers is in the shared rows' history, attributed to its writer
        notes = [h for k in range(shared) for h in s.history(f"shared-{k}") if h["field"] == "note"]
        assert len(notes) == 2 * n
        assert all(h["new"].startswith(h["reviewer"] + "-") for h in notes)
        assert {h["new"] for h in notes} == {f"{who}-{i}" for who in ("alice", "bob") for i in range(n)}


def test_busy_writer_waits_then_succeeds_or_reports_clearly(tmp_path):
    path = tmp_path / "busy.sqlite"
    with ReviewStore.open(path, run_name="r", reviewer="alice", lock_timeout=0.3) as s:
        blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(ReviewError, match="stayed locked"):
            s.set_verdict(["a"], "error")
        assert s.get("a") is None
        threading.Timer(0.1, lambda: blocker.execute("COMMIT")).start()
        s._lock_timeout = 5.0
        s.set_verdict(["a"], "error")  # waits for the blocker, then commits
        assert s.get("a")["verdict"] == "error"
        blocker.close()


def test_disk_full_is_a_clear_error_and_keeps_earlier_verdicts(store):
    store.set_verdict(["keep"], "error")
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite now reports SQLITE_FULL
    with pytest.raises(ReviewError, match="disk is full"):
        store.set_verdict([f"row-{i}" for i in range(5000)], "ok")
    assert store.get("keep")["verdict"] == "error"
    assert store.get("row-1") is None


# -------------------------------------------------------------- bad files
def test_not_a_database_is_reported_and_kept_byte_identical(tmp_path):
    path = tmp_path / "run.sqlite"
    junk = b"this is not sqlite\x00" * 500
    path.write_bytes(junk)
    with pytest.raises(ReviewError) as info:
        ReviewStore.open(path, run_name="r", reviewer="a")
    message = str(info.value)
    assert str(path) in message and "corrupt" in message and "mv " in message
    assert path.read_bytes() == junk


def test_damaged_database_is_reported_and_kept(tmp_path):
    path = tmp_path / "run.sqlite"
    with ReviewStore.open(path, run_name="r", reviewer="a") as s:
        s.set_verdict([f"row-{i}" for i in range(3000)], "error")
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[2 * page : 6 * page] = b"\xff" * (4 * page)  # wreck a few b-tree pages, keep the header
    path.write_bytes(bytes(data))
    with pytest.raises(ReviewError, match="corrupt"):
        ReviewStore.open(path, run_name="r", reviewer="a")
    assert path.read_bytes() == bytes(data)


def test_recover_moves_the_corrupt_file_aside_and_keeps_its_bytes(tmp_path):
    path = tmp_path / "run.sqlite"
    junk = os.urandom(8192)
    path.write_bytes(junk)
    (tmp_path / "run.sqlite-wal").write_bytes(b"stale wal")
    moved = ReviewStore.recover(path)
    assert moved.name.startswith("run.sqlite.corrupt-") and moved.read_bytes() == junk
    assert Path(str(moved) + "-wal").read_bytes() == b"stale wal"
    assert not path.exists() and not (tmp_path / "run.sqlite-wal").exists()
    with ReviewStore.open(path, run_name="r", reviewer="a") as s:
        s.set_verdict(["a"], "ok")
        assert s.counts()["reviewed"] == 1


def test_foreign_sqlite_file_and_newer_schema_are_refused_untouched(tmp_path):
    foreign = tmp_path / "other.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE photos(id)")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    with pytest.raises(ReviewError, match="not a labeltui review store"):
        ReviewStore.open(foreign, run_name="r", reviewer="a")
    assert foreign.read_bytes() == before

    newer = tmp_path / "newer.sqlite"
    with ReviewStore.open(newer, run_name="r", reviewer="a"):
        pass
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = newer.read_bytes()
    with pytest.raises(ReviewError, match="schema version 99.*upgrade labeltui"):
        ReviewStore.open(newer, run_name="r", reviewer="a")
    assert newer.read_bytes() == before


def _deny_writes_in(monkeypatch, folder: Path) -> None:
    """Make os.access report ``folder`` and its files as not writable (as a read-only mount would)."""
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(path).resolve().is_relative_to(folder.resolve()):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(review.os, "access", access)


def test_read_only_folder_opens_read_only(tmp_path, monkeypatch):
    path = tmp_path / "run.sqlite"
    with ReviewStore.open(path, run_name="r", reviewer="alice") as s:
        s.set_verdict(["a"], "error")
        s.save_state("cursor", 4)
    before = path.read_bytes()
    _deny_writes_in(monkeypatch, tmp_path)
    with ReviewStore.open(path, run_name="r", reviewer="bob") as s:
        assert s.read_only and "not writable" in s.read_only_reason
        assert s.get("a")["verdict"] == "error" and s.load_state("cursor") == 4
        for write in (
            lambda: s.set_verdict(["a"], "ok"),
            lambda: s.set_selected(["a"], True),
            lambda: s.set_note("a", "n"),
            lambda: s.save_state("cursor", 5),
            lambda: s.undo(),
        ):
            with pytest.raises(ReviewError, match="read-only.*nothing was saved"):
                write()
    assert path.read_bytes() == before


def test_read_only_folder_without_a_store_gives_an_empty_read_only_store(tmp_path, monkeypatch):
    _deny_writes_in(monkeypatch, tmp_path)
    with ReviewStore.open(tmp_path / "none.sqlite", run_name="r", reviewer="bob") as s:
        assert s.read_only and s.counts()["reviewed"] == 0
        with pytest.raises(ReviewError, match="read-only"):
            s.set_verdict(["a"], "ok")
    assert not (tmp_path / "none.sqlite").exists()


# ---------------------------------------------------------------- migration
def test_empty_v0_file_is_migrated(tmp_path):
    path = tmp_path / "v0.sqlite"
    path.write_bytes(b"")  # version 0: an empty database
    with ReviewStore.open(path, run_name="r", reviewer="a") as s:
        s.set_verdict(["a"], "ok")
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)
    conn.close()


def test_migration_path_upgrades_and_keeps_data(tmp_path, monkeypatch):
    path = tmp_path / "v1.sqlite"
    with ReviewStore.open(path, run_name="r", reviewer="a") as s:
        s.set_verdict(["a"], "error")

    def v1_to_v2(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE verdicts ADD COLUMN severity INTEGER")
        conn.execute("UPDATE verdicts SET severity = 3 WHERE verdict = 'error'")

    monkeypatch.setattr(review, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(review.MIGRATIONS, 1, v1_to_v2)
    with ReviewStore.open(path, run_name="r", reviewer="a") as s:
        assert s.get("a")["verdict"] == "error"
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT severity FROM verdicts WHERE data_row_id='a'").fetchone() == (3,)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("2",)
    conn.close()


def test_failed_migration_leaves_the_file_at_its_old_version(tmp_path, monkeypatch):
    path = tmp_path / "v1.sqlite"
    with ReviewStore.open(path, run_name="r", reviewer="a") as s:
        s.set_verdict(["a"], "error")

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE verdicts ADD COLUMN severity INTEGER")
        conn.execute("UPDATE no_such_table SET x = 1")

    monkeypatch.setattr(review, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(review.MIGRATIONS, 1, broken)
    with pytest.raises(ReviewError, match="no_such_table"):
        ReviewStore.open(path, run_name="r", reviewer="a")
    conn = sqlite3.connect(path)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(verdicts)")]
    assert "severity" not in columns
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)
    assert conn.execute("SELECT verdict FROM verdicts").fetchall() == [("error",)]
    conn.close()


def test_store_settings_are_durable_wal_full(store):
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert isinstance(store.verdicts(), pd.DataFrame)
