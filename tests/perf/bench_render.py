"""Benchmark the renderers (a script, not a pytest test).

    python tests/perf/bench_render.py [--repeat 15]

Prints wall and CPU medians (ms) of:

- the preview of a 4000x4000 JPEG (a typical ~2 MB and a detailed ~5.5 MB
  file, and a camera file with a 160x160 EXIF thumbnail) in 80x40 cells,
  target <= 60 ms: decoding it in full + thumbnail (the baseline) vs draft
  mode (``decode_image``); the whole preview (decode + ``render_image``) cold
  (never decoded before; the file itself is in the OS page cache), warm from
  the on-disk ``PreviewStore`` (seen in an earlier session or evicted from
  memory) and warm in memory (the app's ``ImageCache`` hit: render only);
- the same for a 4000x4000 PNG (no draft mode: the store matters most);
- moving through a list of such images as a reviewer does, through the app's
  ``ImageCache`` with its prefetch of the next rows in a thread: the time from
  a row's request to its rendered preview, first row and the rest, with the
  cursor resting 0.5 s and 0.15 s per row: without a store, in a first session
  with the store warmed ahead of the cursor (``StoreWarmer``), and with a store
  an earlier session filled;
- ``render_image`` at 80x40 cells (demo image with its ~75 boxes, and zoomed),
  with a cold and a warm style cache; target <= 30 ms;
- ``rasterize`` of 1M points into 100x40 cells (target <= 30 ms) vs a naive
  per-point Python loop timed on 10k points and scaled to 1M;
- ``rasterize_values`` and ``render_scatter`` at the same size, and
  ``render_spans`` of a demo sentence.

CPU time is reported beside wall time because the reference machine is shared:
when the load average is above the core count, wall time includes waiting.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps
from rich.console import Console, Group

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from labeltui.render.halfblock import _COLORS, _SEGMENTS  # noqa: E402
from labeltui.render.image import compose_image, decode_image, render_image  # noqa: E402
from labeltui.render.preview_store import PreviewStore  # noqa: E402
from labeltui.render.palette import Palette  # noqa: E402
from labeltui.render.scatter import _BITS, rasterize, rasterize_values, render_scatter  # noqa: E402
from labeltui.render.spans import render_spans  # noqa: E402
from labeltui.tui.previews import ImageCache, StoreWarmer, decode_size  # noqa: E402
from labeltui.tui.widgets.detail import PREFETCH, WARM_AHEAD  # noqa: E402
from tests.helpers.exif import save_with_thumbnail  # noqa: E402

CELLS = (80, 40)
MAX_SIZE = (2 * CELLS[0], 4 * CELLS[1])  # decode at 2x the cell pixels: room for a zoom


def measure(fn, repeat: int) -> tuple[float, float]:
    """(wall, cpu) medians in ms over ``repeat`` runs after one warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - w) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return float(np.median(wall)), float(np.median(cpu))


def report(name: str, result: tuple[float, float], target: float | None = None, scale: float = 1.0) -> None:
    wall, cpu = (v * scale for v in result)
    goal = f"  (target <= {target:.0f} ms)" if target else ""
    print(f"{name:58s} wall {wall:9.2f} ms   cpu {cpu:9.2f} ms{goal}")


def big_jpeg(folder: Path, noise: float, name: str, *, exif_thumbnail: bool = False, shift: int = 0) -> Path:
    """A 4000x4000 JPEG (q90); ``noise`` sets the detail, hence the file size
    (entropy decoding, which draft mode cannot skip, grows with it);
    ``exif_thumbnail``: with a 160x160 EXIF thumbnail, as a camera writes;
    ``shift``: the pattern moved by that many pixels (another picture, same cost)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:4000, shift : 4000 + shift].astype(np.float32)
    img = np.stack([(xx / 16) % 256, (yy / 16) % 256, ((xx + yy) / 32) % 256], axis=2)
    img += rng.normal(0, noise, img.shape).astype(np.float32)
    path = folder / name
    image = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    if exif_thumbnail:
        save_with_thumbnail(image, path, thumb_size=(160, 160))
    else:
        image.save(path, quality=90)
    return path


def walk(
    paths: list[Path], cells: tuple[int, int], rest: float, store: PreviewStore | None, warm_ahead: bool = False
) -> list[float]:
    """Move through ``paths`` as the app does: each row's preview through an
    ``ImageCache`` (decoded on a miss, then rendered), the next ``PREFETCH``
    rows decoded in a thread meanwhile, the cursor resting ``rest`` seconds;
    ``warm_ahead``: the app's ``StoreWarmer`` fills the store for the rows after those.
    Returns the ms from each row's request to its rendered preview."""
    cache = ImageCache(store=store)
    warmer = StoreWarmer(store) if warm_ahead and store is not None else None
    size = decode_size(cells)
    latencies, threads, cancel = [], [], threading.Event()

    def ahead(todo: list[Path], cancelled: threading.Event) -> None:
        for p in todo:
            if cancelled.is_set():  # the app's exclusive worker: a newer prefetch replaced this one
                return
            if (str(p), size, None) not in cache:
                cache.get(str(p), size)

    for i, path in enumerate(paths):
        t = time.perf_counter()
        render_image(cache.get(str(path), size), None, cells=cells)
        latencies.append((time.perf_counter() - t) * 1000)
        cancel.set()
        cancel = threading.Event()
        threads.append(threading.Thread(target=ahead, args=(paths[i + 1 : i + 1 + PREFETCH], cancel)))
        threads[-1].start()
        if warmer is not None:
            warmer.want([str(p) for p in paths[i + 1 + PREFETCH : i + 1 + WARM_AHEAD]], size)
        time.sleep(rest)
    for thread in threads:
        thread.join()
    if warmer is not None:
        warmer.close()
    return latencies


