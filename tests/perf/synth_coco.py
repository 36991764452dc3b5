"""Seeded synthetic COCO-scale detection run (GT, predictions, run.yaml).

The default size is the load target: 120k images, ~1M GT boxes, 3M predicted
boxes over 15 classes. Predictions look like a real detector's: noisy copies of
most GT boxes with high scores (a few with the wrong class), confident boxes on
objects nobody labelled, and random low-score clutter, 25 per image.

    python tests/perf/synth_coco.py --images 120000 --out /tmp/synth

``make_synthetic_arrays`` builds the same data as tables (no JSON) for engine
benchmarks; ``write_synthetic_coco`` writes it as COCO files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CLASSES = (
    "plane", "ship", "storage-tank", "baseball-diamond", "tennis-court",
    "basketball-court", "ground-track-field", "harbor", "bridge", "large-vehicle",
    "small-vehicle", "helicopter", "roundabout", "soccer-ball-field", "swimming-pool",
)
SIZES = np.array([[640, 480], [800, 600], [1024, 768], [1280, 720], [1920, 1080]], dtype=np.float64)


@dataclass
class SynthData:
    """Synthetic run as columns.

    ``images``: ``image_id`` (int, 1..n), ``file_name``, ``width``, ``height``.
    ``gt`` / ``preds``: ``image_id``, ``category_id`` (1..n_classes), ``x``,
    ``y``, ``w``, ``h`` (COCO bbox), plus ``id`` (GT) or ``score`` (preds).
    ``categories``: ``{id: name}``.
    """

    images: pd.DataFrame
    gt: pd.DataFrame
    preds: pd.DataFrame
    categories: dict[int, str]


def _class_names(n_classes: int) -> list[str]:
    return [CLASSES[i] if i < len(CLASSES) else f"class-{i}" for i in range(n_classes)]


def _random_boxes(rng: np.random.Generator, img_w: np.ndarray, img_h: np.ndarray) -> tuple[np.ndarray, ...]:
    n = len(img_w)
    w = np.maximum(4.0, img_w * rng.uniform(0.02, 0.35, n))
    h = np.maximum(4.0, img_h * rng.uniform(0.02, 0.35, n))
    x = rng.uniform(0.0, 1.0, n) * (img_w - w)
    y = rng.uniform(0.0, 1.0, n) * (img_h - h)
    return x, y, w, h


def make_synthetic_arrays(
    n_images: int = 120_000,
    gt_per_image: float = 8.3,
    preds_per_image: int = 25,
    n_classes: int = 15,
    seed: int = 0,
) -> SynthData:
    """Generate the synthetic run as DataFrames (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    image_id = np.arange(1, n_images + 1, dtype=np.int64)
    size = SIZES[rng.integers(0, len(SIZES), n_images)]
    img_w, img_h = size[:, 0], size[:, 1]
    images = pd.DataFrame(
        {
            "image_id": image_id,
            "file_name": [f"{i:012d}.jpg" for i in image_id],
            "width": img_w,
            "height": img_h,
        }
    )

    n_gt_img = np.minimum(rng.poisson(gt_per_image, n_images), preds_per_image)
    gt_img = np.repeat(np.arange(n_images), n_gt_img)
    n_gt = len(gt_img)
    gx, gy, gw, gh = _random_boxes(rng, img_w[gt_img], img_h[gt_img])
    gcat = rng.integers(1, n_classes + 1, n_gt)
    gt = pd.DataFrame(
        {
            "id": np.arange(1, n_gt + 1, dtype=np.int64),
            "image_id": image_id[gt_img],
            "category_id": gcat,
            "x": gx, "y": gy, "w": gw, "h": gh,
        }
    )

    # Detections of GT objects: ~90% of GT boxes, jittered, mostly confident.
    detected = rng.random(n_gt) < 0.9
    d_img = gt_img[detected]
    nd = len(d_img)
    jitter = rng.normal(0.0, 0.05, (nd, 4))
    dw = gw[detected] * np.exp(jitter[:, 2])
    dh = gh[detected] * np.exp(jitter[:, 3])
    dx = gx[detected] + gw[detected] * jitter[:, 0]
    dy = gy[detected] + gh[detected] * jitter[:, 1]
    dcat = gcat[detected].copy()
    confused = rng.random(nd) < 0.05
    dcat[confused] = rng.integers(1, n_classes + 1, int(confused.sum()))
    dscore = np.clip(rng.beta(8, 2, nd), 0.01, 0.999)

    # Fill each image to preds_per_image: ~10% confident unlabelled objects, rest clutter.
    n_fill = preds_per_image - np.bincount(d_img, minlength=n_images)
    f_img = np.repeat(np.arange(n_images), n_fill)
    nf = len(f_img)
    fx, fy, fw, fh = _random_boxes(rng, img_w[f_img], img_h[f_img])
    fcat = rng.integers(1, n_classes + 1, nf)
    missed_object = rng.random(nf) < 0.1
    fscore = np.where(missed_object, rng.uniform(0.6, 0.99, nf), rng.uniform(0.01, 0.3, nf))

    p_img = np.concatenate([d_img, f_img])
    order = np.argsort(p_img, kind="stable")
    preds = pd.DataFrame(
        {
            "image_id": image_id[p_img][order],
            "category_id": np.concatenate([dcat, fcat])[order],
            "x": np.concatenate([dx, fx])[order],
            "y": np.concatenate([dy, fy])[order],
            "w": np.concatenate([dw, fw])[order],
            "h": np.concatenate([dh, fh])[order],
            "score": np.concatenate([dscore, fscore])[order],
        }
    )
    # Round like real files do (2 decimals for pixels, 3 for scores).
    for df in (gt, preds):
        df[["x", "y", "w", "h"]] = df[["x", "y", "w", "h"]].round(2)
    preds["score"] = preds["score"].round(3)
    categories = {i + 1: name for i, name in enumerate(_class_names(n_classes))}
    return SynthData(images=images, gt=gt, preds=preds, categories=categories)


def synthetic_tables(data: SynthData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows, annotations) as labeltui's COCO readers produce them from the written files.

    Annotations are GT then predictions, in file order; feed them to
    ``labeltui.run.build_run`` for engine benchmarks without any JSON.
    """
    from labeltui.formats.base import make_annotations, make_rows

    im, gt, pr = data.images, data.gt, data.preds
    ids = im["image_id"].astype(str).to_numpy(dtype=object)
    rows = make_rows(ids, im["file_name"], im["file_name"], im["width"], im["height"])
    names = np.array([""] + list(data.categories.values()), dtype=object)
    parts = []
    for df, source in ((gt, "gt"), (pr, "pred")):
        x, y = df["x"].to_numpy(), df["y"].to_numpy()
        parts.append(
            make_annotations(
                source=source,
                data_row_id=df["image_id"].astype(str).to_numpy(dtype=object),
                label=names[df["category_id"].to_numpy()],
                x0=x, y0=y, x1=x + df["w"].to_numpy(), y1=y + df["h"].to_numpy(),
                confidence=df["score"].to_numpy() if source == "pred" else None,
                annotation_id=df["id"].astype(str).to_numpy(dtype=object) if source == "gt" else None,
            )
        )
    return rows, pd.concat(parts, ignore_index=True)


def _dumps(obj: object) -> bytes:
    try:
        import orjson
    except ImportError:
        return json.dumps(obj, separators=(",", ":")).encode()
    return orjson.dumps(obj)


def _write_json_array(f, make_items, n: int, chunk: int = 250_000) -> None:
    """Write a JSON array of ``n`` items to ``f``, built and serialised ``chunk`` at a time."""
    f.write(b"[")
    for lo in range(0, n, chunk):
        body = _dumps(make_items(lo, min(n, lo + chunk)))[1:-1]
        if lo and body:
            f.write(b",")
        f.write(body)
    f.write(b"]")


def write_synthetic_coco(
    out_dir: str | Path,
    n_images: int = 120_000,
    gt_per_image: float = 8.3,
    preds_per_image: int = 25,
    n_classes: int = 15,
    seed: int = 0,
) -> Path:
    """Write ``gt.json``, ``preds.json`` and ``run.yaml`` into ``out_dir``; return the run.yaml path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = make_synthetic_arrays(n_images, gt_per_image, preds_per_image, n_classes, seed)
    im, gt, pr = data.images, data.gt, data.preds

    images = [
        {"id": i, "file_name": f, "width": int(w), "height": int(h)}
        for i, f, w, h in zip(im["image_id"].tolist(), im["file_name"].tolist(), im["width"].tolist(), im["height"].tolist())
    ]
    categories = [{"id": k, "name": v, "supercategory": "object"} for k, v in data.categories.items()]
    g = {c: gt[c].tolist() for c in gt.columns}

    def gt_items(lo: int, hi: int) -> list[dict]:
        return [
            {"id": a, "image_id": i, "category_id": c, "bbox": [x, y, w, h], "area": round(w * h, 2), "iscrowd": 0}
            for a, i, c, x, y, w, h in zip(
                g["id"][lo:hi], g["image_id"][lo:hi], g["category_id"][lo:hi],
                g["x"][lo:hi], g["y"][lo:hi], g["w"][lo:hi], g["h"][lo:hi],
            )
        ]

    with open(out / "gt.json", "wb") as f:
        head = _dumps({"info": {"description": "labeltui synthetic", "seed": seed}, "images": images, "categories": categories})
        f.write(head[:-1] + b',"annotations":')
        _write_json_array(f, gt_items, len(gt))
        f.write(b"}")

    p = {c: pr[c].tolist() for c in pr.columns}

    def pred_items(lo: int, hi: int) -> list[dict]:
        return [
            {"image_id": i, "category_id": c, "bbox": [x, y, w, h], "score": s}
            for i, c, x, y, w, h, s in zip(
                p["image_id"][lo:hi], p["category_id"][lo:hi],
                p["x"][lo:hi], p["y"][lo:hi], p["w"][lo:hi], p["h"][lo:hi], p["score"][lo:hi],
            )
        ]

    with open(out / "preds.json", "wb") as f:
        _write_json_array(f, pred_items, len(pr))
    config = out / "run.yaml"
    config.write_text(
        f"name: synthetic-coco-{n_images}\n"
        "task: detection\n"
        "ground_truth:\n  format: coco\n  path: gt.json\n"
        "predictions:\n  format: coco-results\n  path: preds.json\n",
        encoding="utf-8",
    )
    return config


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=120_000)
    ap.add_argument("--gt-per-image", type=float, default=8.3)
    ap.add_argument("--preds-per-image", type=int, default=25)
    ap.add_argument("--classes", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    t = time.perf_counter()
    config = write_synthetic_coco(args.out, args.images, args.gt_per_image, args.preds_per_image, args.classes, args.seed)
    print(f"wrote {config} in {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
