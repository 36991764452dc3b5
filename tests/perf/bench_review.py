"""Benchmark: review store write latency, single and bulk, against the old per-row store.

usage: python tests/perf/bench_review.py [--sizes 10000 100000 1000000] [--repeat 3]
                                         [--ids var cuid] [--baseline-max 100000] [--dir DIR]

Prints, as medians over ``--repeat`` runs (each on a fresh store file, WAL +
synchronous=FULL, so every figure includes the fsync that makes it durable):

- the latency of one single-row verdict (the ``x`` key): median and p90 of 200+,
  old and new store taking turns;
- a verdict applied to N rows that have none yet ("select all, then x");
- a second verdict over the same N rows ("re-mark": every row has an old value);
- undo of that re-mark (N rows reverted);
- with ``--session N``: the app's side of it on bench_tui's synthetic N-row run:
  a verdict on every row, then ``Session.undo`` (the store's undo plus the
  arrays the list shows), against the store's undo followed by reading every
  verdict back (what the app did before).

"before" is the previous store (one history row per row, rebuilt here from its
SQL on a schema-v1 file) measured in the same run, up to ``--baseline-max`` rows
(once at 1M rows, where it takes 25-40 s per operation).
Ids come in random order (as a ranked list gives them), in two shapes: ``var``,
``img_<i>`` (variable length, sorted as Python str) and ``cuid``, 25-character
Labelbox-style ids (fixed length, sorted with numpy).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from labeltui import review  # noqa: E402
from labeltui.review import ReviewStore  # noqa: E402

TARGETS = {100_000: 0.4, 1_000_000: 3.0}  # seconds for a bulk verdict, from the issue
BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def make_ids(shape: str, n: int, rng: random.Random) -> list[str]:
    """``n`` distinct ids of a shape (see the module doc), shuffled."""
    if shape == "var":
        ids = [f"img_{i}" for i in range(n)]
    else:
        ids = ["c" + "".join(rng.choices(BASE36, k=16)) + f"{i:08x}" for i in range(n)]
    rng.shuffle(ids)
    return ids


class LegacyStore:
    """The store's write path before bulk history entries: schema v1, one history row per row."""

    def __init__(self, path: Path, reviewer: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        review._create_v1(self.conn)
        self.reviewer = reviewer

    def _tx(self, fn: Callable[[], object]) -> object:
        self.conn.execute("BEGIN IMMEDIATE")
        result = fn()
        self.conn.execute("COMMIT")
        return result

    def _apply(self, changeset: int, now: float) -> list[str]:
        for field in review.FIELDS:
            self.conn.execute(
                f"INSERT INTO verdicts(data_row_id, {field}, reviewer, updated_at) "
                "SELECT data_row_id, new, ?, ? FROM history WHERE changeset = ? AND field = ? "
                f"ORDER BY id ON CONFLICT(data_row_id) DO UPDATE SET {field} = excluded.{field}, "
                "reviewer = excluded.reviewer, updated_at = excluded.updated_at",
                (self.reviewer, now, changeset, field),
            )
        rows = self.conn.execute(
            "SELECT data_row_id FROM history WHERE changeset = ? GROUP BY data_row_id ORDER BY min(id)",
            (changeset,),
        ).fetchall()
        return [r[0] for r in rows]

    def set_verdict(self, ids: list[str], verdict: str | None) -> None:
        ids_json = json.dumps([str(i) for i in ids], ensure_ascii=False)

        def tx() -> None:
            now = time.time()
            changeset = self.conn.execute(
                "INSERT INTO changesets(kind, reviewer, at) VALUES ('set', ?, ?)", (self.reviewer, now)
            ).lastrowid
            self.conn.execute(
                "WITH ids(id, k) AS (SELECT value, min(key) FROM json_each(?) GROUP BY value) "
                "INSERT INTO history(changeset, data_row_id, field, old, new, reviewer, at) "
                "SELECT ?, ids.id, 'verdict', v.verdict, ?, ?, ? "
                "FROM ids LEFT JOIN verdicts AS v ON v.data_row_id = ids.id "
                "WHERE v.verdict IS NOT ? ORDER BY ids.k",
                (ids_json, changeset, verdict, self.reviewer, now, verdict),
            )
            self._apply(changeset, now)

        self._tx(tx)

    def undo(self) -> list[str]:
        def tx() -> list[str]:
            now = time.time()
            target = self.conn.execute(
                "SELECT id FROM changesets WHERE reviewer = ? AND kind = 'set' AND id NOT IN "
                "(SELECT undoes FROM changesets WHERE undoes IS NOT NULL) ORDER BY id DESC LIMIT 1",
                (self.reviewer,),
            ).fetchone()[0]
            changeset = self.conn.execute(
                "INSERT INTO changesets(kind, reviewer, at, undoes) VALUES ('undo', ?, ?, ?)",
                (self.reviewer, now, target),
            ).lastrowid
            self.conn.execute(
                "INSERT INTO history(changeset, data_row_id, field, old, new, reviewer, at) "
                "SELECT ?, h.data_row_id, h.field, h.new, h.old, ?, ? "
                "FROM history AS h LEFT JOIN verdicts AS v ON v.data_row_id = h.data_row_id "
                "WHERE h.changeset = ? AND v.verdict IS h.new ORDER BY h.id",
                (changeset, self.reviewer, now, target),
            )
            return self._apply(changeset, now)

        return self._tx(tx)

    def counts(self) -> dict[str, int]:
        row = self.conn.execute("SELECT count(verdict), coalesce(sum(verdict = 'error'), 0) FROM verdicts").fetchone()
        return {"reviewed": row[0], "error": row[1]}

    def close(self) -> None:
        self.conn.close()


def _new_store(kind: str, folder: Path) -> ReviewStore | LegacyStore:
    path = Path(tempfile.mkdtemp(dir=folder)) / "review.sqlite"
    if kind == "before":
        return LegacyStore(path, "bench")
    return ReviewStore.open(path, run_name="bench", reviewer="bench")


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def single_latency(folder: Path, rounds: int, n: int = 40) -> dict[str, tuple[float, float, float]]:
    """Per store kind: median and p90 wall seconds, and median CPU seconds, of one durable
    single-row verdict; the kinds take turns so both see the same disk and load."""
    stores = {kind: _new_store(kind, folder) for kind in ("before", "after")}
    wall: dict[str, list[float]] = {kind: [] for kind in stores}
    cpu: dict[str, list[float]] = {kind: [] for kind in stores}
    for r in range(rounds):
        for kind, store in stores.items():
            for i in range(n):
                start, start_cpu = time.perf_counter(), time.process_time()
                store.set_verdict([f"img_{(r * n + i) % 50}"], ("error", "ok", "skip")[i % 3])
                wall[kind].append(time.perf_counter() - start)
                cpu[kind].append(time.process_time() - start_cpu)
    for store in stores.values():
        store.close()
    out = {}
    for kind in stores:
        times = sorted(wall[kind])
        out[kind] = (statistics.median(times), times[int(0.9 * (len(times) - 1))], statistics.median(cpu[kind]))
    return out


def bulk(kind: str, folder: Path, ids: list[str]) -> dict[str, float]:
    """Seconds for: a verdict on rows without one, a second verdict on them, undo of the second."""
    store = _new_store(kind, folder)
    out = {
        "mark": _timed(lambda: store.set_verdict(ids, "error")),
        "re-mark": _timed(lambda: store.set_verdict(ids, "ok")),
    }
    reverted: list[str] = []
    out["undo"] = _timed(lambda: reverted.extend(store.undo()))
    counts = store.counts()
    store.close()
    assert len(reverted) == len(ids) and counts["reviewed"] == len(ids) and counts["error"] == len(ids), counts
    return out


def session_undo(n: int, folder: Path, repeat: int) -> None:
    """Print the seconds of a whole-list verdict and its undo through the app's Session."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_tui import big_jpeg, synthetic_run

    from labeltui.tui.session import Session

    config, scored = synthetic_run(n, big_jpeg(folder), folder)
    store = ReviewStore.open(folder / "session.sqlite", run_name="bench", reviewer="ana")
    session = Session(config, scored, store)
    session.query("")
    session.set_verdict(session.view[:1000], "ok")  # some rows had a verdict before
    times: dict[str, list[float]] = {"mark": [], "undo": [], "undo, then read every verdict back": []}
    for _ in range(repeat):
        times["mark"].append(_timed(lambda: session.set_verdict(session.view, "error")))
        times["undo"].append(_timed(session.undo))
        session.set_verdict(session.view, "error")

        def reread() -> None:
            store.undo()
            session._load_reviews(store.verdicts())

        times["undo, then read every verdict back"].append(_timed(reread))
    store.close()
    cells = "   ".join(f"{op} {statistics.median(t):6.2f} s" for op, t in times.items())
    print(f"app session, {n:,} rows: {cells}   [{repeat} runs]", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ids", nargs="+", choices=("var", "cuid"), default=["var", "cuid"], help="id shapes")
    parser.add_argument("--baseline-max", type=int, default=100_000, help="largest size to run the old store at")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the store files (default: a temp dir)")
    parser.add_argument("--session", type=int, default=0, metavar="N", help="also time the app's undo on N rows")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-review-", dir=args.dir))
    rng = random.Random(0)
    try:
        print(
            f"sqlite {sqlite3.sqlite_version}, {args.repeat} runs each, medians; store files in {folder}; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        for kind, (med, p90, cpu) in single_latency(folder, rounds=max(args.repeat, 5)).items():
            print(
                f"{kind:6s} single verdict, durable: median {med * 1e3:6.2f} ms   p90 {p90 * 1e3:6.2f} ms   "
                f"(CPU median {cpu * 1e3:5.2f} ms; the rest is the fsync)",
                flush=True,
            )
        for n in args.sizes:
            for shape_index, shape in enumerate(args.ids):
                ids = make_ids(shape, n, rng)
                for kind in ("before", "after"):
                    if kind == "before" and (n > args.baseline_max or shape_index > 0):
                        continue
                    repeat = args.repeat if kind == "after" or n < 1_000_000 else 1
                    runs = [bulk(kind, folder, ids) for _ in range(repeat)]
                    cells = "   ".join(
                        f"{op} {statistics.median(r[op] for r in runs):7.3f} s" for op in ("mark", "re-mark", "undo")
                    )
                    target = TARGETS.get(n)
                    note = f"   (target: mark <= {target} s)" if target and kind == "after" else ""
                    print(f"{kind:6s} bulk {n:>9,d} {shape:4s} ids: {cells}   [{len(runs)} runs]{note}", flush=True)
        if args.session:
            session_undo(args.session, folder, args.repeat)
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
