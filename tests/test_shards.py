"""Sharded runs: labeltui convert, the manifest, parts and on-demand annotations."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labeltui import shards
from labeltui.cli import main
from labeltui.config import load_config
from labeltui.convert import convert
from labeltui.errors import LoadError
from labeltui.load import load_run
from labeltui.pipeline import scores_for
from labeltui.run import ModelRun, build_run
from labeltui.shards import annotations_for, load_part, load_shards, read_manifest, write_shards

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "formats"
DEMOS = ("detection", "ner", "classification")


def labelbox_run(folder: Path) -> Path:
    """A Labelbox run: the published export as ground truth, prediction and metric
    lines written for its data rows (shifted boxes, one extra class)."""
    folder.mkdir(parents=True, exist_ok=True)
    records = [json.loads(line) for line in (SAMPLES / "export_v2_image_bbox.ndjson").read_text().splitlines() if line.strip()]
    preds, metrics = [], []
    for i, rec in enumerate(records):
        drid = rec["data_row"]["id"]
        objects = next(iter(rec["projects"].values()))["labels"][0]["annotations"]["objects"]
        for j, o in enumerate(objects):
            b = o["bounding_box"]
            box = {"top": b["top"] + 1, "left": b["left"], "height": b["height"], "width": b["width"]}
            preds.append({"dataRow": {"id": drid}, "name": o["name"], "bbox": box, "confidence": 0.5 + 0.03 * j})
        preds.append({"dataRow": {"id": drid}, "name": "cat", "bbox": {"top": 5, "left": 5, "height": 20, "width": 20}, "confidence": 0.95})
        metrics.append({"dataRow": {"id": drid}, "metricValue": 0.25 * (i + 1), "metricName": "uploaded_iou"})
    (folder / "preds.ndjson").write_text("".join(json.dumps(p) + "\n" for p in preds))
    (folder / "metrics.ndjson").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    cfg = folder / "run.yaml"
    cfg.write_text(
        "name: labelbox-sample\ntask: detection\n"
        f"ground_truth: {{format: labelbox, path: {SAMPLES / 'export_v2_image_bbox.ndjson'}}}\n"
        "predictions: {format: labelbox-predictions, path: preds.ndjson}\n"
        "metrics:\n  - {format: labelbox-metrics, path: metrics.ndjson}\n"
    )
    return cfg


def source_config(name: str, tmp_path: Path) -> Path:
    return labelbox_run(tmp_path / "labelbox") if name == "labelbox" else ROOT / "demo" / name / "run.yaml"


def assert_runs_equal(a: ModelRun, b: ModelRun, *, check_warnings: bool = True) -> None:
    pd.testing.assert_frame_equal(a.rows, b.rows, check_exact=True)
    pd.testing.assert_frame_equal(a.annotations, b.annotations, check_exact=True)
    pd.testing.assert_frame_equal(a.metrics, b.metrics, check_exact=True)
    assert (a.name, a.task, a.classes) == (b.name, b.task, b.classes)
    for f in ("gt_label", "pred_label", "pred_confidence", "probs", "embeddings", "embedding_mask"):
        x, y = getattr(a, f), getattr(b, f)
        assert (x is None) == (y is None), f
        if x is not None:
            assert x.dtype == y.dtype and x.shape == y.shape, f
            np.testing.assert_array_equal(x, y, err_msg=f)
    if check_warnings:
        assert (a.warnings, a.stats) == (b.warnings, b.stats)


PART_ROWS = {"detection": 7, "ner": 45, "classification": 150, "labelbox": 1}  # 6 to 9 parts, 2 for labelbox


@pytest.fixture(scope="module", params=[*DEMOS, "labelbox"])
def converted(request, tmp_path_factory):
    """(source config, original run, manifest path) of a run converted into several parts."""
    tmp = tmp_path_factory.mktemp(request.param)
    config = load_config(source_config(request.param, tmp))
    manifest = convert(config, tmp / "sharded", rows_per_part=PART_ROWS[request.param])
    return config, load_run(config), manifest


# ---------------------------------------------------------------- round trip


def test_load_shards_equals_load_run(converted):
    config, run, manifest = converted
    assert_runs_equal(load_shards(manifest), run)
    m = read_manifest(manifest)
    assert (m["format"], m["version"], m["n_rows"], m["n_annotations"]) == ("labeltui-shards", 1, run.n_rows, len(run.annotations))
    assert m["source_config"] == str(config.path) and m["classes"] == run.classes
    per_part = [p["n_rows"] for p in m["parts"]]
    assert len(per_part) >= 2 and sum(per_part) == run.n_rows
    assert all(n == per_part[0] for n in per_part[:-1]) and 0 < per_part[-1] <= per_part[0]
    assert [p["first_row"] for p in m["parts"]] == list(np.cumsum([0, *per_part[:-1]]))
    assert m["embedding_dim"] == (None if run.embeddings is None else run.embeddings.shape[1])


def test_sharded_config_loads_and_scores_like_the_source(converted):
    config, run, manifest = converted
    sharded = load_config(manifest.parent / "run.yaml")
    assert (sharded.name, sharded.task, sharded.ground_truth.format) == (config.name, config.task, "shards")
    assert (sharded.matching, sharded.scoring, sharded.review_store) == (config.matching, config.scoring, config.review_store)
    assert_runs_equal(load_run(sharded), run)
    expected = scores_for(config, use_cache=False)
    got = scores_for(sharded, use_cache=False)
    pd.testing.assert_frame_equal(got.scores, expected.scores, check_exact=True)
    if expected.objects is not None:
        pd.testing.assert_frame_equal(got.objects, expected.objects, check_exact=True)


def test_parts_are_slices_and_concatenate_to_the_run(converted):
    _, run, manifest = converted
    m = read_manifest(manifest)
    parts = [load_part(manifest, k) for k in range(len(m["parts"]))]
    for spec, part in zip(m["parts"], parts):
        lo, n = spec["first_row"], spec["n_rows"]
        assert part.classes == run.classes and part.n_rows == n
        assert part.rows.index.equals(pd.RangeIndex(n))
        pd.testing.assert_frame_equal(part.rows, run.rows.iloc[lo : lo + n].reset_index(drop=True), check_exact=True)
        ann = part.annotations
        assert len(ann) == spec["n_annotations"]
        assert ann["row"].between(0, n - 1).all()
        expected = run.annotations[run.annotations["row"].between(lo, lo + n - 1)].reset_index(drop=True)
        pd.testing.assert_frame_equal(ann.assign(row=ann["row"] + lo), expected, check_exact=True)
        if run.probs is not None:
            np.testing.assert_array_equal(part.probs, run.probs[lo : lo + n])
            np.testing.assert_array_equal(part.gt_label, run.gt_label[lo : lo + n])
    whole = ModelRun(
        name=run.name,
        task=run.task,
        rows=pd.concat([p.rows for p in parts], ignore_index=True),
        annotations=pd.concat(
            [p.annotations.assign(row=p.annotations["row"] + s["first_row"]) for p, s in zip(parts, m["parts"])], ignore_index=True
        ),
        classes=parts[0].classes,
        metrics=pd.concat([p.metrics for p in parts], ignore_index=True),
        **{
            f: None if getattr(parts[0], f) is None else np.concatenate([getattr(p, f) for p in parts])
            for f in ("gt_label", "pred_label", "pred_confidence", "probs", "embeddings", "embedding_mask")
        },
    )
    assert_runs_equal(whole, run, check_warnings=False)


def test_load_part_with_global_rows(converted):
    _, run, manifest = converted
    k = len(read_manifest(manifest)["parts"]) - 1
    spec = read_manifest(manifest)["parts"][k]
    part = load_part(manifest, k, local_rows=False)
    lo, n = spec["first_row"], spec["n_rows"]
    assert part.rows.index.equals(pd.RangeIndex(lo, lo + n)) and part.metrics.index.equals(part.rows.index)
    assert part.rows["data_row_id"].tolist() == run.rows["data_row_id"].iloc[lo : lo + n].tolist()
    assert part.annotations["row"].tolist() == run.annotations["row"][run.annotations["row"].between(lo, lo + n - 1)].tolist()
    with pytest.raises(IndexError):
        load_part(manifest, len(read_manifest(manifest)["parts"]))


def test_annotations_for_returns_the_rows_objects_with_global_index(converted):
    _, run, manifest = converted
    rng = np.random.default_rng(0)
    for rows in (np.array([0]), np.array([run.n_rows - 1, 1, 1]), rng.choice(run.n_rows, size=min(9, run.n_rows), replace=False)):
        got = annotations_for(manifest, rows)
        expected = run.annotations[np.isin(run.annotations["row"].to_numpy(), rows)]
        pd.testing.assert_frame_equal(got, expected.set_axis(pd.Index(expected.index, dtype=np.int64)), check_exact=True)
    empty = annotations_for(manifest, np.array([], dtype=np.int64))
    assert empty.empty and list(empty.columns) == list(run.annotations.columns)
    with pytest.raises(IndexError):
        annotations_for(manifest, np.array([run.n_rows]))


# ---------------------------------------------------------------- layout details


def awkward_run() -> ModelRun:
    """Column names that collide with reserved part columns, metadata Arrow cannot
    type, polygons, a metric named like a rows column, rows without embeddings."""
    ids = [f"r{i}" for i in range(6)]
    rows = pd.DataFrame(
        {
            "data_row_id": pd.Series(ids, dtype=object),
            "global_key": pd.Series([None, "k1", None, "k3", None, None], dtype=object),
            "asset": pd.Series([f"/img/{i}.png" for i in ids], dtype=object),
            "width": np.full(6, 100.0),
            "height": np.full(6, 80.0),
            "row": np.arange(6) * 10,
            "gt_label": ["a", "b", "c", "d", "e", "f"],
            "prob:x": np.arange(6, dtype=np.int32),
            "mixed": pd.Series([1, "two", None, 3.5, {"k": [1]}, "six"], dtype=object),
            "records": pd.Series([{"a": 1}, {"b": "x"}, None, {"a": 2}, {}, {"a": None}], dtype=object),
            "count": pd.Series([1, None, 3, 4, 5, 6], dtype=object),
            "tags": pd.Series([["x"], [], None, ["y", "z"], ["x"], ["w"]], dtype=object),
        }
    )
    ann = pd.DataFrame(
        {
            "data_row_id": pd.Series(["r0", "r0", "r3", "r5"], dtype=object),
            "source": pd.Series(["gt", "pred", "gt", "gt"], dtype=object),
            "label": pd.Series(["car", "car", "truck", "car"], dtype=object),
            "x0": [1.0, 2.0, 3.0, 4.0], "y0": [1.0, 2.0, 3.0, 4.0], "x1": [9.0, 9.0, 9.0, 9.0], "y1": [8.0, 8.0, 8.0, 8.0],
            "start": np.full(4, -1, dtype=np.int64), "end": np.full(4, -1, dtype=np.int64),
            "confidence": [np.nan, 0.7, np.nan, np.nan],
            "annotation_id": pd.Series(["a", None, "c", "d"], dtype=object),
            "polygon": pd.Series(
                [[1.0, 1.0, 9.0, 1.0, 9.0, 8.0, 1.0, 8.0], None, None, [4.0, 4.0, 9.0, 4.0, 9.0, 8.0, 4.0, 8.0]], dtype=object
            ),
        }
    )
    metrics = pd.DataFrame({"width": np.linspace(0, 1, 6), "row": np.arange(6.0)})
    emb = np.arange(18, dtype=np.float32).reshape(6, 3)
    mask = np.array([True, False, True, True, False, True])
    emb[~mask] = 0
    run = build_run("awkward", "detection", rows, ann, metrics=metrics, embeddings=emb, embedding_mask=mask, warnings=["w1"])
    run.stats["rows_with_embeddings"] = 4
    return run


def test_awkward_columns_round_trip(tmp_path):
    run = awkward_run()
    lines = []
    write_shards(run, tmp_path, rows_per_part=4, log=lines.append)
    assert lines == ["wrote part 1/2: rows 0..3, 3 annotations", "wrote part 2/2: rows 4..5, 1 annotations"]
    back = load_shards(tmp_path / "manifest.json")
    assert_runs_equal(back, run)
    assert back.annotations["polygon"].iloc[0] == run.annotations["polygon"].iloc[0]
    for col in ("mixed", "records", "count", "tags"):
        assert back.rows[col].tolist() == run.rows[col].tolist(), col
    assert back.rows["count"].iloc[0] == 1 and isinstance(back.rows["count"].iloc[0], int)
    schema = pq.read_schema(tmp_path / "rows" / "part-00000.parquet")
    emb_type = schema.field("embedding").type
    assert pa.types.is_fixed_size_list(emb_type) and emb_type.list_size == 3 and emb_type.value_type == pa.float32()
    assert {"row", "rows:row", "rows:gt_label", "rows:prob:x", "metric:width", "metric:row"} <= set(schema.names)
    assert pq.read_table(tmp_path / "rows" / "part-00000.parquet").column("embedding").null_count == 1


def test_annotations_for_reads_only_the_needed_parts_and_row_groups(tmp_path, monkeypatch):
    n_rows, per_row = 400, 5
    ids = [f"r{i}" for i in range(n_rows)]
    split = pd.Series(np.where(np.arange(n_rows) % 3 == 0, None, np.where(np.arange(n_rows) % 3 == 1, "train", "val")), dtype=object)
    rows = pd.DataFrame({"data_row_id": ids, "global_key": None, "asset": "x.png", "width": 50.0, "height": 50.0, "split": split})
    drid = np.repeat(ids, per_row)
    x = np.tile(np.arange(per_row, dtype=np.float64), n_rows)
    ann = pd.DataFrame(
        {
            "data_row_id": drid, "source": "gt", "label": "car", "x0": x, "y0": x, "x1": x + 5, "y1": x + 5,
            "start": -1, "end": -1, "confidence": np.nan, "annotation_id": None, "polygon": None,
        }
    )
    run = build_run("many", "detection", rows, ann)
    monkeypatch.setattr(shards, "ANNOTATION_ROW_GROUP", 100)  # 20 rows per row group
    manifest = write_shards(run, tmp_path, rows_per_part=200, log=None)
    assert [e["name"] for e in manifest["columns"]["rows"] if e.get("repeats")] == ["split"]  # decoded via a dictionary
    assert_runs_equal(load_shards(tmp_path), run)
    assert pq.ParquetFile(tmp_path / "annotations" / "part-00000.parquet").num_row_groups == 10

    calls = []
    original = pq.ParquetFile.read_row_group

    def spy(self, g, *args, **kwargs):
        calls.append(g)
        return original(self, g, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    (tmp_path / "annotations" / "part-00001.parquet").unlink()  # part 1 is never needed below
    got = annotations_for(tmp_path / "manifest.json", np.array([45, 41, 199]))
    assert calls == [2, 9]
    near = annotations_for(tmp_path / "manifest.json", np.array([42]))
    assert calls == [2, 9] and near.index.tolist() == list(range(210, 215))  # group 2 decoded once, reused
    assert got["row"].tolist() == [41] * 5 + [45] * 5 + [199] * 5
    assert got.index.tolist() == [*range(205, 210), *range(225, 230), *range(995, 1000)]
    with pytest.raises(LoadError, match=r"part-00001\.parquet: part file missing .*re-run labeltui convert"):
        annotations_for(tmp_path / "manifest.json", np.array([250]))


# ---------------------------------------------------------------- damaged input


@pytest.fixture()
def small(tmp_path):
    """A freshly converted NER demo run in parts of 100 rows (3 parts)."""
    return convert(load_config(ROOT / "demo" / "ner" / "run.yaml"), tmp_path / "run", rows_per_part=100)


def edit_manifest(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_missing_and_malformed_manifest(small, tmp_path):
    with pytest.raises(LoadError, match="manifest not found; write one with labeltui convert"):
        load_shards(tmp_path / "nowhere" / "manifest.json")
    small.write_text('{"format": "labeltui-shards",\n "version": ')
    with pytest.raises(LoadError, match=r"manifest\.json:2: malformed manifest JSON .*re-run labeltui convert"):
        read_manifest(small)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"format": "coco"}, r"format: not a labeltui sharded-run manifest \(format 'coco'"),
        ({"version": 2}, r"version: unsupported version 2 .*upgrade labeltui or re-run labeltui convert"),
        ({"task": "segmentation"}, r"task: unknown task 'segmentation'; re-run labeltui convert"),
        ({"n_rows": 301}, r"n_rows: the parts hold 300 rows, the manifest says 301"),
        ({"parts": []}, r"parts: the manifest lists no parts"),
        ({"classes": "PER"}, r"classes: unexpected value 'PER'"),
    ],
)
def test_bad_manifest_fields(small, changes, message):
    edit_manifest(small, **changes)
    with pytest.raises(LoadError, match=message):
        load_shards(small)


def test_damaged_parts(small):
    folder = small.parent
    (folder / "rows" / "part-00001.parquet").unlink()
    with pytest.raises(LoadError, match=r"rows/part-00001\.parquet: part file missing \(listed in .*\); re-run labeltui convert"):
        load_shards(small)
    assert load_part(small, 0).n_rows == 100  # other parts still open
    (folder / "rows" / "part-00000.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(LoadError, match=r"rows/part-00000\.parquet: cannot read this part .*re-run labeltui convert"):
        load_part(small, 0)
    shutil.copy(folder / "annotations" / "part-00000.parquet", folder / "annotations" / "part-00002.parquet")
    with pytest.raises(LoadError, match=r"annotations/part-00002\.parquet: holds \d+ annotations but the manifest says \d+"):
        load_part(small, 2)


def test_part_holding_the_wrong_rows(small):
    folder = small.parent
    data = json.loads(small.read_text())
    data["parts"][0]["n_rows"], data["parts"][1]["first_row"], data["parts"][1]["n_rows"] = 50, 50, 150
    small.write_text(json.dumps(data))
    with pytest.raises(LoadError, match="holds 100 rows but the manifest says 50"):
        load_part(small, 0)
    shutil.copy(folder / "rows" / "part-00002.parquet", folder / "rows" / "part-00001.parquet")
    data["parts"][0]["n_rows"], data["parts"][1]["first_row"], data["parts"][1]["n_rows"] = 100, 100, 100
    small.write_text(json.dumps(data))
    with pytest.raises(LoadError, match=r"row: holds rows outside the part's range 100\.\.199"):
        load_part(small, 1)


def test_sharded_config_rejects_other_sources_and_a_wrong_task(small):
    cfg = small.parent / "run.yaml"
    text = cfg.read_text()
    cfg.write_text(text + "predictions: {format: jsonl, path: manifest.json}\n")
    with pytest.raises(LoadError, match="predictions: a sharded run .* already holds it; remove this key"):
        load_config(cfg)
    cfg.write_text(text.replace("task: ner", "task: detection"))
    with pytest.raises(LoadError, match="task: the sharded run is a ner run; set task: ner"):
        load_run(load_config(cfg))


# ---------------------------------------------------------------- the command


def test_cli_convert_then_rank_matches_the_source(tmp_path, capsys):
    src = str(ROOT / "demo" / "classification" / "run.yaml")
    out = tmp_path / "cls"
    assert main(["convert", src, "-o", str(out), "--rows-per-part", "400"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "wrote part 1/3: rows 0..399, 0 annotations",
        "wrote part 2/3: rows 400..799, 0 annotations",
        "wrote part 3/3: rows 800..999, 0 annotations",
    ]
    assert f"labeltui open {out / 'run.yaml'}" in captured.out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cls"]  # no temporary folder left beside it
    assert main(["rank", str(out / "run.yaml"), "--format", "csv", "--top", "50", "--no-cache"]) == 0
    sharded = capsys.readouterr().out
    assert main(["rank", src, "--format", "csv", "--top", "50", "--no-cache"]) == 0
    assert sharded == capsys.readouterr().out and sharded.startswith("data_row_id,score")


def test_cli_convert_refuses_to_overwrite_without_force(tmp_path, capsys):
    src = str(ROOT / "demo" / "ner" / "run.yaml")
    out = tmp_path / "ner"
    assert main(["convert", src, "-o", str(out)]) == 0
    assert len(read_manifest(out)["parts"]) == 1  # 300 rows, default 100,000 per part
    before = (out / "manifest.json").read_text()
    capsys.readouterr()
    assert main(["convert", src, "-o", str(out), "--rows-per-part", "120"]) == 1
    assert capsys.readouterr().err.strip() == f"labeltui: error: {out}: the output folder is not empty; pass --force to replace it"
    assert (out / "manifest.json").read_text() == before
    assert main(["convert", src, "-o", str(out), "--rows-per-part", "120", "--force"]) == 0
    assert [p["n_rows"] for p in read_manifest(out)["parts"]] == [120, 120, 60]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ner"]


def test_cli_convert_never_replaces_other_folders(tmp_path, capsys):
    src = ROOT / "demo" / "ner" / "run.yaml"
    keep = tmp_path / "notes"
    keep.mkdir()
    (keep / "todo.txt").write_text("keep me")
    assert main(["convert", str(src), "-o", str(keep), "--force"]) == 1
    assert "holds no sharded run; --force only replaces a sharded run" in capsys.readouterr().err
    assert (keep / "todo.txt").read_text() == "keep me"
    assert main(["convert", str(src), "-o", str(src.parent), "--force"]) == 1
    assert "holds the run's input" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["convert", str(src), "-o", str(tmp_path / "x"), "--rows-per-part", "0"])
    assert "must be at least 1" in capsys.readouterr().err
