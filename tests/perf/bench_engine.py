"""Benchmark detection scoring at COCO scale (a script, not a pytest test).

Builds the seeded synthetic run of ``synth_coco.make_synthetic_arrays``
(default 120k images, ~1M GT boxes, 3M predictions) in memory, then times
``score_run`` (matching + per-row metrics + issues + score) and, separately,
``match_objects`` and ``row_metrics``. Prints the median wall and CPU time of
a few repeats.

Then, when cleanlab is installed (``pip install cleanlab``, the ``perf``
extra), it times ``cleanlab.object_detection.rank.get_label_quality_scores``
on the first ``--cleanlab-images`` images of the same data (converted to its
format: xyxy boxes, per-class [x0, y0, x1, y1, score] arrays; the conversion
is not timed) and prints the per-image speed ratio: cleanlab's time per image
over ours (ours measured on the full run).

    python tests/perf/bench_engine.py                       # 120k images, 3 repeats
    python tests/perf/bench_engine.py --images 20000 --repeats 5 --cleanlab-images 1000

Targets: full run <= 10 s; >= 20x cleanlab per image.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from synth_coco import SynthData, make_synthetic_arrays  # noqa: E402

from labeltui.config import Config, Source  # noqa: E402
from labeltui.engine.detection import match_objects  # noqa: E402
from labeltui.engine.metrics import row_metrics  # noqa: E402
from labeltui.engine.score import score_run  # noqa: E402
from labeltui.formats.base import make_annotations, make_rows  # noqa: E402
from labeltui.run import build_run  # noqa: E402

TARGET_S = 10.0
TARGET_RATIO = 20.0


def build(data: SynthData):
    """The synthetic data as a ModelRun (boxes to x0, y0, x1, y1)."""
    im = data.images
    ids = im["image_id"].astype(str).to_numpy(dtype=object)
    rows = make_rows(ids, ids, im["file_name"], im["width"], im["height"])
    names = np.array([data.categories[k] for k in sorted(data.categories)], dtype=object)

    def boxes(df: pd.DataFrame, source: str):
        x, y, w, h = (df[c].to_numpy() for c in "xywh")
        return make_annotations(
            source=source, data_row_id=ids[df["image_id"].to_numpy() - 1], label=names[df["category_id"].to_numpy() - 1],
            x0=x, y0=y, x1=x + w, y1=y + h, confidence=df["score"].to_numpy() if "score" in df else None,
        )

    ann = pd.concat([boxes(data.gt, "gt"), boxes(data.preds, "pred")], ignore_index=True)
    return build_run("bench", "detection", rows, ann, classes=list(names))


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def cleanlab_inputs(data: SynthData, n_images: int) -> tuple[list, list]:
    """Labels and predictions of the first ``n_images`` images in cleanlab's format."""
    k = len(data.categories)
    gt = data.gt[data.gt["image_id"] <= n_images]
    pr = data.preds[data.preds["image_id"] <= n_images]
    g_img = gt["image_id"].to_numpy() - 1
    p_img = pr["image_id"].to_numpy() - 1
    g_box = np.c_[gt["x"], gt["y"], gt["x"] + gt["w"], gt["y"] + gt["h"]]
    p_box = np.c_[pr["x"], pr["y"], pr["x"] + pr["w"], pr["y"] + pr["h"], pr["score"]]
    g_cls = gt["category_id"].to_numpy() - 1
    p_cls = pr["category_id"].to_numpy() - 1
    g_cut = np.searchsorted(g_img, np.arange(n_images + 1))
    p_cut = np.searchsorted(p_img, np.arange(n_images + 1))
    labels, predictions = [], []
    for i in range(n_images):
        gs, ps = slice(g_cut[i], g_cut[i + 1]), slice(p_cut[i], p_cut[i + 1])
        labels.append({"bboxes": g_box[gs], "labels": g_cls[gs]})
        predictions.append([p_box[ps][p_cls[ps] == c] for c in range(k)])
    return labels, predictions


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=120_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cleanlab-images", type=int, default=2000)
    ap.add_argument("--cleanlab-repeats", type=int, default=3)
    args = ap.parse_args(argv)

    t = time.perf_counter()
    data = make_synthetic_arrays(n_images=args.images)
    run = build(data)
    n_gt = int((run.annotations["source"] == "gt").sum())
    print(f"run: {run.n_rows:,} images, {n_gt:,} GT boxes, {len(run.annotations) - n_gt:,} predictions "
          f"(generated and built in {time.perf_counter() - t:.1f} s, not timed)")
    config = Config(path=None, name="bench", task="detection", ground_truth=Source(format="coco", path=Path(".")),
                    predictions=None)

    objects = match_objects(run, config.matching, config.scoring)
    parts = {
        "match_objects (matching + issues)": lambda: match_objects(run, config.matching, config.scoring),
        "row_metrics": lambda: row_metrics(run, objects),
        "score_run (all of it)": lambda: score_run(run, config),
    }
    print(f"\nmedian of {args.repeats} repeats   wall s   cpu s")
    total = total_cpu = 0.0
    for name, fn in parts.items():
        total, total_cpu = timed(fn, args.repeats)
        print(f"  {name:34s} {total:6.2f}  {total_cpu:6.2f}")
    verdict = "ok" if total <= TARGET_S else "OVER TARGET"
    print(f"match + metrics + score: {total:.2f} s wall, {total_cpu:.2f} s cpu (target <= {TARGET_S:.0f} s: {verdict})")

    try:
        from cleanlab.object_detection.rank import get_label_quality_scores
        import cleanlab
    except ImportError:
        print("\ncleanlab not installed (pip install cleanlab): no ratio")
        return 0
    n_cl = min(args.cleanlab_images, args.images)
    labels, predictions = cleanlab_inputs(data, n_cl)

    def run_cleanlab():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            get_label_quality_scores(labels, predictions, verbose=False)

    cl_wall, cl_cpu = timed(run_cleanlab, args.cleanlab_repeats)
    print(f"\ncleanlab {cleanlab.__version__} get_label_quality_scores on the first {n_cl:,} images: "
          f"{cl_wall:.2f} s wall, {cl_cpu:.2f} s cpu (median of {args.cleanlab_repeats})")
    for kind, ours_s, theirs_s in (("wall", total, cl_wall), ("cpu", total_cpu, cl_cpu)):
        ours_per_image, cl_per_image = ours_s / args.images, theirs_s / n_cl
        ratio = cl_per_image / ours_per_image
        verdict = "ok" if ratio >= TARGET_RATIO else "UNDER TARGET"
        print(f"per image ({kind}): cleanlab {cl_per_image * 1e3:.3f} ms, ours {ours_per_image * 1e3:.4f} ms "
              f"-> {ratio:.0f}x faster (target >= {TARGET_RATIO:.0f}x: {verdict}); "
              f"cleanlab scaled to {args.images:,} images: ~{cl_per_image * args.images:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
