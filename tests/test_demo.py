"""The seeded demo runs: reproducible, readable, and their planted mistakes are the only label mistakes."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from labeltui.config import load_config
from labeltui.demo import PLANTED, TASKS, load_planted, write_demo
from labeltui.demo.__main__ import main as demo_main
from labeltui.demo.readme import write_readme
from labeltui.formats import ReadContext, read_source
from labeltui.load import load_run
from labeltui.pipeline import scores_for

COMMITTED = Path(__file__).resolve().parents[1] / "demo"
TEXT_SUFFIXES = {".json", ".jsonl", ".csv", ".txt", ".yaml", ".md"}
USER_FILES = (".sqlite", ".sqlite-wal", ".sqlite-shm")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    for task in TASKS:
        write_demo(task, out)
    write_readme(out)
    return out


def _files(root: Path) -> set[Path]:
    return {
        p.relative_to(root)
        for p in root.rglob("*")
        if p.is_file() and not p.name.endswith(USER_FILES) and not {"batches", ".labeltui-cache"} & set(p.parts)
    }


def _xyxy(b: list[float]) -> np.ndarray:
    return np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]], dtype=np.float64)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_generator_reproduces_the_committed_demo(generated: Path) -> None:
    assert _files(generated) == _files(COMMITTED)
    for rel in sorted(_files(generated)):
        new, old = generated / rel, COMMITTED / rel
        if rel.suffix in TEXT_SUFFIXES:
            assert new.read_bytes() == old.read_bytes(), f"{rel} differs; regenerate: python -m labeltui.demo --out demo"
        elif rel.suffix == ".npy":
            np.testing.assert_allclose(np.load(new), np.load(old), rtol=0, atol=1e-5)
        elif rel.suffix == ".parquet":
            assert pq.read_table(new).equals(pq.read_table(old)), rel
        elif rel.suffix == ".jpg":
            a = np.asarray(Image.open(new), dtype=np.int16)
            b = np.asarray(Image.open(old), dtype=np.int16)
            assert a.shape == b.shape == (240, 320, 3)
            assert np.abs(a - b).mean() < 1.5, rel
        else:
            pytest.fail(f"unexpected file in the demo: {rel}")


def test_demo_is_small() -> None:
    total = sum((COMMITTED / p).stat().st_size for p in _files(COMMITTED))
    assert total < 3_000_000
    assert (COMMITTED / "README.md").is_file()


@pytest.mark.parametrize("task", TASKS)
def test_committed_configs_parse(task: str) -> None:
    cfg = load_config(COMMITTED / task / "run.yaml")
    assert cfg.task == task
    assert cfg.ground_truth.path.is_file() and cfg.predictions is not None and cfg.predictions.path.is_file()
    if task == "ner":
        assert cfg.embeddings is None
    else:
        assert cfg.embeddings is not None and cfg.embeddings.path.is_file()
    assert cfg.review_store.parent == (COMMITTED / task).resolve()


def test_write_demo_returns_the_config_and_rejects_unknown_tasks(tmp_path: Path) -> None:
    cfg = write_demo("ner", tmp_path)
    assert cfg == tmp_path / "ner" / "run.yaml" and load_config(cfg).task == "ner"
    with pytest.raises(ValueError, match="detection, ner, classification"):
        write_demo("segmentation", tmp_path)


def test_module_entry_point_writes_only_the_asked_task(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert demo_main(["--out", str(tmp_path), "--task", "ner"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "ner" / "run.yaml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "ner"]
    readme = (tmp_path / "README.md").read_text()
    assert "## ner" in readme and "## detection" not in readme


@pytest.mark.parametrize("task", TASKS)
def test_planted_mistakes_cover_every_type(task: str) -> None:
    planted = load_planted(COMMITTED / task / "run.yaml")
    assert planted["task"] == task
    rows = [m["data_row_id"] for m in planted["mistakes"]]
    assert len(rows) == len(set(rows)) >= 10
    counts = pd.Series([m["type"] for m in planted["mistakes"]]).value_counts()
    assert set(counts.index) == set(PLANTED[task])
    assert counts.min() >= 3
    assert planted["model_noise"], "the demo model should make mistakes that are not label mistakes"


# --- detection -----------------------------------------------------------------------------


def _detection() -> tuple[dict, list[dict], dict]:
    root = COMMITTED / "detection"
    gt = json.loads((root / "annotations" / "val.json").read_text())
    preds = json.loads((root / "predictions.json").read_text())
    return gt, preds, load_planted(root / "run.yaml")


def _pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def _detection_issue_rows(gt: dict, preds: list[dict]) -> dict[int, set[str]]:
    """Rows showing label-mistake evidence under DESIGN's detection issue definitions."""
    g = pd.DataFrame([(a["image_id"], a["category_id"], *_xyxy(a["bbox"])) for a in gt["annotations"]],
                     columns=["image", "cat", "x0", "y0", "x1", "y1"])
    p = pd.DataFrame([(a["image_id"], a["category_id"], a["score"], *_xyxy(a["bbox"])) for a in preds],
                     columns=["image", "cat", "score", "x0", "y0", "x1", "y1"])
    xyxy = ["x0", "y0", "x1", "y1"]
    flags: dict[int, set[str]] = defaultdict(set)
    gt_by, pred_by = dict(tuple(g.groupby("image"))), dict(tuple(p.groupby("image")))
    for image in gt["images"]:
        i = image["id"]
        gi, pi = gt_by.get(i, g.iloc[:0]), pred_by.get(i, p.iloc[:0])
        iou = _pairwise_iou(pi[xyxy].to_numpy(), gi[xyxy].to_numpy())
        same_class = pi["cat"].to_numpy()[:, None] == gi["cat"].to_numpy()[None, :]
        same = np.where(same_class, iou, 0).max(axis=1, initial=0)
        other = np.where(~same_class, iou, 0).max(axis=1, initial=0)
        confident = (pi["score"].to_numpy() >= 0.5) & (same < 0.5)
        kinds = np.select(
            [other >= 0.5, same >= 0.1, other < 0.1], ["wrong_class", "bad_location", "missing_label"], "overlap"
        )
        flags[i].update(kinds[confident].tolist())
        supported = ((iou >= 0.1) & (pi["score"].to_numpy() >= 0.1)[:, None]).any(axis=0)
        if not supported.all():
            flags[i].add("spurious_label")
    return {i: f for i, f in flags.items() if f}


