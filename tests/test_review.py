"""The review store: durable verdicts, history, undo, resume, concurrency, bad files."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeltui import review
from labeltui.errors import LoadError
from labeltui.review import ReviewError, ReviewStore
from tests.helpers.read_only import deny_writes_in

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


# ------------------------------------------------------------- bulk changes
def _entries(store: ReviewStore, changeset: int) -> list[tuple]:
    """The stored history entries of a change-set: (field, old, new, row or None, ids or None)."""
    return store._conn.execute(
        "SELECT field, old, new, data_row_id, json(ids) FROM history WHERE changeset = ? ORDER BY id", (changeset,)
    ).fetchall()


def test_bulk_verdict_records_every_previous_state_and_undo_restores_it(store):
    store.set_verdict(["a"], "error")
    store.set_verdict(["b"], "ok")
    store.set_verdict(["c"], "skip")
    store.set_verdict(["d"], "ok")
    store.set_verdict(["d"], None)  # d has a verdicts row without a verdict
    store.set_selected(["e"], True)  # e too, and it is selected
    ids = ["f", "e", "d", "c", "b", "a", "f"]  # any order, duplicates allowed
    store.set_verdict(ids, "error")
    changeset = store.history("f")[-1]["changeset"]
    assert {store.history(i)[-1]["changeset"] for i in "bcdef"} == {changeset}
    assert store.history("a")[-1]["changeset"] != changeset  # unchanged: no history
    assert [(h["old"], h["new"], h["kind"]) for h in (store.history(i)[-1] for i in "bcdef")] == [
        ("ok", "error", "set"),
        ("skip", "error", "set"),
        (None, "error", "set"),
        (None, "error", "set"),
        (None, "error", "set"),
    ]
    # one entry per previous value, not one per row
    assert sorted(_entries(store, changeset), key=str) == sorted(
        [
            ("verdict", None, "error", None, '["d","e","f"]'),
            ("verdict", "ok", "error", "b", None),
            ("verdict", "skip", "error", "c", None),
        ],
        key=str,
    )
    assert store.counts() == {"reviewed": 6, "error": 6, "ok": 0, "skip": 0, "selected": 1}

    assert store.undo() == ["b", "c", "d", "e", "f"]
    assert {i: store.get(i)["verdict"] for i in "abcdef"} == {
        "a": "error", "b": "ok", "c": "skip", "d": None, "e": None, "f": None
    }
    assert store.get("e")["selected"] is True and store.get("f") is not None  # as the per-row store left it
    undo_entry = store.history("e")[-1]
    assert (undo_entry["kind"], undo_entry["old"], undo_entry["new"]) == ("undo", "error", None)
    assert store.undo() == ["e"]  # the selection


def test_bulk_undo_leaves_rows_changed_since_alone(tmp_path):
    path = tmp_path / "u.sqlite"
    ids = [f"row-{i:05d}" for i in range(3000)]
    with ReviewStore.open(path, run_name="r", reviewer="alice") as a, ReviewStore.open(
        path, run_name="r", reviewer="bob"
    ) as b:
        a.set_verdict(ids[:1000], "ok")
        a.set_verdict(ids, "error")
        b.set_verdict(ids[10:20], "skip")
        b.set_note(ids[0], "looked at it")  # another field: the verdict still reverts
        reverted = a.undo()
        assert reverted == ids[:10] + ids[20:]
        frame = a.verdicts().set_index("data_row_id")
        assert (frame.loc[ids[:10], "verdict"] == "ok").all() and (frame.loc[ids[20:1000], "verdict"] == "ok").all()
        assert (frame.loc[ids[10:20], "verdict"] == "skip").all()
        assert frame.loc[ids[1000:], "verdict"].isna().all()
        assert frame.at[ids[0], "note"] == "looked at it"
        assert a.undo() == ids[:10] + ids[20:1000]  # bob's rows stay his
        assert a.counts() == {"reviewed": 10, "error": 0, "ok": 0, "skip": 10, "selected": 0}


def test_bulk_mark_of_new_rows_among_one_old_row(store):
    """Fresh rows are inserted directly; one existing row (missed by the sample the store
    probes) still gets its own previous value recorded and restored."""
    ids = [f"r-{i:05d}" for i in range(5001)]
    store.set_verdict([ids[1]], "ok")
    store.set_verdict(ids, "error")
    changeset = store.history(ids[0])[-1]["changeset"]
    entries = _entries(store, changeset)
    assert len(entries) == 2
    assert ("verdict", "ok", "error", ids[1], None) in entries
    fresh = next(e for e in entries if e[1] is None)
    assert json.loads(fresh[4]) == ids[:1] + ids[2:]
    assert store.counts()["error"] == 5001
    assert store.undo() == ids
    assert store.get(ids[1])["verdict"] == "ok" and store.counts()["reviewed"] == 1


def test_clearing_in_bulk_touches_only_rows_with_a_verdict(store):
    store.set_verdict(["a", "b"], "error")
    store.set_verdict(["a", "b", "new-1", "new-2"], None)
    assert store.get("new-1") is None and store.get("new-2") is None
    assert store.counts()["reviewed"] == 0
    store.set_verdict(["a", "b", "new-1"], None)  # nothing changes: no change-set
    assert store.undo() == ["a", "b"]
    assert store.get("a")["verdict"] == "error"


def test_bulk_selection_and_its_undo(store):
    store.set_selected(["b"], True)
    store.set_selected(["a", "b", "c"], True)
    assert store.counts()["selected"] == 3
    assert store.undo() == ["a", "c"]
    assert [store.get(i)["selected"] for i in "abc"] == [False, True, False]
    store.set_selected(["a", "b", "c"], False)  # only b changes
    assert store.undo() == ["b"] and store.get("b")["selected"] is True


def test_ids_of_any_kind_and_spelling(store):
    odd = ['quote"d', "back\\slash", "tab\there", "new\nline", "ünïcödé", "emoji 🙂", "", " spaced "]
    store.set_verdict(odd + odd, "error")
    assert sorted(store.verdicts()["data_row_id"]) == sorted(odd)
    for rid in odd:
        assert store.history(rid)[-1]["new"] == "error"
    with pytest.raises(ReviewError, match="NUL character"):
        store.set_verdict(["fine", "nul\x00inside"], "ok")
    assert store.get("fine") is None
    store.set_verdict(np.array([3, 1, 2, 3]), "ok")  # numpy array of ints -> "1", "2", "3"
    store.set_verdict((f"g{i}" for i in range(3)), "skip")  # any iterable
    frame = store.verdicts().set_index("data_row_id")
    assert frame.loc[["1", "2", "3"], "verdict"].tolist() == ["ok"] * 3
    assert frame.loc[["g0", "g1", "g2"], "verdict"].tolist() == ["skip"] * 3
    assert sorted(store.undo()) == ["g0", "g1", "g2"]
    assert store.undo() == ["1", "2", "3"]
    assert store.undo() == sorted(odd)
    assert store.counts()["reviewed"] == 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=6), max_size=40), st.booleans())
def test_sorted_ids_match_python_and_sqlite(ids, fixed_width):
    """Both sorters (Python, and numpy for fixed-width ASCII ids) give the distinct ids,
    sorted as SQLite sorts them, as JSON that SQLite reads back to the same strings."""
    if fixed_width:
        ids = [(i.encode("ascii", "replace").decode()[:4] + "____")[:4] for i in ids]
    expected = sorted(set(ids))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(review, "_NUMPY_SORT_MIN", 1)
        if any("\x00" in i for i in expected):  # SQLite would cut the id at the NUL
            with pytest.raises(ReviewError, match="NUL character"):
                review._sorted_ids(ids)
            return
        text, n, sample = review._sorted_ids(ids)
    assert json.loads(text) == expected and n == len(expected)
    assert set(json.loads(sample)) <= set(expected) and (not expected or json.loads(sample)[0] == expected[0])
    conn = sqlite3.connect(":memory:")
    assert [r[0] for r in conn.execute("SELECT value FROM json_each(?)", (text,))] == expected
    assert [r[0] for r in conn.execute("SELECT value FROM json_each(?) ORDER BY value", (text,))] == expected


def test_fixed_width_ids_sorted_with_numpy(store):
    rng = random.Random(5)
    ids = ["c" + "".join(rng.choices("0123456789abcdefghijklmnopqrstuvwxyz", k=24)) for _ in range(12_000)]
    text, n, _ = review._sorted_ids(ids + ids[:500])
    assert json.loads(text) == sorted(set(ids)) and n == 12_000
    assert review._sorted_fixed_width(ids[:-1] + ["short"]) is None  # one id of another length
    assert review._sorted_fixed_width(ids[:-1] + ['c"' + ids[-1][2:]]) is None  # one that needs escaping
    store.set_verdict(np.array(ids), "error")
    assert store.verdicts()["data_row_id"].tolist() == sorted(ids)
    assert store.undo() == sorted(ids)


def test_history_of_a_row_mixes_single_and_bulk_entries_in_order(store):
    store.set_verdict(["x"], "ok")
    store.set_verdict(["w", "x", "y"], "error")
    store.set_note("x", "n")
    store.set_selected(["x", "z"], True)
    store.undo()
    hist = [(h["kind"], h["field"], h["old"], h["new"]) for h in store.history("x")]
    assert hist == [
        ("set", "verdict", None, "ok"),
        ("set", "verdict", "ok", "error"),
        ("set", "note", "", "n"),
        ("set", "selected", False, True),
        ("undo", "selected", True, False),
    ]
    assert [h["id"] for h in store.history("x")] == sorted(h["id"] for h in store.history("x"))
    assert store.history("nobody") == [] and store.history("x\"") == []


def test_bulk_marks_write_a_handful_of_history_rows(store):
    """History does not grow per row: a 20k-row mark is one change-set of one entry."""
    ids = [f"img_{i}" for i in range(20_000)]
    store.set_verdict(ids, "error")
    store.set_verdict(ids[::2], "ok")
    store.set_verdict(ids, "skip")
    assert store._conn.execute("SELECT count(*) FROM history").fetchone()[0] == 4
    assert store.undo() == sorted(ids)
    assert store.counts() == {"reviewed": 20_000, "error": 10_000, "ok": 10_000, "skip": 0, "selected": 0}


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


# usage: STORE N ROUNDS PAUSE. Marks rows w-0..w-N ROUNDS times (with one id: ROUNDS rows
# one by one), pausing PAUSE seconds after each change, and prints what it saved.
MIXED_WRITER = """
import sys, time
from labeltui.review import VERDICTS, ReviewStore
path, n, rounds, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
with ReviewStore.open(path, run_name="helper") as store:
    print("ready", flush=True)
    sys.stdin.readline()
    for k in range(rounds):
        ids = [f"w-{i}" for i in range(n)] if n > 1 else [f"w-{k}"]
        store.set_verdict(ids, VERDICTS[k % 3])
        print(ids[0] if n == 1 else k, VERDICTS[k % 3], flush=True)
        time.sleep(pause)
