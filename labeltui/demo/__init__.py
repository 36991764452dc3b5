"""Seeded demo model runs (detection, NER, classification) with planted label mistakes.

``write_demo(task, out_dir)`` writes one run into ``out_dir / task`` and returns
its config path; ``python -m labeltui.demo --out demo`` regenerates the
committed demo runs. Each run folder holds ``planted.json``: the planted label
mistakes (``mistakes``: data_row_id, type, annotation id / span) and rows where
only the model is wrong (``model_noise``).
"""

from __future__ import annotations

import json
from pathlib import Path

from labeltui.demo._common import CONFIG_FILE, PLANTED_FILE

TASKS = ("detection", "ner", "classification")

#: The planted label-mistake types of each demo task.
PLANTED: dict[str, tuple[str, ...]] = {
    "detection": ("missing_label", "wrong_class", "bad_location", "spurious_label"),
    "ner": ("missing_entity", "wrong_type", "boundary", "spurious_entity"),
    "classification": ("wrong_label",),
}

__all__ = ["CONFIG_FILE", "PLANTED", "PLANTED_FILE", "TASKS", "load_planted", "write_demo"]


def write_demo(task: str, out_dir: Path) -> Path:
    """Write the ``task`` demo run into ``out_dir / task``; return its ``run.yaml`` path."""
    if task not in TASKS:
        raise ValueError(f"unknown demo task {task!r}; one of: {', '.join(TASKS)}")
    from labeltui.demo import classification, detection, ner

    module = {"detection": detection, "ner": ner, "classification": classification}[task]
    return module.write(Path(out_dir) / task)


def load_planted(config_path: Path) -> dict:
    """The ``planted.json`` record next to a demo run's config."""
    return json.loads((Path(config_path).parent / PLANTED_FILE).read_text(encoding="utf-8"))
