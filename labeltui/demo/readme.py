"""``demo/README.md``: what each demo run holds and where its label mistakes are planted.

Generated from the runs' ``planted.json`` files so it never drifts from the data.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from labeltui.demo._common import PLANTED_FILE, write_text

INTRO = """\
# Demo model runs

Three small, realistic model runs with **planted label mistakes**, made by a
seeded generator (numpy + Pillow, no network). Regenerate them byte for byte with

    python -m labeltui.demo --out demo

Open one with `labeltui open demo/detection/run.yaml`, or run `labeltui demo`
(detection by default; `--task ner` or `--task classification`). Each folder
holds a `run.yaml` config and a `planted.json` listing the planted label
mistakes (`mistakes`: data row, type, annotation id or span, the truth) and the
rows where only the model is wrong (`model_noise`). A good ranking puts the planted rows on top: the demo tests
check precision@10 of the suspect list against `planted.json`.

The lists below give the mistakes away on purpose: it is a demo, and knowing
where to look helps when you learn the keys.
"""

DETECTION = """\
## detection: parking lots from above

- `images/`: {images} JPEG images, 320x240: asphalt lots with painted stalls,
  parked cars (windshields, several colours), trucks in the aisles, tennis and
  basketball courts and trees in park strips.
- `annotations/val.json`: COCO ground truth, {gt} boxes, classes
  {classes}.
- `predictions.json`: COCO results from an imperfect detector, {preds} boxes:
  jittered boxes with confidences 0.60-0.99 on real objects.
- `embeddings.npy` + `embedding_ids.txt`: a 64-d vector per image (image
  statistics and scene content, randomly projected).

The model is systematically unsure about `basketball_court` (confidences
0.30-0.62). Model mistakes that are **not** label mistakes:
{noise}.

Planted label mistakes (one per image; the data row id is the COCO image id;
boxes are COCO `[x, y, w, h]`):

| data row | image | type | GT annotation | box | what |
|---|---|---|---|---|---|
"""

NER = """\
## ner: entities in news sentences

- `sentences.jsonl`: {rows} templated news sentences, one JSON object a line
  (`id`, `topic`, `text`, gold `labels` `[start, end, type]` and model
  `predictions` `[start, end, type, confidence]`, character offsets, end
  exclusive). The one file is named as both ground truth and predictions.
  Types: PER, ORG, LOC, MISC ({gold} gold spans, {preds} predicted).

The model is poorly calibrated on MISC (0.35-0.70) and gives every MISC span
at least 0.12. Model mistakes that are **not** label mistakes:
{noise}.

Planted label mistakes (spans are character offsets into the sentence):

| data row | type | gold span | truth | what |
|---|---|---|---|---|
"""

CLASSIFICATION = """\
## classification: aerial scenes

- `scenes.csv`: {rows} rows, `data_row_id,label,prob_<class>...,asset`; the
  label is the given class, the `prob_` columns the model's probabilities
  (they sum to 1), `asset` a short text description of the scene. Named as both
  ground truth and predictions.
  Classes: {classes}.
- `embeddings.parquet`: `data_row_id` and a 32-d list column `embedding`; one
  Gaussian cluster per class, tennis and basketball courts close together.

The model is unsure about `ground_track_field` everywhere (about 0.4 on its
own rows). Model mistakes that are **not** label mistakes:
{noise}.

Planted label mistakes: each row sits inside another class's cluster, its
description matches that class and the model gives that class about 0.9.

| data row | given label | true class | model probability |
|---|---|---|---|
"""


def _noise(records: list[dict]) -> str:
    counts = Counter(r["kind"] for r in records)
    return ", ".join(f"{n} x {kind.replace('_', ' ')}" for kind, n in sorted(counts.items()))


def _detection(root: Path, planted: dict) -> str:
    gt = json.loads((root / "annotations" / "val.json").read_text(encoding="utf-8"))
    preds = json.loads((root / "predictions.json").read_text(encoding="utf-8"))
    classes = ", ".join(f"`{c['name']}`" for c in gt["categories"])
    text = DETECTION.format(images=len(gt["images"]), gt=len(gt["annotations"]), classes=classes,
                            preds=len(preds), noise=_noise(planted["model_noise"]))
    for m in planted["mistakes"]:
        box = m["bbox"] if m["bbox"] is not None else m["true_bbox"]
        ann = m["annotation_id"] if m["annotation_id"] is not None else "(none)"
        text += f"| `{m['data_row_id']}` | {m['file_name']} | {m['type']} | {ann} | {box} | {m['note']} |\n"
    return text


def _ner(root: Path, planted: dict) -> str:
    lines = [json.loads(line) for line in (root / "sentences.jsonl").read_text(encoding="utf-8").splitlines()]
    text = NER.format(rows=len(lines), gold=sum(len(r["labels"]) for r in lines),
                      preds=sum(len(r["predictions"]) for r in lines), noise=_noise(planted["model_noise"]))
    for m in planted["mistakes"]:
        span = "(none)" if m["span"] is None else f"{m['span']} {m['label']}"
        truth = "(no entity)" if m["true_span"] is None else f"{m['true_span']} {m['true_label']}"
        text += f"| `{m['data_row_id']}` | {m['type']} | {span} | {truth} | {m['note']} |\n"
    return text


def _classification(root: Path, planted: dict) -> str:
    header = (root / "scenes.csv").read_text(encoding="utf-8").split("\n", 1)[0].split(",")
    classes = ", ".join(f"`{c.removeprefix('prob_')}`" for c in header if c.startswith("prob_"))
    rows = (root / "scenes.csv").read_text(encoding="utf-8").count("\n") - 1
    text = CLASSIFICATION.format(rows=rows, classes=classes, noise=_noise(planted["model_noise"]))
    for m in planted["mistakes"]:
        text += f"| `{m['data_row_id']}` | {m['label']} | {m['true_label']} | {m['model_probability']:.2f} |\n"
    return text


def write_readme(out: Path) -> Path:
    """Write ``out/README.md`` describing the demo runs found under ``out``."""
    parts = [INTRO]
    for task, describe in (("detection", _detection), ("ner", _ner), ("classification", _classification)):
        root = out / task
        if (root / PLANTED_FILE).is_file():
            parts.append(describe(root, json.loads((root / PLANTED_FILE).read_text(encoding="utf-8"))))
    path = out / "README.md"
    write_text(path, "\n".join(parts))
    return path