"""


def test_bulk_and_single_writers_in_two_processes_lose_no_update(tmp_path):
    """One process marks 5000 rows again and again while another marks some of them one by
    one: every row ends with the value of the last change-set that touched it."""
    path = tmp_path / "mixed.sqlite"
    n, rounds, singles = 5000, 10, 100
    procs = {
        who: subprocess.Popen(
            [sys.executable, "-c", MIXED_WRITER, str(path), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(who),
        )
        for who, args in (("bulk", (str(n), str(rounds), "0.02")), ("single", ("1", str(singles), "0.003")))
    }
    for proc in procs.values():
        assert proc.stdout.readline() == "ready\n"
    for proc in procs.values():
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outs = {}
    for who, proc in procs.items():
        outs[who], err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and "locked" not in err, err
    assert len(outs["bulk"].splitlines()) == rounds and len(outs["single"].splitlines()) == singles
    rng = random.Random(3)
    checked = [f"w-{i}" for i in range(singles)] + [f"w-{i}" for i in rng.sample(range(singles, n), 100)]
    with ReviewStore.open(path, run_name="helper", reviewer="check") as s:
        frame = s.verdicts().set_index("data_row_id")
        assert len(frame) == n and frame["verdict"].notna().all()
        for row in checked:
            chain = [h for h in s.history(row) if h["field"] == "verdict"]
            assert (frame.at[row, "verdict"], frame.at[row, "reviewer"]) == (chain[-1]["new"], chain[-1]["reviewer"])
            assert all(a["new"] == b["old"] for a, b in zip(chain, chain[1:]))  # an unbroken chain
        own = 0
        for line in outs["single"].splitlines():  # each saved verdict is in the row's chain
            row, verdict = line.split()
            chain = [h for h in s.history(row) if h["field"] == "verdict"]
            assert any(h["new"] == verdict for h in chain), row
            own += any(h["reviewer"] == "single" and h["new"] == verdict for h in chain)
        assert own >= singles // 2  # (the others found the row holding that verdict already)
        kinds = [r[0] for r in s._conn.execute("SELECT reviewer FROM changesets ORDER BY id")]
        assert sum(a != b for a, b in zip(kinds, kinds[1:])) >= 2, kinds  # the writers did interleave
        untouched = frame.loc[[f"w-{i}" for i in range(singles, n)], "verdict"]
        assert (untouched == review.VERDICTS[(rounds - 1) % 3]).all()


KILLED_BULK = """
import sys
from labeltui.review import ReviewStore
path, n = sys.argv[1], int(sys.argv[2])
with ReviewStore.open(path, run_name="helper", reviewer="bulk") as store:
    store.set_verdict(["before"], "ok")
    print("start", flush=True)
    store.set_verdict([f"k-{i}" for i in range(n)], "error")
    print("done", flush=True)
