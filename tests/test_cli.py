"""The headless CLI end to end on the demo runs: validate, rank, export."""

import csv
import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from labeltui.cli import main
from labeltui.manifest import load_manifest
from labeltui.review import ReviewStore

DEMO = Path(__file__).resolve().parents[1] / "demo"


@pytest.fixture
def detection(tmp_path) -> Path:
    shutil.copytree(DEMO / "detection", tmp_path / "detection", ignore=shutil.ignore_patterns(".labeltui-cache", "*.sqlite*", "batches"))
    return tmp_path / "detection" / "run.yaml"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_prints_a_summary(capsys, detection):
    code, out, _ = run_cli(capsys, "validate", str(detection))
    assert code == 0
    assert "data rows: 60" in out and "OK: the run is usable" in out
    assert "car" in out and "truck" in out


def test_validate_bad_config_is_one_line(capsys, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("task: detection\nground_truth: {format: coco, path: nope.json}\n")
    code, out, err = run_cli(capsys, "validate", str(cfg))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "ground_truth.path: file not found" in err


def test_rank_csv_header_and_order(capsys, detection):
    code, out, _ = run_cli(capsys, "rank", str(detection), "--top", "10", "--format", "csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0][:3] == ["data_row_id", "score", "issue"]
    scores = [float(r[1]) for r in rows[1:]]
    assert len(scores) == 10 and scores == sorted(scores, reverse=True)


def test_rank_filter_sort_and_jsonl(capsys, detection):
    code, out, _ = run_cli(capsys, "rank", str(detection), "--filter", "fp >= 1 and max_fp_confidence > 0.8", "--sort", "max_fp_confidence:asc", "--format", "jsonl")
    assert code == 0
    recs = [json.loads(line) for line in out.splitlines()]
    assert recs and all(r["fp"] >= 1 and r["max_fp_confidence"] > 0.8 for r in recs)
    conf = [r["max_fp_confidence"] for r in recs]
    assert conf == sorted(conf)


def test_rank_bad_filter_points_at_the_column(capsys, detection):
    code, out, err = run_cli(capsys, "rank", str(detection), "--filter", "fpp >= 1")
    assert code == 1 and out == ""
    assert "fpp" in err and "did you mean 'fp'" in err


def test_rank_uses_the_score_cache(capsys, detection):
    run_cli(capsys, "rank", str(detection), "--top", "3", "--format", "csv")
    cache = list((detection.parent / ".labeltui-cache").glob("*-scores.parquet"))
    assert len(cache) == 1
    _, first, _ = run_cli(capsys, "rank", str(detection), "--top", "3", "--format", "csv")
    _, again, _ = run_cli(capsys, "rank", str(detection), "--top", "3", "--format", "csv", "--no-cache")
    assert first == again
    (detection.parent / "run.yaml").write_text(detection.read_text() + "\nmatching: {iou_threshold: 0.6}\n")
    run_cli(capsys, "rank", str(detection), "--top", "3")
    assert len(list((detection.parent / ".labeltui-cache").glob("*-scores.parquet"))) == 2


def test_export_reviewed_errors_round_trip(capsys, detection, tmp_path):
    store = ReviewStore.open(detection.parent / "labeltui-review.sqlite", run_name="demo", reviewer="ana")
    store.set_verdict(["25", "29"], "error")
    store.set_verdict(["31"], "ok")
    store.set_note("29", "car in the corner")
    store.close()
    out_path = tmp_path / "batch.json"
    code, out, _ = run_cli(capsys, "export", str(detection), "-o", str(out_path), "--verdict", "error", "--name", "fix-1")
    assert code == 0 and "wrote 2 rows" in out
    m = load_manifest(out_path)
    assert m.name == "fix-1" and list(m.rows["data_row_id"]) == ["25", "29"]
    assert list(m.rows["verdict"]) == ["error", "error"]
    assert m.rows.set_index("data_row_id").loc["29", "note"] == "car in the corner"
    assert m.reviewers == ("ana",)
    code, out, _ = run_cli(capsys, "export", str(detection), "-o", str(out_path), "--verdict", "error")
    assert code == 0 and (tmp_path / "batch-2.json").exists()


def test_export_labelbox_flavour_from_the_ranking(capsys, detection, tmp_path):
    out_path = tmp_path / "lb.json"
    code, _, _ = run_cli(capsys, "export", str(detection), "-o", str(out_path), "--format", "labelbox", "--top", "5", "--priority", "2", "--filter", "issue == 'missing_label'")
    assert code == 0
    doc = json.loads(out_path.read_text())
    (batch,) = doc["batches"]
    assert batch["priority"] == 2 and len(batch.get("global_keys") or batch.get("data_rows")) == 4


def test_export_with_nothing_to_export_fails_cleanly(capsys, detection, tmp_path):
    code, _, err = run_cli(capsys, "export", str(detection), "-o", str(tmp_path / "x.json"), "--verdict", "error")
    assert code == 1 and "no rows to export" in err and err.count("\n") == 1


def test_rank_filters_on_the_rows_classes(capsys, detection):
    code, out, _ = run_cli(capsys, "rank", str(detection), "--filter", '"truck" in classes and issue == "wrong_class"', "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows
    assert all("truck" in r["classes"].split("|") and r["issue"] == "wrong_class" for r in rows)


def test_open_a_missing_path_fails_before_the_app_starts(tmp_path, capsys):
    assert main(["open", str(tmp_path / "nope.yaml")]) == 1
    err = capsys.readouterr().err.strip()
    assert "nope.yaml: no such file or folder" in err and len(err.splitlines()) == 1


def test_export_from_a_scores_folder_matches_the_config(capsys, detection, tmp_path):
    shards, scores = tmp_path / "shards", tmp_path / "scores"
    assert run_cli(capsys, "convert", str(detection), "-o", str(shards))[0] == 0
    assert run_cli(capsys, "score", str(shards / "run.yaml"), "-o", str(scores))[0] == 0
    query = ("--top", "4", "--filter", 'fp >= 1 and "car" in classes', "--sort", "max_fp_confidence")
    for source, name in ((scores, "a.json"), (detection, "b.json")):
        assert run_cli(capsys, "export", str(source), "-o", str(tmp_path / name), *query)[0] == 0
    a, b = load_manifest(tmp_path / "a.json"), load_manifest(tmp_path / "b.json")
    assert len(a.rows) == 4
    pd.testing.assert_frame_equal(a.rows, b.rows)
    store = ReviewStore.open(detection.parent / "labeltui-review.sqlite", run_name="demo", reviewer="ana")
    store.set_verdict(["25", "29"], "error")
    store.close()
    assert run_cli(capsys, "export", str(scores), "-o", str(tmp_path / "c.json"), "--verdict", "error")[0] == 0
    assert list(load_manifest(tmp_path / "c.json").rows["data_row_id"]) == ["25", "29"]