def test_detection_planted_mistakes_are_the_only_label_mistakes() -> None:
    gt, preds, planted = _detection()
    flags = _detection_issue_rows(gt, preds)
    expected = {m["image_id"]: {m["type"]} for m in planted["mistakes"]}
    assert dict(flags) == expected


def test_detection_planted_records_point_at_the_objects() -> None:
    gt, preds, planted = _detection()
    images = {im["id"]: im["file_name"] for im in gt["images"]}
    cats = {c["id"]: c["name"] for c in gt["categories"]}
    anns = {str(a["id"]): a for a in gt["annotations"]}
    for m in planted["mistakes"]:
        assert images[m["image_id"]] == m["file_name"] and m["data_row_id"] == str(m["image_id"])
        true = _xyxy(m["true_bbox"]) if m["true_bbox"] else None
        row_preds = [
            (_xyxy(p["bbox"]), cats[p["category_id"]], p["score"]) for p in preds if p["image_id"] == m["image_id"]
        ]
        if m["type"] == "missing_label":
            assert m["annotation_id"] is None
            row_gt = [_xyxy(a["bbox"]) for a in gt["annotations"] if a["image_id"] == m["image_id"]]
            assert all(_iou(true, b) == 0 for b in row_gt)
        else:
            ann = anns[m["annotation_id"]]
            assert ann["image_id"] == m["image_id"] and cats[ann["category_id"]] == m["label"] == "car"
            assert ann["bbox"] == m["bbox"]
        if m["type"] == "spurious_label":
            assert all(_iou(_xyxy(m["bbox"]), b) == 0 for b, _, _ in row_preds)
            continue
        best = max(row_preds, key=lambda t: _iou(true, t[0]))
        assert _iou(true, best[0]) >= 0.7 and best[1] == m["true_label"] and best[2] >= 0.9
        if m["type"] == "bad_location":
            assert 0.1 <= _iou(true, _xyxy(m["bbox"])) < 0.5
        if m["type"] == "wrong_class":
            assert m["true_label"] == "truck"