"""


def test_sigkill_during_a_bulk_verdict_leaves_all_or_nothing(tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    n = 200_000
    outcomes = []
    for attempt in range(3):
        path = tmp_path / f"bulk{attempt}.sqlite"
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_BULK, str(path), str(n)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env_for("bulk"),
        )
        assert proc.stdout.readline() == "start\n"
        time.sleep(rng.uniform(0.0, 0.4))
        proc.kill()
        done = "done" in proc.communicate()[0]
        with ReviewStore.open(path, run_name="helper", reviewer="bulk") as s:
            errors = s.counts()["error"]
            assert errors in (0, n), f"a partial bulk change survived: {errors} rows (seed {seed})"
            assert errors == n or not done, f"a reported bulk change was lost (seed {seed})"
            if errors:
                assert len(s.undo()) == n and s.counts()["error"] == 0
            assert s.get("before")["verdict"] == "ok"
        outcomes.append(errors)
    assert len(outcomes) == 3


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
        store.set_verdict(["keep"] + [f"row-{i}" for i in range(5000)], "ok")
    assert store.get("keep")["verdict"] == "error"
    assert store.get("row-1") is None
    store._conn.execute("PRAGMA max_page_count = 1073741823")  # space again: the store works on
    store.set_verdict(["keep", "row-1"], "skip")
    assert store.undo() == ["keep", "row-1"] and store.get("keep")["verdict"] == "error"


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


def test_read_only_folder_opens_read_only(tmp_path, monkeypatch):
    path = tmp_path / "run.sqlite"
    with ReviewStore.open(path, run_name="r", reviewer="alice") as s:
        s.set_verdict(["a"], "error")
        s.save_state("cursor", 4)
    before = path.read_bytes()
    deny_writes_in(monkeypatch, tmp_path)
    with ReviewStore.open(path, run_name="r", reviewer="bob") as s:
        assert s.read_only and "not writable" in s.read_only_reason
        assert s.get("a")["verdict"] == "error" and s.load_state("cursor") == 4
        assert [h["new"] for h in s.history("a")] == ["error"]
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
    deny_writes_in(monkeypatch, tmp_path)
    with ReviewStore.open(tmp_path / "none.sqlite", run_name="r", reviewer="bob") as s:
        assert s.read_only and s.counts()["reviewed"] == 0 and s.history("a") == []
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
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(review.SCHEMA_VERSION),)
    conn.close()


def _write_v1_store(path: Path) -> None:
    """A store as labeltui wrote it with schema v1: one history row per row and field."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    review._create_v1(conn)
    conn.executemany(
        "INSERT INTO meta VALUES (?, ?)", [("schema_version", "1"), ("run_name", "old-run"), ("created_by", "v1")]
    )
    conn.executemany(
        "INSERT INTO changesets(id, kind, reviewer, at) VALUES (?, 'set', ?, ?)",
        [(1, "alice", 1.0), (2, "alice", 2.0), (3, "bob", 3.0)],
    )
    conn.executemany(
        "INSERT INTO history(changeset, data_row_id, field, old, new, reviewer, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (1, "c", "verdict", None, "error", "alice", 1.0),
            (1, "a", "verdict", None, "error", "alice", 1.0),
            (1, "b", "verdict", None, "error", "alice", 1.0),
            (2, "a", "verdict", "error", "ok", "alice", 2.0),
            (3, "b", "note", "", "hmm", "bob", 3.0),
        ],
    )
    conn.executemany(
        "INSERT INTO verdicts(data_row_id, verdict, note, reviewer, updated_at) VALUES (?, ?, ?, ?, ?)",
        [("a", "ok", "", "alice", 2.0), ("b", "error", "hmm", "bob", 3.0), ("c", "error", "", "alice", 1.0)],
    )
    conn.execute("INSERT INTO state VALUES ('cursor', '7')")
    conn.close()


