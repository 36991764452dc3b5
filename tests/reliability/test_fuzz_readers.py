"""Structure-aware fuzzing of every reader: each input either loads into well-formed
tables or raises one ``LoadError`` with a one-line message; nothing else, and no
Python warning escapes (warnings are errors here).

``LABELTUI_FUZZ_EXAMPLES=2000 python -m pytest tests/reliability`` runs a long,
random campaign; by default a short, derandomized one runs (CI).
"""

from __future__ import annotations

import random
import tempfile
import warnings
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from labeltui.errors import LoadError
from labeltui.formats import ReadContext, read_source
from labeltui.formats.base import Loaded

from . import strategies as s

fuzz = s.fuzz


def read_case(fmt: str, files: s.Files, target: str, ctx: ReadContext) -> Loaded | None:
    """Write the case to a fresh folder and read ``target`` (None on a checked LoadError)."""
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        s.write_files(root, files)
        ids = ctx.ids and root / ctx.ids
        ctx = ReadContext(role=ctx.role, task=ctx.task, gt=ctx.gt, ids=ids)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                loaded = read_source(fmt, root / target, ctx)
            except LoadError as exc:
                s.check_load_error(exc)
                return None
            s.check_loaded(loaded)
            return loaded


def _gt(doc: dict) -> Loaded:
    loaded = read_case("coco", {"gt.json": s.dumps(doc).encode()}, "gt.json", ReadContext(role="gt", task="detection"))
    assert loaded is not None
    return loaded


