"""Scores folders read a column at a time: types, ranking without a full sort, rank, previews on demand."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from labeltui.cli import main
from labeltui.config import load_config
from labeltui.convert import convert
from labeltui.engine.query import apply_query, compile_filter, sort_view
from labeltui.errors import LoadError
from labeltui.load import load_run
from labeltui.pipeline import open_scores_dir, scores_for
from labeltui.review import ReviewStore
from labeltui.score_output import score_locally
from labeltui.scores_dir import RowIds, ScoresDir, top_view, write_scores_ranking
from labeltui.tui.session import Session

DEMO = Path(__file__).resolve().parents[1] / "demo"


def demo_config(task: str, folder: Path) -> Path:
    """A copy of a demo config whose review store, export folder and score cache live in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (DEMO / task / "run.yaml").read_text()
    lines = [line for line in text.splitlines() if not line.startswith(("review:", "  store:", "export:", "  dir:"))]
    body = "\n".join(lines).replace("path: ", f"path: {DEMO / task}/").replace("ids: ", f"ids: {DEMO / task}/")
    body = body.replace("assets: ", f"assets: {DEMO / task}/")
    path = folder / "run.yaml"
    path.write_text(
        body + f"\nreview: {{store: {folder / 'review.sqlite'}}}\nexport: {{dir: {folder / 'batches'}}}\n"
        f"cache: {{dir: {folder / 'cache'}}}\n"
    )
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The detection demo as: its config, a sharded run, the scores folder of the sharded
    run (parts of 20 rows) and the scores folder of the plain config."""
    base = tmp_path_factory.mktemp("scores")
    config = load_config(demo_config("detection", base / "src"))
    run_dir = convert(config, base / "run", rows_per_part=25)
    run_dir = run_dir if run_dir.is_dir() else run_dir.parent
    sharded = load_config(run_dir / "run.yaml")
    score_locally(sharded, base / "scores", rows_per_part=20)
    score_locally(config, base / "plain", rows_per_part=20)
    reference = scores_for(config, need_run=True)
    return {"config": config, "sharded": sharded, "scores": base / "scores", "plain": base / "plain", "ref": reference}


# ---------------------------------------------------------------- reading columns


def test_columns_come_back_typed_for_memory(built):
    source = ScoresDir(built["scores"])
    ref = built["ref"].scores
    assert source.columns == list(ref.columns) and source.n_rows == len(ref) and len(source.parts) == 3
    cols = source.read_columns(["data_row_id", "score", "fp", "issue", "classes", "iou"])
    assert isinstance(cols["data_row_id"], pd.arrays.ArrowStringArray)
    assert list(cols["data_row_id"]) == ref["data_row_id"].astype(str).tolist()
    assert cols["score"].dtype == np.float64 and np.array_equal(cols["score"], ref["score"].to_numpy())
    assert cols["fp"].dtype == np.int8 and np.array_equal(cols["fp"], ref["fp"].to_numpy())  # from the part statistics
    for name in ("issue", "classes"):  # text: a categorical with sorted categories
        cat = cols[name]
        assert isinstance(cat, pd.Categorical) and list(cat.categories) == sorted(cat.categories)
        assert list(cat.astype(str)) == ref[name].astype(str).tolist()
    np.testing.assert_allclose(cols["iou"], ref["iou"].to_numpy(dtype=float), equal_nan=True)
    with pytest.raises(LoadError, match="no readable column 'nope'"):
        source.read_columns(["nope"])


def test_values_at_and_objects_at_read_just_those_rows(built):
    source = ScoresDir(built["scores"])
    ref = built["ref"]
    rows = np.array([45, 3, 59, 20, 3])
    got = source.values_at(["data_row_id", "score", "issue_object"], rows)
    assert got["data_row_id"].astype(str).tolist() == ref.scores["data_row_id"].astype(str).iloc[rows].tolist()
    assert np.array_equal(got["issue_object"].to_numpy(), ref.scores["issue_object"].to_numpy()[rows])
    objects = source.objects_at(np.array([1600, 5, 1566, 1567]))
    assert objects.index.tolist() == [5, 1566, 1567, 1600]
    expected = ref.objects.iloc[[5, 1566, 1567, 1600]]
    assert objects["outcome"].astype(str).tolist() == expected["outcome"].astype(str).tolist()
    assert np.allclose(objects["suspicion"].to_numpy(), expected["suspicion"].to_numpy())


# ---------------------------------------------------------------- ranking


def _random_table(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = np.round(rng.random(n), 2)  # many ties
    score[rng.random(n) < 0.3] = 0.0
    score[rng.random(n) < 0.05] = np.nan
    words = np.array(["truck", "car", "bus", "van"], dtype=object)
    return pd.DataFrame({
        "score": score,
        "fp": rng.integers(-3, 4, n).astype(np.int8),
        "flag": rng.random(n) < 0.1,
        "label": pd.Categorical(words[rng.integers(0, 4, n)], categories=list(words)),  # categories not sorted
        "conf": pd.array(np.where(rng.random(n) < 0.1, np.nan, rng.random(n)), dtype="Float64"),
    })


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_view_is_the_head_of_the_full_sort(seed):
    table = _random_table(seed, 30_000)
    rng = np.random.default_rng(seed)
    view = np.sort(rng.choice(len(table), 25_000, replace=False))
    for key in ("score", "fp", "flag", "label", "conf"):
        for descending in (True, False):
            for limit in (1, 40, 300):
                for v in (None, view):
                    every = np.arange(len(table)) if v is None else v
                    want = sort_view(table, every, key, descending)[:limit]
                    got = top_view(table, v, key, descending, limit)
                    assert np.array_equal(got, want), (key, descending, limit, v is None)


def test_top_view_with_everything_tied_or_missing():
    n = 30_000
    tied = pd.DataFrame({"score": np.full(n, 0.5)})
    assert np.array_equal(top_view(tied, None, "score", True, 10), np.arange(10))
    missing = pd.DataFrame({"score": np.where(np.arange(n) % 1000 == 7, 1.0, np.nan)})
    want = sort_view(missing, np.arange(n), "score", True)[:100]
    assert np.array_equal(top_view(missing, None, "score", True, 100), want)  # 30 present, then missing rows in order


def test_filters_and_sorts_work_on_arrow_and_categorical_columns(built):
    """compile_filter / apply_query on the typed columns give what they give on the in-memory scores."""
    source = ScoresDir(built["scores"])
    ref = built["ref"].scores
    table = pd.DataFrame(source.read_columns(source.columns), copy=False)
    assert compile_filter('issue == "x"', source.dtypes()).columns == {"issue"}
    for expr in ('fp >= 1', 'issue == "missing_label"', 'label in ["car", "truck"]', '"truck" in classes',
                 'label != "car"', 'data_row_id == "7"', 'issue != "" and score > 0.5', 'global_key == None',
                 'label < "d"'):
        assert np.array_equal(apply_query(table, expr), apply_query(ref, expr)), expr
    for key in ("label:asc", "label:desc", "issue", "data_row_id:asc", "classes:asc", "score"):
        assert np.array_equal(apply_query(table, None, key), apply_query(ref, None, key)), key


# ---------------------------------------------------------------- rank


def _stdout(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    "extra",
    [
        ["--top", "10", "--format", "csv"],
        ["--format", "jsonl"],
        ["--top", "7", "--format", "csv", "--filter", 'fp >= 1 and "car" in classes', "--sort", "iou:asc"],
        ["--top", "5", "--format", "table", "--sort", "label"],
    ],
)
def test_rank_of_a_scores_folder_prints_what_rank_of_the_config_prints(built, extra):
    code, want, _ = _stdout(["rank", str(built["config"].path), *extra])
    assert code == 0 and want.count("\n") >= 5
    code, got, _ = _stdout(["rank", str(built["scores"]), *extra])
    assert code == 0 and got == want


def test_rank_without_top_writes_in_chunks(built):
    whole, chunked = io.StringIO(), io.StringIO()
    assert write_scores_ranking(built["scores"], "fp >= 1", "score", None, "csv", whole) > 7
    write_scores_ranking(built["scores"], "fp >= 1", "score", None, "csv", chunked, chunk=7)
    assert chunked.getvalue() == whole.getvalue() and whole.getvalue().count("data_row_id") == 1


def test_bad_scores_folders_say_what_is_wrong(built, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(built["scores"], bad)
    manifest = json.loads((bad / "scores.json").read_text())

    def rank() -> str:
        code, _, err = _stdout(["rank", str(bad), "--top", "3"])
        assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
        return err

    (bad / "scores.json").write_text(json.dumps({**manifest, "format": "coco"}))
    assert "scores.json: format: not a labeltui scores folder" in rank()
    parts = [dict(p) for p in manifest["parts"]]
    parts[1]["first_row"] = 21
    (bad / "scores.json").write_text(json.dumps({**manifest, "parts": parts}))
    assert "parts[1].first_row: parts are not contiguous (expected 20, got 21)" in rank()
    (bad / "scores.json").write_text(json.dumps(manifest))
    part = bad / "scores" / "part-00001.parquet"
    pq.write_table(pq.read_table(part).drop_columns(["fp"]), part)
    code, _, err = _stdout(["rank", str(bad), "--filter", "fp >= 1"])
    assert code == 1 and "part-00001.parquet: fp: column missing from this part" in err
    (bad / "scores" / "part-00002.parquet").unlink()
    assert "part-00002.parquet: score part missing" in rank()
    (bad / "scores.json").write_text("{")
    assert "malformed JSON" in rank()


# ---------------------------------------------------------------- ids


def test_row_ids_read_parts_when_needed(built):
    source = ScoresDir(built["scores"])
    ref = built["ref"].scores["data_row_id"].astype(str).to_numpy(dtype=object)
    ids = RowIds.of_folder(source)
    assert ids.get(0) is None and not ids.complete  # nothing read yet
    assert ids[45] == ref[45] and ids.get(45) == ref[45] and ids.get(0) is None  # reads part 2 only
    assert list(ids[np.array([59, 0, 21])]) == [ref[59], ref[0], ref[21]]
    assert list(ids[:3]) == list(ref[:3])
    assert np.array_equal(ids == ref[30], ref == ref[30]) and ids.complete
    pos, which = ids.positions(["nope", ref[40], ref[2]])
    assert pos.tolist() == [2, 40] and which.tolist() == [2, 1]
    memory = RowIds.of_array(pd.Series(["a", None, "c"]))
    assert memory[1] == "" and memory.get(2) == "c" and list(memory[[2, 0]]) == ["c", "a"] and len(memory) == 3


# ---------------------------------------------------------------- previews on demand and the session


def test_shard_rows_fetch_what_the_run_holds(built):
    config, scored = open_scores_dir(built["scores"])
    assert scored.rows is not None and scored.rest is None and not scored.warnings
    ref = built["ref"]
    run = ref.run
    issue_object = ref.scores["issue_object"].to_numpy()
    rows = np.array([int(np.flatnonzero(issue_object >= 0)[0]), 0, 59])
    fetched = scored.rows.fetch(rows, issue_object[rows])
    assert sorted(fetched) == sorted(rows.tolist())
    for row in rows.tolist():
        data = fetched[row]
        lo, hi = np.searchsorted(run.annotations["row"].to_numpy(), [row, row + 1])
        want = run.annotations.iloc[lo:hi].reset_index(drop=True)
        assert data.boxes["label"].astype(str).tolist() == want["label"].astype(str).tolist()
        assert np.allclose(data.boxes[["x0", "y0", "x1", "y1"]].to_numpy(float), want[["x0", "y0", "x1", "y1"]].to_numpy(float))
        assert data.boxes["outcome"].astype(str).tolist() == ref.objects["outcome"].astype(str).iloc[lo:hi].tolist()
        assert data.first == (issue_object[row] - lo if issue_object[row] >= 0 else -1)
        assert data.asset == str(run.rows["asset"].iat[row])


def test_a_session_over_a_scores_folder(built, tmp_path):
    config, scored = open_scores_dir(built["scores"])
    assert config.review_store == built["config"].review_store  # the run config's store (copied by convert)
    assert "data_row_id" not in scored.scores.columns and "iou" not in scored.scores.columns  # read later
    store = ReviewStore.open(tmp_path / "review.sqlite", run_name=config.name, reviewer="ana")
    session = Session(config, scored, store)
    ref = built["ref"].scores
    full = sort_view(ref, np.arange(len(ref)), "score", True)
    session.restore_state()
    assert np.array_equal(session.view, full) and session.matches == 60
    session.limit = 5  # the top of the ranking only
    view = session.query("iou < 0.9", "iou")  # a column the list did not read: read now
    want = apply_query(ref, "iou < 0.9", "iou")
    assert "iou" in session.scores.columns and np.array_equal(view, want[:5]) and session.matches == len(want)
    assert "top 5 of" in session.status_note()
    session.set_verdict(view[:2], "error")
    assert store.verdicts()["data_row_id"].tolist() == sorted(ref["data_row_id"].astype(str).iloc[view[:2]].tolist())
    table, rows = session.export_rows(view[:3])
    assert table["global_key"].tolist() == ref["global_key"].iloc[view[:3]].tolist() and rows.tolist() == [0, 1, 2]
    session.save_state(session.ui_state(int(view[1])))
    again = Session(config, open_scores_dir(built["scores"])[1], store)
    assert again.reviews_pending and not again.ids.complete  # verdicts wait for the ids ...
    located = again.load_reviews()  # ... read in the background by the app, then applied on the UI thread
    again.set_verdict(view[1:2], "ok")  # a verdict given in between
    again.apply_reviews(located)
    assert again.verdict_of(int(view[0])) == "error" and again.verdict_of(int(view[1])) == "ok"  # the newer one kept
    assert store.get(str(ref["data_row_id"].iat[int(view[1])]))["verdict"] == "ok"
    again.limit = 5
    cursor, warning = again.restore_state()
    assert warning is None and again.view[cursor] == view[1]


def test_deferred_run_reads_the_scores_alone(built):
    config = built["config"]
    scores_for(config)  # warm the cache
    scored = scores_for(config, defer_run=True)
    assert scored.run is None and scored.objects is None and scored.from_cache
    assert np.array_equal(scored.ranking, sort_view(scored.scores, np.arange(len(scored.scores)), "score", True))
    run, objects = scored.rest(None)
    assert run.n_rows == len(scored.scores) and len(objects) == len(run.annotations)


def test_run_config_missing_keeps_the_store_with_the_scores(built, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(built["plain"], moved)
    manifest = json.loads((moved / "scores.json").read_text())
    (moved / "scores.json").write_text(json.dumps({**manifest, "config": str(tmp_path / "gone.yaml")}))
    config, scored = open_scores_dir(moved)
    assert config.review_store == moved / "labeltui-review.sqlite" and scored.rows is None and scored.rest is None
    assert "cannot read the run config" in scored.warnings[0] and "previews are off" in scored.warnings[0]


def test_plain_config_scores_folder_loads_the_run_later(built):
    config, scored = open_scores_dir(built["plain"])
    assert scored.rows is None and scored.rest is not None
    run, objects = scored.rest(None)
    assert run.n_rows == 60 and len(objects) == len(run.annotations)
    assert load_run(config).n_rows == 60