def fresh(fn):
    """``fn()`` with the cell style cache emptied first: an image not shown before in this process."""
    _SEGMENTS.clear()
    _COLORS.clear()
    return fn()


def decode_without_draft(path: Path) -> Image.Image:
    with Image.open(path) as img:
        img.load()  # decoded in full: a later draft() is a no-op
        img = ImageOps.exif_transpose(img).convert("RGB")
        img.thumbnail(MAX_SIZE)
        return img


def demo_boxes() -> tuple[Path, pd.DataFrame, int]:
    det = ROOT / "demo" / "detection"
    coco = json.loads((det / "annotations" / "val.json").read_text())
    preds = json.loads((det / "predictions.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    rows = [("gt", a) for a in coco["annotations"] if a["image_id"] == 9]
    rows += [("pred", a) for a in preds if a["image_id"] == 9]
    table = pd.DataFrame(
        {
            "source": [s for s, _ in rows],
            "label": [names[a["category_id"]] for _, a in rows],
            "x0": [a["bbox"][0] for _, a in rows],
            "y0": [a["bbox"][1] for _, a in rows],
            "x1": [a["bbox"][0] + a["bbox"][2] for _, a in rows],
            "y1": [a["bbox"][1] + a["bbox"][3] for _, a in rows],
            "confidence": [a.get("score", np.nan) for _, a in rows],
            "issue": "",
        }
    )
    return det / "images" / "lot_009.jpg", table, len(rows) - 1


def naive_raster(x, y, cat, cells, n_cat):
    w, h = cells
    x0, x1, y0, y1 = x.min(), x.max(), y.min(), y.max()
    dots = np.zeros((h, w), np.uint8)
    votes = np.zeros((h, w, n_cat), np.int64)
    for xi, yi, ci in zip(x.tolist(), y.tolist(), cat.tolist()):
        dc = min(int((xi - x0) / (x1 - x0) * 2 * w), 2 * w - 1)
        dr = min(int((y1 - yi) / (y1 - y0) * 4 * h), 4 * h - 1)
        dots[dr // 4, dc // 2] |= _BITS[dr % 4, dc % 2]
        votes[dr // 4, dc // 2, ci] += 1
    return dots, votes.argmax(axis=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    r = args.repeat
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; medians of {r} runs\n")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = ((4.0, "typical photo", False), (12.0, "detailed photo", False), (12.0, "camera file, EXIF thumbnail", True))
        for noise, label, camera in cases:
            path = big_jpeg(folder, noise, f"{noise:.0f}{'-exif' if camera else ''}.jpg", exif_thumbnail=camera)
            print(f"image preview: 4000x4000 JPEG, {label}, {path.stat().st_size / 1e6:.1f} MB; 80x40 cells")
            baseline = measure(lambda: decode_without_draft(path), max(3, r // 3))
            report("  decode, full decode + thumbnail (baseline)", baseline)
            how = "  decode_image (draft mode" + (", EXIF thumbnail)" if camera else ")")
            report(how, measure(lambda: decode_image(path, MAX_SIZE), r))
            whole = measure(lambda: fresh(lambda: render_image(decode_image(path, MAX_SIZE), None, cells=CELLS)), r)
            report("  whole preview, cold: decode_image + render_image", whole, 60)
            if camera:
                continue
            store = PreviewStore(folder / f"store-{noise:.0f}")
            decode_image(path, MAX_SIZE, store=store)
            store.flush()
            warm = measure(lambda: fresh(lambda: render_image(decode_image(path, MAX_SIZE, store=store), None, cells=CELLS)), r)
            report("  whole preview, warm from the preview store", warm, 60)
            cache = ImageCache()
            cache.get(str(path), MAX_SIZE)
            in_memory = measure(lambda: render_image(cache.get(str(path), MAX_SIZE), None, cells=CELLS), r)
            report("  whole preview, warm in memory (ImageCache hit)", in_memory, 60)

        png = folder / "aerial.png"
        with Image.open(folder / "4.jpg") as img:
            img.save(png)
        print(f"image preview: 4000x4000 PNG (aerial sets like DOTA: no draft mode), {png.stat().st_size / 1e6:.1f} MB")
        cold = measure(lambda: fresh(lambda: render_image(decode_image(png, MAX_SIZE), None, cells=CELLS)), 3)
        report("  whole preview, cold: decode_image + render_image", cold, 60)
        store = PreviewStore(folder / "store-png")
        decode_image(png, MAX_SIZE, store=store)
        store.flush()
        warm = measure(lambda: fresh(lambda: render_image(decode_image(png, MAX_SIZE, store=store), None, cells=CELLS)), r)
        report("  whole preview, warm from the preview store", warm, 60)

        print(f"\nmoving through 12 detailed 4000x4000 JPEGs, {CELLS[0]}x{CELLS[1]} cells, prefetch {PREFETCH} rows")
        print("  ms from a row's request to its rendered preview: first row / median of the rest / max of the rest")
        rows = [big_jpeg(folder, 12.0, f"row{i:02d}.jpg", shift=1000 * i) for i in range(12)]
        store = PreviewStore(folder / "store-walk")
        for rest in (0.5, 0.15):
            variants = (
                ("no store", None, False, False),
                ("first session, store warmed ahead", store, False, True),
                ("warm store (a later session)", store, True, False),
            )
            for name, with_store, seen, ahead in variants:
                shutil.rmtree(folder / "store-walk", ignore_errors=True)
                if seen:
                    walk(rows, CELLS, 0.0, store)  # an earlier session saw these rows
                    store.flush()
                _SEGMENTS.clear()  # a new process: no cell styles cached yet
                _COLORS.clear()
                ms = walk(rows, CELLS, rest, with_store, warm_ahead=ahead)
                print(f"  cursor rests {rest:.2f} s, {name:34s} {ms[0]:7.1f} / {np.median(ms[1:]):6.1f} / {max(ms[1:]):6.1f}")

    image, boxes, focus = demo_boxes()
    decoded = decode_image(image, MAX_SIZE)
    zoom = tuple(boxes.loc[focus, ["x0", "y0", "x1", "y1"]])

    def warm(**kw) -> Group:
        return render_image(decoded, boxes, cells=CELLS, focus=focus, **kw)

    def cold() -> None:
        _SEGMENTS.clear()
        _COLORS.clear()
        warm()

    print(f"\nrender_image (demo lot_009.jpg, {len(boxes)} boxes, 80x40 cells)")
    report("compose_image (pixel buffer with outlines)", measure(lambda: compose_image(decoded, boxes, cells=CELLS), r))
    report("render_image, cold style cache (a new image)", measure(cold, r), 30)
    report("render_image, warm (same image: toggles, focus moves)", measure(warm, r), 30)
    report("render_image, zoomed to the focus box", measure(lambda: warm(zoom=zoom), r), 30)
    out = warm()
    console = Console(file=io.StringIO(), width=CELLS[0], color_system="truecolor", force_terminal=True)
    report("Rich console output of it (ANSI text)", measure(lambda: console.print(out), r))

    rng = np.random.default_rng(0)
    n, cells = 1_000_000, (100, 40)
    centers = rng.normal(size=(6, 2)) * 4
    cat = rng.integers(0, 6, n)
    x = centers[cat, 0] + rng.normal(size=n)
    y = centers[cat, 1] + rng.normal(size=n)
    bounds = (-4.0, -4.0, 4.0, 4.0)
    print("\nscatter (1M points, 100x40 cells, 6 classes)")
    report("rasterize", measure(lambda: rasterize(x, y, cat, cells=cells, n_categories=6), r), 30)
    zoomed = measure(lambda: rasterize(x, y, cat, cells=cells, bounds=bounds, n_categories=6), r)
    report("rasterize, zoomed bounds", zoomed, 30)
    report("rasterize_values (score coloring)", measure(lambda: rasterize_values(x, y, x + y, cells=cells), r), 30)
    k = 10_000
    naive = measure(lambda: naive_raster(x[:k], y[:k], cat[:k], cells, 6), max(3, r // 3))
    report(f"naive per-point loop ({k} points, scaled to 1M)", naive, scale=n / k)
    raster = rasterize(x, y, cat, cells=cells, n_categories=6)
    pal = Palette.for_classes([f"class_{i}" for i in range(6)])
    scatter = measure(
        lambda: render_scatter(raster, pal, marker=(0.0, 0.0), selection=(-1, -1, 1, 1), legend=list(pal.names)), r
    )
    report("render_scatter (marker, selection, legend)", scatter)

    sentence = "Tickets for the Super Bowl in Nairobi sold out within an hour."
    spans = pd.DataFrame(
        {
            "source": ["gt", "pred", "gt", "pred"],
            "label": ["MISC", "MISC", "ORG", "LOC"],
            "start": [16, 16, 30, 30],
            "end": [26, 26, 37, 37],
            "confidence": [np.nan, 0.9, np.nan, 0.97],
            "issue": ["", "", "", "wrong_type"],
        }
    )
    print("\nNER")
    ner = measure(lambda: render_spans(sentence, spans, focus=3, width=80), r)
    report("render_spans (one sentence, width 80)", ner)


if __name__ == "__main__":
    main()
