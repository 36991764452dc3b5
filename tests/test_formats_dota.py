"""DOTA ground truth (per-image label files) and task-1 results (per-class files)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from labeltui.errors import LoadError
from labeltui.formats import ReadContext, read_source
from labeltui.formats.dota import read_dota, read_dota_results

GT = ReadContext(role="gt", task="detection")
PRED = ReadContext(role="pred", task="detection")

# image -> (header lines, [(8 corner coordinates, category, difficult or None)])
OBJECTS = {
    "P0001": (
        ["imagesource:GoogleEarth", "gsd:0.146343590398"],
        [
            ([2753, 2408, 2861, 2385, 2888, 2468, 2805, 2502], "plane", 0),
            ([10.5, 10, 20, 10.25, 20, 20, 10, 20], "small-vehicle", 1),
        ],
    ),
    "P0002": ([], [([1, 2, 3, 2, 3, 4, 1, 4], "ship", None)]),
    "P0003": (["imagesource:GF2", "gsd:null"], []),
}


def write_gt(folder: Path, objects: dict = OBJECTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for image, (headers, objs) in objects.items():
        lines = list(headers)
        for coords, cat, difficult in objs:
            fields = [f"{c:g}" for c in coords] + [cat] + ([] if difficult is None else [str(difficult)])
            lines.append(" ".join(fields))
        (folder / f"{image}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def envelope(coords: list[float]) -> list[float]:
    xs, ys = coords[0::2], coords[1::2]
    return [min(xs), min(ys), max(xs), max(ys)]


def test_gt_folder_round_trip(tmp_path):
    loaded = read_dota(write_gt(tmp_path / "labelTxt"), GT)
    rows = loaded.rows
    assert rows["data_row_id"].tolist() == ["P0001", "P0002", "P0003"]
    assert rows["asset"].tolist() == ["P0001.png", "P0002.png", "P0003.png"]
    assert rows["global_key"].tolist() == ["P0001.png", "P0002.png", "P0003.png"]
    assert rows["width"].isna().all() and rows["height"].isna().all()
    assert rows["imagesource"].tolist() == ["GoogleEarth", None, "GF2"]
    assert rows["gsd"].iloc[0] == pytest.approx(0.146343590398)
    assert rows["gsd"].iloc[1:].isna().all()

    ann = loaded.annotations
    expected = [(img, coords, cat) for img, (_, objs) in OBJECTS.items() for coords, cat, _ in objs]
    assert ann["data_row_id"].tolist() == [e[0] for e in expected]
    assert ann["label"].tolist() == [e[2] for e in expected]
    assert (ann["source"] == "gt").all()
    assert ann["confidence"].isna().all()
    for (_, coords, _), polygon, box in zip(expected, ann["polygon"], ann[["x0", "y0", "x1", "y1"]].to_numpy()):
        assert polygon == [float(c) for c in coords]
        np.testing.assert_array_equal(box, envelope(coords))


def test_gt_single_file_and_registry(tmp_path):
    folder = write_gt(tmp_path / "labels")
    loaded = read_source("dota", folder / "P0002.txt", GT)
    assert loaded.rows["data_row_id"].tolist() == ["P0002"]
    assert loaded.annotations["label"].tolist() == ["ship"]
    assert "imagesource" not in loaded.rows.columns


def test_gt_ignores_blank_lines_and_other_files(tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    (folder / "a.txt").write_text("\n  \n0 0 4 0 4 3 0 3 harbor 0\n\n", encoding="utf-8")
    (folder / "notes.md").write_text("not a label file", encoding="utf-8")
    loaded = read_dota(folder, GT)
    assert loaded.rows["data_row_id"].tolist() == ["a"]
    assert loaded.annotations[["x0", "y0", "x1", "y1"]].to_numpy().tolist() == [[0, 0, 4, 3]]


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("imagesource:x\n0 0 4 0 4 3 0 3 harbor 0\n0 0 4 0 4 3 0 harbor 0\n", 3, "coordinate 8 is 'harbor'"),
        ("0 0 4 0 4 3 0 3 harbor 0\n0 0 4 0 4 3 harbor\n", 2, "got 7 fields"),
        ("0 0 4 0 4 3 0 3\n", 1, "got 8 fields"),
        ("0 0 4 0 4 3 0 3 harbor 0 extra\n", 1, "got 11 fields"),
        ("gsd:0.5\n\n0 0 4 zero 4 3 0 3 harbor\n", 3, "coordinate 4 is 'zero'"),
        ("0 0 4 0 4 3 0 nan harbor\n", 1, "coordinate 8 is 'nan'"),
        ("0 0 4 0 4 3 0 3 harbor 0\n0 0 4 0 4 3 0 3 harbor hard\n", 2, "difficult flag is 'hard'"),
    ],
)
def test_gt_bad_lines(tmp_path, text, line, needle):
    path = tmp_path / "P9.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LoadError) as info:
        read_dota(tmp_path, GT)
    assert info.value.path == str(path)
    assert info.value.line == line
    assert needle in str(info.value)


def test_gt_empty_folder_and_missing_path(tmp_path):
    with pytest.raises(LoadError, match="no .txt files"):
        read_dota(tmp_path, GT)
    with pytest.raises(LoadError, match="not found"):
        read_dota(tmp_path / "nope", GT)


def test_gt_not_utf8(tmp_path):
    (tmp_path / "P1.txt").write_bytes(b"0 0 4 0 4 3 0 3 h\xe9rbor 0\n")
    with pytest.raises(LoadError, match="UTF-8"):
        read_dota(tmp_path, GT)


RESULTS = {
    "plane": [("P0001", 0.9, [2750, 2400, 2860, 2380, 2890, 2470, 2800, 2500]), ("P0002", 0.25, [1, 2, 3, 2, 3, 4, 1, 4.5])],
    "small-vehicle": [("P0003", 0.125, [5, 5, 6, 5, 6, 6, 5, 6])],
    "harbor": [],
}


def write_results(folder: Path, names: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for cls, dets in RESULTS.items():
        lines = [" ".join([img, f"{score:g}", *(f"{c:g}" for c in coords)]) for img, score, coords in dets]
        (folder / names[cls]).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return folder


@pytest.mark.parametrize("prefix", ["Task1_", ""])
def test_results_round_trip(tmp_path, prefix):
    folder = write_results(tmp_path / "res", {c: f"{prefix}{c}.txt" for c in RESULTS})
    loaded = read_dota_results(folder, PRED)
    ann = loaded.annotations.sort_values(["label", "data_row_id"]).reset_index(drop=True)
    expected = sorted((cls, img, score, coords) for cls, dets in RESULTS.items() for img, score, coords in dets)
    assert ann["label"].tolist() == [e[0] for e in expected]
    assert ann["data_row_id"].tolist() == [e[1] for e in expected]
    assert ann["confidence"].tolist() == [e[2] for e in expected]
    assert (ann["source"] == "pred").all()
    for (_, _, _, coords), polygon, box in zip(expected, ann["polygon"], ann[["x0", "y0", "x1", "y1"]].to_numpy()):
        assert polygon == [float(c) for c in coords]
        np.testing.assert_array_equal(box, envelope(coords))


def test_results_mixed_namings_and_numeric_ids(tmp_path):
    folder = tmp_path / "res"
    folder.mkdir()
    (folder / "Task1_ship.txt").write_text("0001 0.5 1 1 2 1 2 2 1 2\n", encoding="utf-8")
    (folder / "bridge.txt").write_text("  0002\t0.75 1 1 2 1 2 2 1 2  \n\n", encoding="utf-8")
    loaded = read_source("dota-results", folder, PRED)
    got = sorted(zip(loaded.annotations["label"], loaded.annotations["data_row_id"], loaded.annotations["confidence"]))
    assert got == [("bridge", "0002", 0.75), ("ship", "0001", 0.5)]


def test_results_match_gt_ids(tmp_path):
    gt = read_dota(write_gt(tmp_path / "gt"), GT)
    res = read_dota_results(write_results(tmp_path / "res", {c: f"Task1_{c}.txt" for c in RESULTS}), PRED)
    assert set(res.annotations["data_row_id"]) <= set(gt.rows["data_row_id"])


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("P1 0.5 1 1 2 1 2 2 1 2\nP2 0.5 1 1 2 1 2 2 1\n", 2, "got 9 fields"),
        ("P1 0.5 1 1 2 1 2 2 1 2\nP2 0.5 1 1 2 1 2 2 1 2 3\n", 2, "got 11 fields"),
        ("P1 0.5 1 1 2 1 2 2 1 2 3\nP2 0.5 1 1 2 1 2 2 1 2\n", 1, "got 11 fields"),
        ("P1 0.5 1 1 2 1 2 2 1 2\n\nP2 high 1 1 2 1 2 2 1 2\n", 3, "score is 'high'"),
        ("P1 0.5 1 1 2 1 2 2 1 2\nP2 0.5 1 1 2 1 2 inf 1 2\n", 2, "y3 is 'inf'"),
        ("P1 0.5 1 1 2 1 2 2 1 \"2\"\n", 1, "y4 is '\"2\"'"),
    ],
)
def test_results_bad_lines(tmp_path, text, line, needle):
    path = tmp_path / "Task1_plane.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LoadError) as info:
        read_dota_results(tmp_path, PRED)
    assert info.value.path == str(path)
    assert info.value.line == line
    assert needle in str(info.value)


def test_results_empty_folder(tmp_path):
    with pytest.raises(LoadError, match="no .txt files"):
        read_dota_results(tmp_path, PRED)


def test_results_all_class_files_empty(tmp_path):
    (tmp_path / "Task1_plane.txt").write_text("", encoding="utf-8")
    loaded = read_dota_results(tmp_path, PRED)
    assert loaded.annotations.empty


@pytest.mark.parametrize(
    "reader, name, text",
    [
        (read_dota, b"P\xff1.txt", b"0 0 1 0 1 1 0 1 car\n"),
        (read_dota_results, b"Task1_\xff.txt", b"P1 0.5 0 0 1 0 1 1 0 1\n"),
    ],
)
def test_file_names_that_are_not_utf8(tmp_path, reader, name, text):
    """A file name names a data row (GT) or a class (results): undecodable bytes are a LoadError."""
    (tmp_path / "P0002.txt").write_text("0 0 1 0 1 1 0 1 car\n", encoding="utf-8")
    bad = Path(os.fsdecode(bytes(tmp_path) + b"/" + name))
    bad.write_bytes(text)
    for target in (tmp_path, bad):
        with pytest.raises(LoadError) as info:
            reader(target, GT)
        message = str(info.value)
        message.encode("utf-8")  # printable: no lone surrogate left
        assert "is not valid UTF-8" in message and "rename the file" in message
        assert repr(os.fsencode(name).decode("utf-8", "replace")) in message