def test_detection_files_are_valid_coco() -> None:
    from pycocotools.coco import COCO

    gt, preds, _ = _detection()
    coco = COCO()
    coco.dataset = gt
    coco.createIndex()
    results = coco.loadRes(preds)
    assert len(results.anns) == len(preds) and len(coco.imgs) == 60
    scores = np.array([p["score"] for p in preds])
    assert np.isfinite(scores).all() and scores.min() >= 0.05 and scores.max() <= 0.99
    for im in gt["images"]:
        with Image.open(COMMITTED / "detection" / "images" / im["file_name"]) as img:
            assert img.size == (im["width"], im["height"])
    boxes = np.array([a["bbox"] for a in gt["annotations"]] + [p["bbox"] for p in preds])
    assert (boxes[:, 2:] > 0).all() and (boxes[:, :2] >= 0).all()
    assert (boxes[:, 0] + boxes[:, 2] <= 320).all() and (boxes[:, 1] + boxes[:, 3] <= 240).all()


def test_detection_embeddings_read() -> None:
    root = COMMITTED / "detection"
    ctx = ReadContext(role="embeddings", task="detection", ids=root / "embedding_ids.txt")
    loaded = read_source("npy", root / "embeddings.npy", ctx)
    ids, matrix = loaded.embeddings
    names = [str(im["id"]) for im in _detection()[0]["images"]]
    assert list(ids) == names and matrix.shape == (60, 64) and matrix.dtype == np.float32


# --- NER -------------------------------------------------------------------------------------


def _ner_lines() -> list[dict]:
    return [json.loads(line) for line in (COMMITTED / "ner" / "sentences.jsonl").read_text().splitlines()]


def _overlap(a: list, b: list) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_ner_planted_mistakes_are_the_only_label_mistakes() -> None:
    flags: dict[str, set[str]] = defaultdict(set)
    for r in _ner_lines():
        gold, preds = r["labels"], r["predictions"]
        for p in preds:
            if p[3] < 0.5 or p[:3] in gold:
                continue
            hits = [g for g in gold if _overlap(g, p)]
            kind = "missing_entity" if not hits else "wrong_type" if any(g[:2] == p[:2] for g in hits) else "boundary"
            flags[r["id"]].add(kind)
        for g in gold:
            if not any(p[3] >= 0.1 and _overlap(g, p) for p in preds):
                flags[r["id"]].add("spurious_entity")
    planted = load_planted(COMMITTED / "ner" / "run.yaml")
    assert dict(flags) == {m["data_row_id"]: {m["type"]} for m in planted["mistakes"]}


def test_ner_planted_records_match_the_text() -> None:
    lines = {r["id"]: r for r in _ner_lines()}
    assert len(lines) == 300
    for m in load_planted(COMMITTED / "ner" / "run.yaml")["mistakes"]:
        r = lines[m["data_row_id"]]
        if m["span"] is not None:
            assert [*m["span"], m["label"]] in r["labels"]
            assert r["text"][m["span"][0] : m["span"][1]] == m["text"]
        if m["true_span"] is not None:
            assert any(p[:3] == [*m["true_span"], m["true_label"]] and p[3] >= 0.9 for p in r["predictions"])
        if m["type"] == "boundary":
            assert m["true_span"][0] < m["span"][0] and m["true_span"][1] == m["span"][1]
        if m["type"] == "wrong_type":
            assert (m["label"], m["true_label"]) == ("ORG", "LOC")


def test_ner_file_reads_with_both_roles() -> None:
    path = COMMITTED / "ner" / "sentences.jsonl"
    lines = _ner_lines()
    for role in ("gt", "pred"):
        loaded = read_source("jsonl", path, ReadContext(role=role, task="ner"))
        assert list(loaded.rows["data_row_id"]) == [r["id"] for r in lines]
        counts = loaded.annotations["source"].value_counts()
        assert counts["gt"] == sum(len(r["labels"]) for r in lines)
        assert counts["pred"] == sum(len(r["predictions"]) for r in lines)
        conf = loaded.annotations.loc[loaded.annotations["source"] == "pred", "confidence"]
        assert conf.between(0, 1).all()


# --- classification --------------------------------------------------------------------------


