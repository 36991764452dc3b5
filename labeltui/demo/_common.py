"""Helpers shared by the demo generators: stable text output and small numerics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

PLANTED_FILE = "planted.json"
CONFIG_FILE = "run.yaml"


def dumps_rows(head: dict[str, Any], lists: dict[str, list[Any]]) -> str:
    """JSON object with ``head`` scalars first, then each list one item a line (diff-friendly)."""
    parts = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in head.items()]
    for key, items in lists.items():
        body = ",\n".join(json.dumps(item, separators=(", ", ": ")) for item in items)
        parts.append(f"{json.dumps(key)}: [\n{body}\n]" if items else f"{json.dumps(key)}: []")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def dumps_list(items: list[Any]) -> str:
    """A JSON array, one item a line."""
    return "[\n" + ",\n".join(json.dumps(item, separators=(", ", ": ")) for item in items) + "\n]\n"


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text with LF line ends, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def write_planted(out: Path, task: str, seed: int, mistakes: list[dict], model_noise: list[dict]) -> None:
    """Write ``planted.json``: the planted label mistakes and the rows with model-only errors."""
    write_text(
        out / PLANTED_FILE,
        dumps_rows({"task": task, "seed": seed}, {"mistakes": mistakes, "model_noise": model_noise}),
    )


def r1(x: float) -> float:
    """Round to one decimal as a plain float (stable JSON)."""
    return float(round(float(x), 1))


def r3(x: float) -> float:
    """Round to three decimals as a plain float (stable JSON)."""
    return float(round(float(x), 3))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two (n, 4) arrays of x0, y0, x1, y1 boxes."""
    ix = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = ix * iy
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
