"""Config parsing: defaults, relative paths, and errors that name the key path."""

from pathlib import Path

import pytest

from labeltui.config import load_config, parse_config
from labeltui.errors import LoadError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "gt.json").write_text("{}")
    (tmp_path / "preds.json").write_text("[]")
    p = tmp_path / "run.yaml"
    p.write_text(text)
    return p


BASE = """
task: detection
ground_truth: {format: coco, path: gt.json}
predictions: {format: coco-results, path: preds.json}
"""


def test_defaults_and_relative_paths(tmp_path):
    cfg = load_config(write(tmp_path, BASE))
    assert cfg.name == "run"
    assert cfg.matching.iou_threshold == 0.5 and cfg.matching.confidence_threshold == 0.5
    assert cfg.ground_truth.path == (tmp_path / "gt.json").resolve()
    assert cfg.review_store == (tmp_path / "labeltui-review.sqlite").resolve()
    assert cfg.export_dir == (tmp_path / "batches").resolve()


def test_settings_override(tmp_path):
    cfg = load_config(write(tmp_path, BASE + "name: exp12\nmatching: {iou_threshold: 0.7}\nreview: {reviewer: ana}\n"))
    assert cfg.name == "exp12" and cfg.matching.iou_threshold == 0.7 and cfg.reviewer == "ana"


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("predictions: {format: coco-results, path: missing.json}", "predictions.path: file not found"),
        ("predictions: {format: cocoresults, path: preds.json}", "predictions.format: unknown format 'cocoresults'; known: coco-results"),
        ("matching: {iou_threshold: 2}", "matching.iou_threshold: must be between"),
        ("matching: {iou_treshold: 0.4}", "matching.iou_treshold: unknown key (did you mean 'iou_threshold'?)"),
        ("scoring: {knn_k: 2.5}", "scoring.knn_k: expected an integer"),
        ("embeddings: {format: npy, path: gt.json}", "embeddings.ids: missing"),
        ("review: {reviewer: 3}", "review.reviewer: expected a string"),
    ],
)
def test_errors_name_the_key_path(tmp_path, extra, expected):
    text = BASE.replace("predictions: {format: coco-results, path: preds.json}\n", "") + extra + "\n"
    if "predictions" not in extra:
        text += "predictions: {format: coco-results, path: preds.json}\n"
    with pytest.raises(LoadError) as err:
        load_config(write(tmp_path, text))
    assert expected in str(err.value)
    assert str(tmp_path / "run.yaml") in str(err.value)


def test_missing_task_lists_choices():
    with pytest.raises(LoadError, match="task: missing; one of: detection, ner, classification"):
        parse_config({"ground_truth": {"format": "coco", "path": "x"}})


def test_malformed_yaml_reports_line(tmp_path):
    p = tmp_path / "run.yaml"
    p.write_text("task: detection\nground_truth: [unclosed\n")
    with pytest.raises(LoadError) as err:
        load_config(p)
    assert err.value.line is not None and "malformed YAML" in str(err.value)


def test_config_must_be_a_file(tmp_path):
    with pytest.raises(LoadError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(LoadError, match="is a directory"):
        load_config(tmp_path)


def test_example_config_documents_every_setting_and_runs():
    """config.example.yaml parses as is and mentions every matching/scoring setting."""
    from dataclasses import fields

    from labeltui.config import Matching, Scoring

    path = Path(__file__).resolve().parents[1] / "config.example.yaml"
    cfg = load_config(path)
    assert cfg.task == "detection" and cfg.embeddings is not None
    text = path.read_text()
    for cls in (Matching, Scoring):
        for f in fields(cls):
            assert f"{f.name}:" in text, f"config.example.yaml does not document {f.name}"


@pytest.mark.parametrize(
    "extra, needle",
    [
        ('matching: {"a\\nb": 1}', "matching.'a\\nb': unknown key"),
        ('review: {"\\u2028": 1}', "review.'\\u2028': unknown key"),
        ("matching: {iou_threshold: " + "9" * 5000 + "}", "malformed YAML: Exceeds the limit (4300 digits)"),
        ("name: " + "[" * 3000 + "]" * 3000, "malformed YAML: nested too deeply"),
    ],
    ids=["newline-key", "line-separator-key", "huge-integer", "deep-nesting"],
)
def test_hostile_yaml_gives_a_one_line_error(tmp_path, extra, needle):
    with pytest.raises(LoadError) as err:
        load_config(write(tmp_path, BASE + extra + "\n"))
    message = str(err.value)
    assert needle in message and "\n" not in message and str(tmp_path / "run.yaml") in message


def test_unknown_top_level_key_names_the_file(tmp_path):
    with pytest.raises(LoadError) as err:
        load_config(write(tmp_path, BASE + "nmae: exp\n"))
    assert str(err.value).startswith(str(tmp_path / "run.yaml")) and "nmae: unknown key (did you mean 'name'?)" in str(err.value)