#: COCO ground truths for the results reader: the sample results' image and category ids, int and str.
GT_INT = _gt(
    {
        "images": [{"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 480} for i in (42, 73, 74)],
        "annotations": [],
        "categories": [{"id": c, "name": f"c{c}"} for c in (1, 2, 18)],
    }
)
GT_STR = _gt(
    {
        "images": [{"id": f"img{i}", "file_name": "a.jpg", "width": 1, "height": 1} for i in range(3)],
        "annotations": [],
        "categories": [{"id": "car", "name": "car"}],
    }
)

roles = st.sampled_from(["gt", "pred"])


def _only(files: s.Files) -> str:
    return next(iter(files))


def test_samples_load_cleanly() -> None:
    """The unmutated published samples satisfy the property with no LoadError (the seeds are sound)."""
    cases = [
        ("coco-results", "coco_results_fakebbox100.json", "pred"),
        ("labelbox", "export_v2_image_bbox.ndjson", "gt"),
        ("labelbox", "export_v2_text_ner_ASSEMBLED.ndjson", "gt"),
        ("labelbox-predictions", "sdk_fixture_image_import.ndjson", "pred"),
        ("labelbox-predictions", "notebook_prediction_examples.ndjson", "pred"),
        ("labelbox-metrics", "sdk_fixture_custom_confusion_matrix_import.ndjson", "metrics"),
    ]
    for fmt, name, role in cases:
        files = {name: (s.SAMPLES / name).read_bytes()}
        assert read_case(fmt, files, name, ReadContext(role=role, task="detection")) is not None, name


def _csv(columns: list[str], rows: list[list]) -> bytes:
    return s.join_lines([columns, *[[str(v) for v in row] for row in rows]], ",")


#: (format, file name, role, builder of valid file bytes from a Random): the unmutated seeds.
SEEDS = [
    ("coco", "gt.json", "gt", lambda r: s.dumps(s.coco_gt_doc(r)).encode()),
    ("coco-results", "preds.json", "pred", lambda r: s.dumps([s.coco_result(r) for _ in range(3)]).encode()),
    ("dota", "P0001.txt", "gt", lambda r: s.join_lines(s.dota_label_rows(r))),
    ("dota-results", "Task1_plane.txt", "pred", lambda r: s.join_lines(s.dota_result_rows(r))),
    ("labelbox", "export.ndjson", "gt", lambda r: s.dumps(s.labelbox_export_record(r)).encode()),
    ("labelbox-predictions", "p.ndjson", "pred", lambda r: s.dumps([s.labelbox_prediction_line(r) for _ in "abc"]).encode()),
    ("labelbox-metrics", "m.ndjson", "metrics", lambda r: s.dumps([s.labelbox_metric_line(r) for _ in "abc"]).encode()),
    ("conll", "ner.conll", "gt", lambda r: s.join_lines(s.conll_rows(r))),
    ("jsonl", "spans.jsonl", "gt", lambda r: s.dumps(s.jsonl_records(r, 1)).encode()),
    ("table", "t.csv", "gt", lambda r: _csv(*s.table_records(r, 4, odd=False))),
]


@pytest.mark.parametrize("fmt, name, role, build", SEEDS, ids=[f"{x[0]}-{x[1]}" for x in SEEDS])
def test_unmutated_seeds_load(fmt: str, name: str, role: str, build) -> None:
    """The documents the fuzzers start from are valid: every mutation starts from real input."""
    for seed in range(6):
        files = {name: build(random.Random(seed))}
        ctx = ReadContext(role=role, task="detection", gt=GT_INT if fmt == "coco-results" else None)
        assert read_case(fmt, files, name, ctx) is not None, (fmt, seed, files)


# Crashes the fuzzers found (reported to the reader owners), kept as explicit examples.
DEEP = b"[" * 3000 + b"]" * 3000
PARQUET_DUPLICATE_COLUMNS = s.parquet_bytes(
    [pa.array(["r0"]), pa.array(["cat"]), pa.array(["dog"])], ["data_row_id", "label", "label"]
)
PARQUET_CORRUPT = b"PAR1" + b"\x00" * 20 + b"PAR1"
COCO_LONE_SURROGATE = (
    b'{"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [{"id": 1, "name": "car"}], '
    b'"annotations": [{"id": 1, "image_id": "\\ud800", "category_id": 1, "bbox": [0, 0, 1, 1]}]}'
)


@fuzz(40)
@example(files={"gt.json": COCO_LONE_SURROGATE})
@example(files={"gt.json": b'{"images": [' + DEEP + b'], "annotations": [], "categories": []}'})
@given(files=s.coco_files())
def test_coco(files: s.Files) -> None:
    read_case("coco", files, "gt.json", ReadContext(role="gt", task="detection"))


@fuzz(40)
@example(files={"preds.json": b'[{"image_id": 1, "category_id": 1, "score": 1, "bbox": [0, 0, 1, ' + DEEP + b"]}]"}, gt=None)
@example(files={"preds.json": b'[{"image_id": "\\ud800", "category_id": 1, "score": 1, "bbox": [0, 0, 1, 1]}]'}, gt=None)
@given(files=s.coco_results_files(), gt=st.sampled_from([None, GT_INT, GT_STR]))
def test_coco_results(files: s.Files, gt: Loaded | None) -> None:
    read_case("coco-results", files, "preds.json", ReadContext(role="pred", task="detection", gt=gt))


def _target(files: s.Files, pick: int) -> str:
    """The folder itself (pick 0) or one of its entries."""
    names = sorted(files)
    return "" if pick == 0 or not names else names[pick % len(names)]


@fuzz(40)
@example(files={"\udcff.txt": b"0 0 1 0 1 1 0 1 car\n"}, pick=0)  # a file name that is not UTF-8
@given(files=s.dota_files(), pick=st.integers(0, 3))
def test_dota(files: s.Files, pick: int) -> None:
    read_case("dota", files, _target(files, pick), ReadContext(role="gt", task="detection"))


@fuzz(40)
@example(files={"Task1_\udcff.txt": b"P1 0.5 0 0 1 0 1 1 0 1\n"}, pick=0)
@given(files=s.dota_results_files(), pick=st.integers(0, 3))
def test_dota_results(files: s.Files, pick: int) -> None:
    read_case("dota-results", files, _target(files, pick), ReadContext(role="pred", task="detection"))


@fuzz(40)
@example(files={"export.ndjson": b'{"data_row": {"id": "\\ud800"}}\n'}, role="gt", task="detection")
@given(files=s.labelbox_files(), role=roles, task=st.sampled_from(["detection", "ner", "classification"]))
def test_labelbox_export(files: s.Files, role: str, task: str) -> None:
    read_case("labelbox", files, _only(files), ReadContext(role=role, task=task))


@fuzz(40)
@example(files={"p.ndjson": b'{"dataRow": {"id": "a"}, "answer": "t", "customMetrics": [{"name": "\\ud800", "value": 0}]}'})
@given(files=s.labelbox_prediction_files())
def test_labelbox_predictions(files: s.Files) -> None:
    read_case("labelbox-predictions", files, _only(files), ReadContext(role="pred", task="detection"))


@fuzz(30)
@example(files={"m.ndjson": b'{"dataRow": {"id": "a"}, "metricValue": 1e-320}\n'})  # numpy overflow warning
@example(files={"m.ndjson": b'{"dataRow": {"id": "a"}, "metricName": "\\ud800", "metricValue": 1}\n'})
@given(files=s.labelbox_metric_files())
def test_labelbox_metrics(files: s.Files) -> None:
    read_case("labelbox-metrics", files, _only(files), ReadContext(role="metrics", task="detection"))


@fuzz(40)
@given(files=s.conll_files(), role=roles)
def test_conll(files: s.Files, role: str) -> None:
    read_case("conll", files, _only(files), ReadContext(role=role, task="ner"))


@fuzz(40)
@example(files={"s.jsonl": b'{"id": "d1", "text": "John", "labels": [[-1, 3, "PER"]]}\n'}, role="gt")
@example(files={"s.jsonl": b'{"id": "\\ud800", "text": "John"}\n'}, role="gt")
@given(files=s.jsonl_files(), role=roles)
def test_jsonl_spans(files: s.Files, role: str) -> None:
    read_case("jsonl", files, _only(files), ReadContext(role=role, task="ner"))


table_roles = st.sampled_from(["gt", "pred", "metrics"])


@fuzz(40)
@example(files={"t.csv": b"data_row_id,label, data_row_id\nr0,cat,x\n"}, role="gt")  # same name after strip
@example(files={"t.csv": b"data_row_id,label,label \nr0,cat,dog\n"}, role="gt")
@example(files={"t.csv": b"data_row_id,label,width\nr0,cat," + b"9" * 400 + b"\n"}, role="gt")  # OverflowError
@example(files={"t.csv": b"data_row_id,label,asset\rr0,dog,a.jpg\rr1,cat,b.jpg\r"}, role="gt")  # CR line ends
@example(files={"t.csv": "data_row_id,label\r\nr0,dog\r\n".encode("utf-16")}, role="gt")  # UTF-16 with a BOM
@given(files=s.csv_table_files(), role=table_roles)
def test_table_csv(files: s.Files, role: str) -> None:
    read_case("table", files, _only(files), ReadContext(role=role, task="classification"))


@fuzz(40)
@example(files={"t.parquet": PARQUET_DUPLICATE_COLUMNS}, role="gt")  # multi-line LoadError
@example(files={"t.parquet": PARQUET_CORRUPT}, role="gt")
@given(files=s.parquet_table_files(), role=table_roles)
def test_table_parquet(files: s.Files, role: str) -> None:
    read_case("table", files, _only(files), ReadContext(role=role, task="classification"))


@fuzz(40)
@example(files={"emb.npy": b"PK\x03\x04", "ids.txt": b"a\n"}, ids="ids.txt")  # a truncated .npz
@example(  # a header numpy's parser fails on with tokenize.TokenError
    files={"emb.npy": b"\x93NUMPY\x01\x00v\x00{'descr': '|b1', 'fortran_order': False, 'shape': (), }" + b" " * 62 + b"}",
           "ids.txt": b"r0\n"},
    ids="ids.txt",
)
@given(files=s.npy_files(), ids=st.sampled_from(["ids.txt", "ids.txt", None, "missing.txt", "."]))
def test_npy(files: s.Files, ids: str | None) -> None:
    read_case("npy", files, "emb.npy", ReadContext(role="embeddings", task="classification", ids=ids and Path(ids)))


@fuzz(40)
@example(files={"emb.parquet": PARQUET_CORRUPT})  # multi-line LoadError
@given(files=s.parquet_embedding_files())
def test_parquet_embeddings(files: s.Files) -> None:
    read_case("parquet", files, "emb.parquet", ReadContext(role="embeddings", task="classification"))


@pytest.mark.parametrize("fmt", ["coco", "jsonl", "labelbox", "conll", "table", "npy", "parquet", "dota"])
def test_missing_path_is_a_load_error(fmt: str) -> None:
    assert read_case(fmt, {}, "nope.csv", ReadContext(role="gt", task="detection", ids=Path("nope.txt"))) is None