def test_v1_store_with_per_row_history_is_migrated_and_undoable(tmp_path):
    path = tmp_path / "v1.sqlite"
    _write_v1_store(path)
    with ReviewStore.open(path, run_name="ignored", reviewer="alice") as s:
        assert s.run_name == "old-run" and s.load_state("cursor") == 7
        assert {i: s.get(i)["verdict"] for i in "abc"} == {"a": "ok", "b": "error", "c": "error"}
        assert [(h["changeset"], h["kind"], h["old"], h["new"], h["reviewer"], h["at"]) for h in s.history("a")] == [
            (1, "set", None, "error", "alice", 1.0),
            (2, "set", "error", "ok", "alice", 2.0),
        ]
        assert [(h["field"], h["new"], h["reviewer"]) for h in s.history("b")] == [
            ("verdict", "error", "alice"),
            ("note", "hmm", "bob"),
        ]
        assert s.undo() == ["a"] and s.get("a")["verdict"] == "error"
        assert s.undo() == ["a", "b", "c"]  # the old per-row change-set, reverted as one
        assert s.counts()["reviewed"] == 0 and s.get("b")["note"] == "hmm"
        s.set_verdict(["a", "d"], "skip")
        assert s.undo() == ["a", "d"]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(review.SCHEMA_VERSION),)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        conn.execute("INSERT INTO verdicts(data_row_id, verdict) VALUES ('x', 'maybe')")
    conn.close()