def test_classification_planted_rows_sit_in_another_cluster() -> None:
    root = COMMITTED / "classification"
    table = pd.read_csv(root / "scenes.csv")
    emb = pd.read_parquet(root / "embeddings.parquet")
    assert list(emb["data_row_id"]) == list(table["data_row_id"])
    x = np.stack(emb["embedding"].to_numpy())
    assert x.shape == (1000, 32)
    probs = table.filter(like="prob_")
    assert np.isfinite(probs.to_numpy()).all() and probs.to_numpy().min() >= 0 and probs.to_numpy().max() <= 1
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    classes = [c.removeprefix("prob_") for c in probs.columns]
    centroids = {c: x[table["label"].to_numpy() == c].mean(axis=0) for c in classes}
    planted = load_planted(root / "run.yaml")["mistakes"]
    index = {r: i for i, r in enumerate(table["data_row_id"])}
    for m in planted:
        i = index[m["data_row_id"]]
        assert table["label"][i] == m["label"] != m["true_label"]
        assert probs.iloc[i].idxmax() == f"prob_{m['true_label']}" and probs.iloc[i].max() >= 0.8
        dist = {c: np.linalg.norm(x[i] - v) for c, v in centroids.items()}
        assert min(dist, key=dist.get) == m["true_label"]
    # the model disagrees confidently with the label on the planted rows only
    given = probs.to_numpy()[np.arange(len(table)), pd.Index(classes).get_indexer(table["label"])]
    margin = probs.max(axis=1).to_numpy() - given
    top = set(table["data_row_id"].to_numpy()[np.argsort(-margin, kind="stable")[: len(planted)]])
    assert top == {m["data_row_id"] for m in planted}


def test_classification_files_read() -> None:
    root = COMMITTED / "classification"
    table = read_source("table", root / "scenes.csv", ReadContext(role="gt", task="classification"))
    assert len(table.rows) == 1000
    assert table.probs is not None and table.probs.shape == (1000, 7)
    assert table.rows["asset"].str.len().min() > 10
    emb = read_source("parquet", root / "embeddings.parquet", ReadContext(role="embeddings", task="classification"))
    ids, matrix = emb.embeddings
    assert list(ids) == list(table.rows["data_row_id"]) and matrix.shape == (1000, 32)


def test_detection_files_read_with_the_coco_readers() -> None:
    root = COMMITTED / "detection"
    gt = read_source("coco", root / "annotations" / "val.json", ReadContext(role="gt", task="detection"))
    preds = read_source("coco-results", root / "predictions.json", ReadContext(role="pred", task="detection", gt=gt))
    coco, results, _ = _detection()
    assert list(gt.rows["data_row_id"]) == [str(im["id"]) for im in coco["images"]]
    assert list(gt.rows["global_key"]) == [im["file_name"] for im in coco["images"]]
    assert len(gt.annotations) == len(coco["annotations"]) and len(preds.annotations) == len(results)
    assert not gt.warnings and not preds.warnings


# --- the whole run ---------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_demo_runs_load_cleanly(task: str) -> None:
    run = load_run(load_config(COMMITTED / task / "run.yaml"))
    assert run.task == task and not run.warnings
    assert run.n_rows == {"detection": 60, "ner": 300, "classification": 1000}[task]
    if task == "detection":
        assert all(Path(a).is_file() for a in run.rows["asset"])
    if task != "ner":
        assert run.embedding_mask is not None and run.embedding_mask.all()
    if task == "classification":
        assert run.probs is not None and np.isfinite(run.probs).all()
    else:
        conf = run.annotations.loc[run.annotations["source"] == "pred", "confidence"].to_numpy()
        assert np.isfinite(conf).all() and conf.min() >= 0 and conf.max() <= 1


@pytest.mark.parametrize("task", TASKS)
def test_top_suspects_are_the_planted_mistakes(task: str) -> None:
    scored = scores_for(load_config(COMMITTED / task / "run.yaml"), use_cache=False)
    planted = {m["data_row_id"] for m in load_planted(COMMITTED / task / "run.yaml")["mistakes"]}
    ranked = scored.scores.sort_values("score", ascending=False, kind="stable")["data_row_id"]
    precision_at_10 = ranked.head(10).isin(planted).mean()
    assert precision_at_10 == 1.0, ranked.head(10).tolist()
