"""Fuzzing the run assembler: a config and its files (COCO GT + results, JSONL spans,
a CSV table with embeddings and metrics), mutated, go through ``load_config`` and
``load_run``. The result is a consistent ModelRun or one ``LoadError`` with a
one-line message; no Python warning escapes (warnings are errors here).
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, find, given, settings

from labeltui.config import load_config
from labeltui.errors import LoadError
from labeltui.load import load_run
from labeltui.run import ModelRun

from . import strategies as s


def run_case(files: s.Files) -> ModelRun | None:
    """Write the case to a fresh folder and load ``run.yaml`` (None on a checked LoadError)."""
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        s.write_files(root, files)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                run = load_run(load_config(root / "run.yaml"))
            except LoadError as exc:
                s.check_load_error(exc)
                return None
            s.check_run(run)
            return run


NER = b"task: ner\nground_truth: {format: jsonl, path: s.jsonl}\npredictions: {format: jsonl, path: s.jsonl}\n"
JOHN = b'{"id": "d", "text": "John"}\n'


# Crashes the fuzzer found (reported to the owners), kept as explicit examples.
@s.fuzz(40)
@example(files={"s.jsonl": JOHN, "run.yaml": NER.replace(b"s.jsonl}", b's.jsonl, "a\\nb": 1}', 1)})  # key with a newline
@example(files={"s.jsonl": JOHN, "run.yaml": NER + b"matching: {iou_threshold: " + b"9" * 5000 + b"}\n"})
@example(files={"s.jsonl": JOHN, "run.yaml": NER + b"name: " + b"[" * 3000 + b"]" * 3000 + b"\n"})
@example(files={"s.jsonl": b'{"id": "d", "text": "John", "labels": [[-5, 2, "PER"]]}\n', "run.yaml": NER})
@example(files={"s.jsonl": b'{"id": "\\ud800", "text": "John"}\n', "run.yaml": NER})
@given(files=s.run_files)
def test_load_run(files: s.Files) -> None:
    run_case(files)


def _both_sources(run: ModelRun | None) -> bool:
    return run is not None and {"gt", "pred"} <= set(run.annotations["source"])


def _labels_and_embeddings(run: ModelRun | None) -> bool:
    return run is not None and bool((run.gt_label >= 0).any()) and run.embeddings is not None


@pytest.mark.parametrize(
    "strategy, full",
    [
        (s.coco_run_files(), _both_sources),
        (s.jsonl_run_files(), _both_sources),
        (s.table_run_files(), _labels_and_embeddings),
    ],
    ids=["coco", "jsonl", "table"],
)
def test_fuzzed_runs_reach_a_full_model_run(strategy, full) -> None:
    """The run strategies are not vacuous: some cases assemble into a run with GT and predictions."""
    quick = settings(
        max_examples=60,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    find(strategy, lambda files: full(run_case(files)), settings=quick)