def test_migration_path_upgrades_and_keeps_data(tmp_path, monkeypatch):
    path = tmp_path / "current.sqlite"
    current = review.SCHEMA_VERSION
    with ReviewStore.open(path, run_name="r", reviewer="a") as s:
        s.set_verdict(["a"], "error")

    def to_next(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE verdicts ADD COLUMN severity INTEGER")
        conn.execute("UPDATE verdicts SET severity = 3 WHERE verdict = 'error'")

    monkeypatch.setattr(review, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(review.MIGRATIONS, current, to_next)
    with ReviewStore.open(path, run_name="r", reviewer="a") as s:
        assert s.get("a")["verdict"] == "error"
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT severity FROM verdicts WHERE data_row_id='a'").fetchone() == (3,)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(current + 1),)
    conn.close()


def test_failed_migration_leaves_the_file_at_its_old_version(tmp_path, monkeypatch):
    path = tmp_path / "current.sqlite"
    current = review.SCHEMA_VERSION
    with ReviewStore.open(path, run_name="r", reviewer="a") as s:
        s.set_verdict(["a"], "error")

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE verdicts ADD COLUMN severity INTEGER")
        conn.execute("UPDATE no_such_table SET x = 1")

    monkeypatch.setattr(review, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(review.MIGRATIONS, current, broken)
    with pytest.raises(ReviewError, match="no_such_table"):
        ReviewStore.open(path, run_name="r", reviewer="a")
    conn = sqlite3.connect(path)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(verdicts)")]
    assert "severity" not in columns
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(current),)
    assert conn.execute("SELECT verdict FROM verdicts").fetchall() == [("error",)]
    conn.close()


def test_store_settings_are_durable_wal_full(store):
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert isinstance(store.verdicts(), pd.DataFrame)


def test_processes_opening_a_new_store_together_all_get_in(tmp_path):
    """Setting up a new file (WAL mode, schema) takes a lock: late openers wait for it
    (without the wait about one new store in 25 failed to open for one of 4 processes)."""
    for attempt in range(4):
        path = tmp_path / f"fresh-{attempt}.sqlite"
        procs = [
            subprocess.Popen([sys.executable, str(WRITER), str(path), f"p{k}", "3"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env_for(f"opener{k}"))
            for k in range(8)
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            assert out.splitlines()[0] == "ready" and len(out.splitlines()) == 4
        with ReviewStore.open(path, run_name="helper") as store:
            assert len(store.verdicts()) == 24
