"""Long-session soak of the review app (issue 8 item 5; a script, not a pytest test).

    python tests/perf/soak_tui.py [--rows 1000000] [--keys 20000] [--seed 0] [--projector]

Builds the synthetic scored run of ``bench_tui.py``, opens ``LabelTuiApp``
headless at 200x60 with the review store in a temp dir and drives a scripted
session of ``--keys`` key presses through Textual's Pilot: mostly j/k, page
down/up, g/G, verdicts x/o/s, space, undo, presets 1-4/0, a filter typed after
``/`` now and then, sort flips, preview toggles z/t, and a short dwell now and
then so the row's facts and preview land. With ``--projector`` the run gets
2-D embeddings and ``p`` (open the projector of all rows, let it draw, close it)
is pressed about once per 100 keys; without it the run has none and ``p`` is skipped.

Every 1,000 keys it prints RSS (VmRSS) and the median / p95 cost of a key:
UI-thread CPU time from the key's dispatch until the next key is sent (event
handling, timers it set off, rendering and composing the frames it caused),
the same measure as bench_tui's "move" figures. Pilot's idle waits and the
dwell cost no CPU; Pilot's own dispatch overhead is included; worker threads
(preview decode, store writes of bulk changes) are not. At the end: RSS
growth, the drift of the median from the first to the last window, and the
store checked against an independent model of the verdicts the keys made
(that check also runs after every 1,000 keys: the "agree" column).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_tui import SIZE, Frames, big_jpeg, synthetic_run  # noqa: E402

from labeltui.tui import LabelTuiApp  # noqa: E402
from labeltui.tui.screens.review import ReviewScreen  # noqa: E402

WINDOW = 1000
FILTERS = ("fp >= 1 and max_fp_confidence > 0.8", "score > 0.3", "fn == 0", "fp >= 2 and score > 0.1")
# (key, weight): a reviewer mostly moves and decides
MIX = (
    ("j", 40), ("k", 12), ("pagedown", 4), ("pageup", 2), ("g", 0.5), ("G", 0.5),
    ("x", 8), ("o", 10), ("s", 4), ("space", 4), ("u", 3),
    ("1", 0.6), ("2", 0.4), ("3", 0.4), ("4", 0.4), ("0", 0.8),
    ("r", 0.6), ("z", 1.5), ("t", 1.5), ("/", 0.3), ("p", 0.1), ("dwell", 1.0),
)
VERDICT_KEYS = {"x": "error", "o": "ok", "s": "skip"}
DWELL = 0.3  # seconds: longer than the delay after which facts and preview load


def rss_mb() -> float:
    """Resident set size of this process in MiB (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Model:
    """What the store must hold after the keys: verdicts and selection, with an undo stack of change-sets."""

    def __init__(self) -> None:
        self.verdict: dict[int, str] = {}
        self.selected: set[int] = set()
        self.stack: list[tuple[str, int, object]] = []
        self.verdict_keys = 0
        self.undo_keys = 0

    def set_verdict(self, pos: int, verdict: str) -> None:
        self.verdict_keys += 1
        old = self.verdict.get(pos)
        if old != verdict:  # the store records no change-set for an unchanged value
            self.stack.append(("verdict", pos, old))
            self.verdict[pos] = verdict

    def toggle(self, pos: int) -> None:
        self.stack.append(("selected", pos, pos in self.selected))
        self.selected ^= {pos}

    def undo(self) -> None:
        self.undo_keys += 1
        if not self.stack:
            return
        field, pos, old = self.stack.pop()
        if field == "verdict":
            if old is None:
                del self.verdict[pos]
            else:
                self.verdict[pos] = old
        elif old:
            self.selected.add(pos)
        else:
            self.selected.discard(pos)


def compare(session, model: Model) -> tuple[dict, dict, dict, set, set]:
    """Verdicts in the store, the model and the app's memory, and the selection in the store and the model."""
    store = session.store.verdicts()
    in_store = store[store["verdict"].notna()]
    stored = dict(zip(in_store["data_row_id"].astype(str), in_store["verdict"]))
    expected = {str(session.ids[p]): v for p, v in model.verdict.items()}
    sel_store = set(store.loc[store["selected"], "data_row_id"].astype(str))
    sel_expected = {str(session.ids[p]) for p in model.selected}
    memory = {str(session.ids[p]): v for p in np.flatnonzero(session.verdict >= 0) if (v := session.verdict_of(int(p)))}
    return stored, expected, memory, sel_store, sel_expected


def agrees(stored: dict, expected: dict, memory: dict, sel_store: set, sel_expected: set) -> bool:
    """Store, model and app hold the same verdicts, and store and model the same selection."""
    return stored == expected == memory and sel_store == sel_expected


def script(n: int, seed: int, projector: bool = False) -> list[str]:
    """``n`` keys drawn from MIX (a filter, typed after ``/``, counts as one entry);
    ``projector``: ``p`` about once per 100 keys."""
    rng = np.random.default_rng(seed)
    keys = np.array([k for k, _ in MIX], dtype=object)
    weights = np.array([1.0 if k == "p" and projector else w for k, w in MIX], dtype=float)
    return rng.choice(keys, size=n, p=weights / weights.sum()).tolist()


async def soak(config, scored, n_keys: int, seed: int) -> None:
    app = LabelTuiApp(config=config, scored=scored, reviewer="soak")
    frames = Frames(app)
    frames.install()
    model = Model()
    rng = np.random.default_rng(seed + 1)
    has_embeddings = scored.run.embeddings is not None
    counts = {"filters typed": 0, "filter errors": 0, "projector toggles": 0, "dwells": 0}
    async with app.run_test(size=SIZE) as pilot:
        while not (isinstance(app.screen, ReviewScreen) and "ReviewScreen" in frames.screens):
            await asyncio.sleep(0.002)
        screen: ReviewScreen = app.screen
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
        session = screen.session
        start_rss = rss_mb()
        print(f"start: RSS {start_rss:,.1f} MiB, {len(session.view):,} rows shown")
        print(f"{'keys':>7} {'RSS MiB':>9} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'wall ms/key':>12} {'shown':>10} {'verdicts':>9} {'agree':>6}")
        cpu: list[float] = []
        windows: list[float] = []
        wall_start = time.perf_counter()
        done = 0
        plan = script(n_keys, seed, has_embeddings)
        for key in plan:
            if screen.suspects.anchor is not None or app.screen is not screen:
                raise RuntimeError(f"the session left the review list before key {done}")
            t0 = time.thread_time()
            if key == "dwell":
                counts["dwells"] += 1
                await pilot.pause(DWELL)
            elif key == "/":
                expr = FILTERS[int(rng.integers(len(FILTERS)))]
                counts["filters typed"] += 1
                await pilot.press("slash", "end", "ctrl+u", *expr, "enter")
                if not screen.suspects.has_focus:
                    counts["filter errors"] += 1
                    await pilot.press("escape")
            elif key == "p":
                if has_embeddings:
                    counts["projector toggles"] += 1
                    await pilot.press("p")
                    await pilot.pause(DWELL)
                    await pilot.press("p")
            else:
                pos = screen.suspects.cursor_pos if screen.suspects.row_count else -1
                await pilot.press(key)
                if pos >= 0 and key in VERDICT_KEYS:
                    model.set_verdict(pos, VERDICT_KEYS[key])
                elif pos >= 0 and key == "space":
                    model.toggle(pos)
                elif key == "u":
                    model.undo()
            n = len(frames.times)
            end = time.perf_counter() + 0.05
            while len(frames.times) == n and time.perf_counter() < end:  # let the frame the key caused be written
                await asyncio.sleep(0.001)
            cpu.append((time.thread_time() - t0) * 1000)
            done += 1
            if done % WINDOW == 0 or done == n_keys:
                window = cpu[-((done - 1) % WINDOW + 1) :]  # the keys since the last report
                windows.append(statistics.median(window))
                wall = (time.perf_counter() - wall_start) * 1000 / done
                await app.workers.wait_for_complete()
                agree = "yes" if agrees(*compare(session, model)) else "NO"
                print(
                    f"{done:>7,} {rss_mb():>9,.1f} {windows[-1]:>10.2f} {np.percentile(window, 95):>8.2f} "
                    f"{max(window):>8.1f} {wall:>12.1f} {len(session.view):>10,} {len(model.verdict):>9,} {agree:>6}",
                    flush=True,
                )
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        end_rss = rss_mb()
        stored, expected, memory, sel_store, sel_expected = compare(session, model)

    print(f"\nsoak: {done:,} keys on {len(session.scores):,} rows, {SIZE[0]}x{SIZE[1]}, seed {seed}")
    print("  cost per key: UI-thread CPU from the key's dispatch to the next key (handlers, timers, frames)")
    print(f"  wall time                                  {time.perf_counter() - wall_start:12,.1f} s")
    print(f"  frames written                             {len(frames.times):12,}")
    for name, value in counts.items():
        print(f"  {name:42s} {value:12,}")
    if not has_embeddings:
        print("  projector                                  skipped (the synthetic run has no embeddings)")
    print(f"  RSS start / end (MiB)                      {start_rss:12,.1f} / {end_rss:,.1f}")
    print(f"  RSS growth (MiB)                           {end_rss - start_rss:12,.1f}")
    print(f"  median ms first / last window              {windows[0]:12.2f} / {windows[-1]:.2f}")
    print(f"  last / first window median                 {windows[-1] / windows[0]:12.2f}")
    print(f"  verdict keys pressed (on a row)            {model.verdict_keys:12,}")
    print(f"  undo keys pressed                          {model.undo_keys:12,}")
    print(f"  verdict keys - undos (upper bound)         {model.verdict_keys - model.undo_keys:12,}")
    print(f"  rows with a verdict: model / store / app   {len(expected):12,} / {len(stored):,} / {len(memory):,}")
    print(f"  selected rows: model / store               {len(sel_expected):12,} / {len(sel_store):,}")
    same = agrees(stored, expected, memory, sel_store, sel_expected)
    print(f"  store == model == app (every row)          {'yes' if same else 'NO':>12}")
    if not same:
        for name, a, b in (("store vs model", stored, expected), ("app vs model", memory, expected)):
            diff = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            print(f"  {name}: {len(diff)} rows differ, e.g. {[(k, a.get(k), b.get(k)) for k in diff[:3]]}")
        print(f"  selection: {len(sel_store ^ sel_expected)} rows differ")
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--projector", action="store_true", help="give the run 2-D embeddings and open the projector")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        config, scored = synthetic_run(args.rows, big_jpeg(folder), folder, points=args.projector)
        print(f"synthetic run: {args.rows:,} rows, {len(scored.run.annotations):,} boxes ({time.perf_counter() - t:.1f} s)")
        asyncio.run(soak(config, scored, args.keys, args.seed))


if __name__ == "__main__":
    main()
