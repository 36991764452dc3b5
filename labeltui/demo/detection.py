"""Detection demo: aerial-style parking-lot images, COCO ground truth, an imperfect detector.

Each 320x240 image is a parking lot (asphalt, painted stalls, parked cars,
trucks in the aisles), sometimes with a park strip holding tennis or
basketball courts and trees. The "model" finds real objects with jittered
boxes and confidences 0.6-0.99, is systematically unsure about basketball
courts (0.30-0.62), scores some dark cars on dark asphalt low (0.20-0.45: a
model miss, not a label mistake) and adds low-confidence false positives
(0.05-0.40), mostly on trees. Four label mistakes of each detection issue type
are planted, one per image (see ``planted.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from labeltui.demo._common import CONFIG_FILE, box_iou, dumps_list, dumps_rows, r1, r3, write_planted, write_text

SEED = 7
N_IMAGES = 60
W, H = 320, 240
CLASSES = ("car", "truck", "tennis_court", "basketball_court")
PLANT_TYPES = ("wrong_class", "missing_label", "bad_location", "spurious_label")
PLANTS_PER_TYPE = 4
JPEG_QUALITY = 85

STALL_W, STALL_D = 16, 30
#: stall rows: (top y, direction of the aisle they face: +1 below, -1 above)
STALL_ROWS = ((4, 1), (84, -1), (114, 1), (194, -1))
AISLES = ((34, 84), (144, 194))
SIDE_W = 112
BOTTOM_Y = 224

CAR_COLORS = (
    ((228, 228, 222), 5), ((172, 174, 178), 4), ((34, 35, 38), 2), ((68, 70, 74), 2),
    ((165, 38, 32), 2), ((42, 72, 140), 2), ((44, 84, 56), 1), ((212, 178, 44), 1), ((190, 170, 132), 1),
)
DARK = {(34, 35, 38), (68, 70, 74)}
CAB_COLORS = ((190, 42, 36), (40, 80, 160), (230, 230, 226), (220, 120, 40))
BOX_COLORS = ((220, 220, 214), (196, 198, 200), (150, 152, 158))
GLASS = np.array((36, 46, 58), dtype=np.float32)
PAINT = np.array((208, 208, 200), dtype=np.float32)


@dataclass
class Obj:
    """One real object in a scene; ``box`` is x0, y0, x1, y1 in pixels (exclusive)."""

    kind: str
    box: tuple[int, int, int, int]
    color: tuple[int, int, int] = (0, 0, 0)
    horizontal: bool = False
    flip: bool = False
    aisle_dir: int = 0  # stall cars: +1 / -1 toward the aisle, 0 otherwise
    variant: int = 0

    @property
    def dark(self) -> bool:
        return self.kind == "car" and self.color in DARK


@dataclass
class Scene:
    """Layout of one image (everything the renderer and the annotator need)."""

    index: int
    side: str | None
    top_grass: bool
    lot: tuple[int, int]
    rows: list[tuple[int, int, int, int]] = field(default_factory=list)  # y_top, dir, x_start, n_stalls
    objects: list[Obj] = field(default_factory=list)
    empty_stalls: list[tuple[int, int, int, int]] = field(default_factory=list)
    trees: list[tuple[float, float, float]] = field(default_factory=list)

    @property
    def file_name(self) -> str:
        return f"lot_{self.index + 1:03d}.jpg"

    @property
    def data_row_id(self) -> str:
        """The COCO reader's data row id: the image id as a string."""
        return str(self.index + 1)


def _weighted(rng: np.random.Generator, items: tuple) -> tuple:
    w = np.array([i[1] for i in items], dtype=np.float64)
    return items[int(rng.choice(len(items), p=w / w.sum()))][0]


def _overlaps(box: tuple, others: list[tuple], margin: int = 0) -> bool:
    x0, y0, x1, y1 = box
    return any(
        x0 < b[2] + margin and b[0] < x1 + margin and y0 < b[3] + margin and b[1] < y1 + margin for b in others
    )


def _layout(rng: np.random.Generator, index: int) -> Scene:
    side = (None, "left", "right")[int(rng.choice(3, p=(0.4, 0.3, 0.3)))]
    lot = (0, W) if side is None else ((SIDE_W, W) if side == "left" else (0, W - SIDE_W))
    scene = Scene(index=index, side=side, top_grass=bool(rng.random() < 0.25), lot=lot)
    occupancy = rng.uniform(0.35, 0.8)
    lot_w = lot[1] - lot[0]
    n = (lot_w - 4) // STALL_W
    x_start = lot[0] + (lot_w - n * STALL_W) // 2
    for r, (y_top, direction) in enumerate(STALL_ROWS):
        if r == 0 and scene.top_grass:
            continue
        scene.rows.append((y_top, direction, x_start, n))
        for k in range(n):
            sx = x_start + k * STALL_W
            if rng.random() >= occupancy:
                scene.empty_stalls.append((sx + 2, y_top + 4, sx + 13, y_top + 26))
                continue
            w, length = int(rng.integers(10, 13)), int(rng.integers(20, 24))
            x0 = sx + (STALL_W - w) // 2 + int(rng.integers(-1, 2))
            y0 = y_top + (STALL_D - length) // 2 + int(rng.integers(-2, 3))
            y0 = min(max(y0, y_top + 1), y_top + STALL_D - length - 1)
            scene.objects.append(
                Obj("car", (x0, y0, x0 + w, y0 + length), _weighted(rng, CAR_COLORS),
                    flip=bool(rng.random() < 0.5), aisle_dir=direction)
            )
    for a0, a1 in AISLES:
        cy = (a0 + a1) // 2
        taken: list[tuple] = []
        n_trucks = int(rng.choice(3, p=(0.45, 0.4, 0.15)))
        kinds = ["truck"] * n_trucks + ["car"] * int(rng.random() < 0.35)
        for kind in kinds:
            for _ in range(20):
                if kind == "truck":
                    length, w = int(rng.integers(38, 47)), int(rng.integers(13, 15))
                else:
                    length, w = int(rng.integers(20, 24)), int(rng.integers(10, 13))
                x0 = int(rng.integers(lot[0] + 4, lot[1] - length - 4))
                y0 = cy - w // 2 + int(rng.integers(-3, 4))
                box = (x0, y0, x0 + length, y0 + w)
                if not _overlaps(box, taken, margin=6):
                    taken.append(box)
                    if kind == "truck":
                        color = CAB_COLORS[int(rng.integers(len(CAB_COLORS)))]
                    else:
                        color = _weighted(rng, CAR_COLORS)
                    flip = bool(rng.random() < 0.5)
                    scene.objects.append(Obj(kind, box, color, horizontal=True, flip=flip, variant=int(rng.integers(3))))
                    break
    courts: list[tuple] = []
    if side is not None:
        sx0 = 0 if side == "left" else W - SIDE_W
        n_courts = 2 if rng.random() < 0.3 else 1
        for c in range(n_courts):
            kind = "tennis_court" if rng.random() < 0.5 else "basketball_court"
            cw, ch = ((int(rng.integers(52, 58)), int(rng.integers(96, 105))) if kind == "tennis_court"
                      else (int(rng.integers(48, 54)), int(rng.integers(88, 97))))
            x0 = sx0 + (SIDE_W - cw) // 2 + int(rng.integers(-8, 9))
            if n_courts == 1:
                y0 = int(rng.integers(14, H - 14 - ch))
            else:
                y0 = (8 if c == 0 else 124) + int(rng.integers(0, 6))
            box = (x0, y0, x0 + cw, y0 + ch)
            courts.append(box)
            scene.objects.append(Obj(kind, box, variant=int(rng.integers(2))))
        for _ in range(40):
            r = float(rng.uniform(5, 11))
            cx, cy = float(rng.uniform(sx0 + r + 3, sx0 + SIDE_W - r - 3)), float(rng.uniform(4, H - 4))
            tb = (int(cx - r), int(cy - r), int(cx + r) + 1, int(cy + r) + 1)
            apart = all((cx - t[0]) ** 2 + (cy - t[1]) ** 2 > (r + t[2]) ** 2 * 0.6 for t in scene.trees)
            if apart and not _overlaps(tb, courts, margin=3):
                scene.trees.append((cx, cy, r))
            if len(scene.trees) >= 9:
                break
    strips = [(BOTTOM_Y + 10, 4, 7)] + ([(17, 7, 11)] if scene.top_grass else [])
    for cy0, rmin, rmax in strips:
        x = lot[0] + float(rng.uniform(4, 20))
        while x < lot[1] - 4:
            r = float(rng.uniform(rmin, rmax))
            scene.trees.append((x, cy0 + float(rng.uniform(-2, 2)), r))
            x += 2 * r + float(rng.uniform(6, 40))
    return scene


@dataclass
class Plant:
    kind: str
    obj: int  # index into scene.objects, or -1 (spurious box)
    box: tuple[int, int, int, int]  # the GT box as annotated


def _choose_plants(rng: np.random.Generator, scenes: list[Scene]) -> dict[int, Plant]:
    plants: dict[int, Plant] = {}
    for kind in PLANT_TYPES:
        if kind == "wrong_class":
            ok = [s.index for s in scenes if any(o.kind == "truck" for o in s.objects)]
        elif kind == "spurious_label":
            ok = [s.index for s in scenes if s.empty_stalls]
        else:
            ok = [s.index for s in scenes if any(o.aisle_dir and not o.dark for o in s.objects)]
        ok = [i for i in ok if i not in plants]
        for i in sorted(int(v) for v in rng.choice(ok, PLANTS_PER_TYPE, replace=False)):
            s = scenes[i]
            if kind == "spurious_label":
                box = s.empty_stalls[int(rng.integers(len(s.empty_stalls)))]
                plants[i] = Plant(kind, -1, box)
                continue
            if kind == "wrong_class":
                cands = [j for j, o in enumerate(s.objects) if o.kind == "truck"]
            else:
                cands = [j for j, o in enumerate(s.objects) if o.aisle_dir and not o.dark]
            j = cands[int(rng.integers(len(cands)))]
            o = s.objects[j]
            box = o.box
            if kind == "bad_location":
                shift = round(0.6 * (box[3] - box[1])) * o.aisle_dir
                box = (box[0], box[1] + shift, box[2], box[3] + shift)
            plants[i] = Plant(kind, j, box)
    return plants


def _jitter(rng: np.random.Generator, boxes: np.ndarray, scale: float, min_iou: float) -> np.ndarray:
    """Noisy copies of x0,y0,x1,y1 boxes, each keeping IoU >= min_iou with its original."""
    wh = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
    noise = rng.normal(0.0, scale, boxes.shape) * wh
    out = boxes + noise
    for _ in range(6):
        bad = box_iou(out, boxes) < min_iou
        if not bad.any():
            break
        noise[bad] *= 0.5
        out = boxes + noise
    bad = box_iou(out, boxes) < min_iou
    out[bad] = boxes[bad]
    return np.clip(out, 0, [W, H, W, H])


def _annotate(rng: np.random.Generator, scenes: list[Scene], plants: dict[int, Plant]):
    """COCO images, GT annotations, results and the planted / model-noise records."""
    cat = {name: i + 1 for i, name in enumerate(CLASSES)}
    images, gts, preds, mistakes, noise = [], [], [], [], []
    ann_id = 0
    for s in scenes:
        images.append({"id": s.index + 1, "file_name": s.file_name, "width": W, "height": H})
        plant = plants.get(s.index)
        for j, o in enumerate(s.objects):
            label, box = o.kind, o.box
            if plant is not None and plant.obj == j:
                if plant.kind == "missing_label":
                    mistakes.append(_mistake(s, plant, None, "car", "a car nobody boxed"))
                    continue
                if plant.kind == "wrong_class":
                    label = "car"
                box = plant.box
            ann_id += 1
            gts.append(_coco_ann(ann_id, s.index + 1, cat[label], box))
            if plant is not None and plant.obj == j:
                note = "a truck labeled car" if plant.kind == "wrong_class" else "a car box shifted off the car"
                mistakes.append(_mistake(s, plant, ann_id, label, note, true_box=o.box, true_label=o.kind))
        if plant is not None and plant.kind == "spurious_label":
            ann_id += 1
            gts.append(_coco_ann(ann_id, s.index + 1, cat["car"], plant.box))
            mistakes.append(_mistake(s, plant, ann_id, "car", "a car box on an empty stall"))

        boxes = np.array([o.box for o in s.objects], dtype=np.float64).reshape(-1, 4)
        kinds = [o.kind for o in s.objects]
        n = len(kinds)
        conf = rng.uniform(0.6, 0.99, n)
        conf = np.where(np.isin(kinds, ["tennis_court"]), rng.uniform(0.85, 0.99, n), conf)
        unsure = np.isin(kinds, ["basketball_court"])
        conf = np.where(unsure, rng.uniform(0.30, 0.62, n), conf)
        missed = np.array([o.dark for o in s.objects], dtype=bool) & (rng.random(n) < 0.3)
        conf = np.where(missed, rng.uniform(0.20, 0.45, n), conf)
        planted = np.zeros(n, dtype=bool)
        if plant is not None and plant.obj >= 0:
            planted[plant.obj] = True
            missed[plant.obj] = False
            conf[plant.obj] = rng.uniform(0.90, 0.98)
        pbox = _jitter(rng, boxes, 0.04, 0.72)
        rows = [(kinds[j], pbox[j], conf[j]) for j in range(n)]
        for j in np.flatnonzero(missed):
            noise.append(_noise(s, "missed_dark_car", s.objects[j].box, conf[j]))
        for j in np.flatnonzero(unsure & (conf < 0.5)):
            noise.append(_noise(s, "unsure_basketball_court", s.objects[j].box, conf[j]))
        for j, o in enumerate(s.objects):
            if o.kind == "truck" and not planted[j] and rng.random() < 0.2:
                x0, y0, x1, y1 = o.box
                cab = (x0, y0, x0 + 12, y1) if not o.flip else (x1 - 12, y0, x1, y1)
                rows.append(("car", np.array(cab, dtype=np.float64), rng.uniform(0.10, 0.30)))
        occupied = [o.box for o in s.objects] + ([plant.box] if plant is not None else [])
        for _ in range(int(rng.integers(0, 4))):
            for _ in range(20):
                if s.trees and rng.random() < 0.6:
                    cx, cy, r = s.trees[int(rng.integers(len(s.trees)))]
                    box = (cx - r, cy - r, cx + r, cy + r)
                else:
                    w, h = (22, 11) if rng.random() < 0.5 else (11, 22)
                    x0, y0 = float(rng.uniform(0, W - w)), float(rng.uniform(0, H - h))
                    box = (x0, y0, x0 + w, y0 + h)
                box = tuple(float(v) for v in np.clip(box, 0, [W, H, W, H]))
                if box[2] - box[0] > 4 and box[3] - box[1] > 4 and not _overlaps(box, occupied, margin=2):
                    occupied.append(box)
                    score = float(rng.uniform(0.05, 0.40))
                    rows.append(("car" if rng.random() < 0.8 else "truck", np.array(box), score))
                    noise.append(_noise(s, "low_confidence_false_positive", box, score))
                    break
        rows.sort(key=lambda t: -t[2])
        for label, b, score in rows:
            preds.append(
                {"image_id": s.index + 1, "category_id": cat[label],
                 "bbox": [r1(b[0]), r1(b[1]), r1(b[2] - b[0]), r1(b[3] - b[1])], "score": r3(score)}
            )
    return images, gts, preds, mistakes, noise


def _coco_ann(ann_id: int, image_id: int, category_id: int, box: tuple) -> dict:
    x0, y0, x1, y1 = (float(v) for v in box)
    return {"id": ann_id, "image_id": image_id, "category_id": category_id,
            "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0}


def _xywh(box: tuple) -> list[float]:
    return [r1(box[0]), r1(box[1]), r1(box[2] - box[0]), r1(box[3] - box[1])]


def _mistake(s: Scene, plant: Plant, ann_id: int | None, label: str, note: str, *,
             true_box: tuple | None = None, true_label: str | None = None) -> dict:
    true_box = true_box or (s.objects[plant.obj].box if plant.obj >= 0 else None)
    return {
        "data_row_id": s.data_row_id, "type": plant.kind, "image_id": s.index + 1, "file_name": s.file_name,
        "annotation_id": None if ann_id is None else str(ann_id), "label": label,
        "bbox": None if ann_id is None else _xywh(plant.box),
        "true_label": true_label or (s.objects[plant.obj].kind if plant.obj >= 0 else None),
        "true_bbox": None if true_box is None else _xywh(true_box), "note": note,
    }


def _noise(s: Scene, kind: str, box: tuple, score: float) -> dict:
    return {"data_row_id": s.data_row_id, "kind": kind, "bbox": _xywh(box), "score": r3(score)}


# --- rendering ---------------------------------------------------------------------------


def _smooth(rng: np.random.Generator, cell: int) -> np.ndarray:
    """Bilinear value noise in [-1, 1], shape (H, W)."""
    gh, gw = H // cell + 2, W // cell + 2
    g = rng.uniform(-1.0, 1.0, (gh, gw))
    y, x = np.arange(H) / cell, np.arange(W) / cell
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0)[:, None], x - x0
    rows = g[:, x0] * (1 - fx) + g[:, x0 + 1] * fx
    return rows[y0] * (1 - fy) + rows[y0 + 1] * fy


def _blur(img: np.ndarray) -> np.ndarray:
    p = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    v = (p[:-2] + 2 * p[1:-1] + p[2:]) / 4
    return (v[:, :-2] + 2 * v[:, 1:-1] + v[:, 2:]) / 4


def _paste(img: np.ndarray, x0: int, y0: int, sprite: np.ndarray, mask: np.ndarray | None = None) -> None:
    h, w = sprite.shape[:2]
    sx0, sy0 = max(0, -x0), max(0, -y0)
    sx1, sy1 = min(w, W - x0), min(h, H - y0)
    if sx1 <= sx0 or sy1 <= sy0:
        return
    region = img[y0 + sy0 : y0 + sy1, x0 + sx0 : x0 + sx1]
    part = sprite[sy0:sy1, sx0:sx1]
    if mask is None:
        region[...] = part
    else:
        m = mask[sy0:sy1, sx0:sx1, None]
        region[...] = np.where(m, part, region)


def _darken(img: np.ndarray, box: tuple, factor: float) -> None:
    x0, y0, x1, y1 = box
    img[max(y0, 0) : min(y1, H), max(x0, 0) : min(x1, W)] *= factor


def _car_sprite(o: Obj, length: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    body = np.array(o.color, dtype=np.float32)
    s = np.empty((length, w, 3), dtype=np.float32)
    s[:] = body
    s[:, 0] *= 0.86
    s[:, -1] *= 0.86
    s[0] *= 0.9
    ws0, ws1 = int(length * 0.2), int(length * 0.4)
    rw0, rw1 = int(length * 0.76), int(length * 0.88)
    s[ws1:rw0, 1:-1] = np.minimum(body * 1.07 + 6, 255)
    s[ws0:ws1, 1:-1] = GLASS
    s[rw0:rw1, 1:-1] = GLASS + 8
    mask = np.ones((length, w), dtype=bool)
    mask[[0, 0, -1, -1], [0, -1, 0, -1]] = False
    return s, mask


def _truck_sprite(o: Obj, length: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    cab = np.array(o.color, dtype=np.float32)
    box = np.array(BOX_COLORS[o.variant], dtype=np.float32)
    s = np.empty((length, w, 3), dtype=np.float32)
    s[:9] = cab
    s[1:4, 1:-1] = GLASS
    s[9] = (40, 40, 42)
    s[10:] = box
    s[10::6] *= 0.9
    s[10:, 1] *= 0.93
    s[10:, -2] *= 0.93
    s[:, 0] *= 0.85
    s[:, -1] *= 0.85
    mask = np.ones((length, w), dtype=bool)
    mask[[0, 0], [0, -1]] = False
    mask[:9, [0, -1]] = False
    return s, mask


def _orient(o: Obj, sprite: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if o.flip:
        sprite, mask = sprite[::-1], mask[::-1]
    if o.horizontal:
        sprite, mask = np.rot90(sprite), np.rot90(mask)
    return sprite, mask


def _court(o: Obj) -> np.ndarray:
    x0, y0, x1, y1 = o.box
    w, h = x1 - x0, y1 - y0
    white = np.array((236, 236, 230), dtype=np.float32)
    s = np.empty((h, w, 3), dtype=np.float32)
    if o.kind == "tennis_court":
        surround, surface = ((150, 78, 62), (176, 92, 70)) if o.variant == 0 else ((64, 122, 78), (52, 96, 150))
        s[:] = surround
        m = 6
        s[m + 4 : h - m - 4, m:-m] = surface
        cx0, cx1, cy0, cy1 = m, w - m - 1, m + 4, h - m - 5
        s[cy0, cx0 : cx1 + 1] = s[cy1, cx0 : cx1 + 1] = white
        s[cy0 : cy1 + 1, cx0] = s[cy0 : cy1 + 1, cx1] = white
        s[cy0 : cy1 + 1, cx0 + 4] = s[cy0 : cy1 + 1, cx1 - 4] = white
        mid = (cy0 + cy1) // 2
        sv = int((cy1 - cy0) * 0.23)
        s[mid - sv, cx0 + 4 : cx1 - 3] = s[mid + sv, cx0 + 4 : cx1 - 3] = white
        s[mid - sv : mid + sv + 1, (cx0 + cx1) // 2] = white
        s[mid, 1:-1] = (34, 34, 36)
        s[mid - 1, 1:-1] = np.minimum(s[mid - 1, 1:-1] * 1.2, 255)
    else:
        surface, key = ((184, 112, 66), (150, 60, 50)) if o.variant == 0 else ((58, 104, 158), (200, 120, 60))
        s[:] = surface
        yy, xx = np.mgrid[0:h, 0:w]
        cx = (w - 1) / 2
        for hy, inward in ((5, 1), (h - 6, -1)):
            depth = (yy - hy) * inward
            s[(np.abs(xx - cx) <= 6) & (depth >= 0) & (depth <= 15)] = key
            s[(np.abs(np.hypot(xx - cx, yy - hy) - 19) < 0.6) & (depth >= 0)] = white
        d = np.hypot(xx - cx, yy - (h - 1) / 2)
        s[np.abs(d - 6) < 0.6] = white
        s[h // 2, 2:-2] = white
        s[2, 2:-2] = s[h - 3, 2:-2] = white
        s[2 : h - 2, 2] = s[2 : h - 2, w - 3] = white
    return s


def _tree(img: np.ndarray, rng: np.random.Generator, cx: float, cy: float, r: float) -> None:
    pad = int(r * 1.3) + 4
    yy, xx = np.mgrid[-pad : pad + 1, -pad : pad + 1].astype(np.float32)
    theta = np.arctan2(yy, xx)
    ph = rng.uniform(0, 2 * np.pi, 2)
    reff = r * (1 + 0.1 * np.sin(5 * theta + ph[0]) + 0.06 * np.sin(9 * theta + ph[1]))
    d = np.hypot(xx, yy)
    crown = d <= reff
    shadow = np.hypot(xx - 3, yy - 3) <= reff
    base = np.array((44, 82, 38), dtype=np.float32) * rng.uniform(0.85, 1.15)
    shade = 1 + 0.35 * (-(xx + yy) / (r * 1.5)) + 0.12 * rng.uniform(-1, 1, xx.shape)
    leaves = base[None, None, :] * shade[..., None]
    ix, iy = int(round(cx)) - pad, int(round(cy)) - pad
    shaded = (shadow & ~crown)[..., None]
    _paste(img, ix, iy, leaves.astype(np.float32), crown)
    x0, y0 = max(ix, 0), max(iy, 0)
    x1, y1 = min(ix + 2 * pad + 1, W), min(iy + 2 * pad + 1, H)
    if x1 > x0 and y1 > y0:
        region = img[y0:y1, x0:x1]
        region *= np.where(shaded[y0 - iy : y1 - iy, x0 - ix : x1 - ix], 0.6, 1.0).astype(np.float32)


def _render(s: Scene, rng: np.random.Generator) -> np.ndarray:
    """The scene as a float32 RGB array in [0, 255]."""
    tone = (_smooth(rng, 40) * 7 + _smooth(rng, 9) * 4)[..., None]
    img = np.empty((H, W, 3), dtype=np.float32)
    img[:] = np.array((90, 91, 95), dtype=np.float32) + tone
    for _ in range(int(rng.integers(0, 3))):
        x0, y0 = int(rng.integers(s.lot[0], s.lot[1] - 30)), int(rng.integers(0, H - 30))
        img[y0 : y0 + int(rng.integers(15, 50)), x0 : x0 + int(rng.integers(20, 70))] += float(rng.choice([-9.0, 8.0]))
    grass = np.zeros((H, W), dtype=bool)
    grass[BOTTOM_Y:] = True
    if s.top_grass:
        grass[:34] = True
    if s.side == "left":
        grass[:, :SIDE_W] = True
    elif s.side == "right":
        grass[:, W - SIDE_W :] = True
    g = (_smooth(rng, 24) * 12 + _smooth(rng, 6) * 6)[..., None]
    lawn = np.array((92, 124, 62), dtype=np.float32) + g * np.array((0.6, 1.0, 0.5), dtype=np.float32)
    img[grass] = lawn[grass]
    curb = np.zeros_like(grass)
    curb[:-2] |= grass[2:] & ~grass[:-2]
    curb[2:] |= grass[:-2] & ~grass[2:]
    curb[:, :-2] |= grass[:, 2:] & ~grass[:, :-2]
    curb[:, 2:] |= grass[:, :-2] & ~grass[:, 2:]
    img[curb & ~grass] = (172, 172, 166)
    for y_top, direction, x_start, n in s.rows:
        for k in range(n):
            cx = x_start + k * STALL_W + STALL_W // 2
            if rng.random() < 0.3:
                yy, xx = np.mgrid[-7:8, -4:5]
                stain = (xx / 4) ** 2 + (yy / 7) ** 2 < 1
                img[y_top + 8 : y_top + 23, cx - 4 : cx + 5][stain] *= 0.82
        paint = np.zeros((STALL_D, n * STALL_W + 1), dtype=bool)
        paint[1:, ::STALL_W] = True
        paint[0 if direction == 1 else STALL_D - 1] = True
        paint &= rng.random(paint.shape) > 0.12
        band = img[y_top : y_top + STALL_D, x_start : x_start + n * STALL_W + 1]
        band[paint] = band[paint] * 0.15 + PAINT * 0.85
    for o in s.objects:
        if o.kind in ("tennis_court", "basketball_court"):
            x0, y0, _, _ = o.box
            _paste(img, x0, y0, _court(o))
    for cx, cy, r in s.trees:
        _tree(img, rng, cx, cy, r)
    for o in s.objects:
        if o.kind in ("car", "truck"):
            x0, y0, x1, y1 = o.box
            _darken(img, (x0 + 2, y0 + 2, x1 + 2, y1 + 2), 0.6)
    for o in s.objects:
        if o.kind in ("car", "truck"):
            x0, y0, x1, y1 = o.box
            length, w = (x1 - x0, y1 - y0) if o.horizontal else (y1 - y0, x1 - x0)
            make = _car_sprite if o.kind == "car" else _truck_sprite
            sprite, mask = _orient(o, *make(o, length, w))
            _paste(img, x0, y0, sprite, mask)
    img = _blur(img) + rng.normal(0.0, 3.0, (H, W, 1)).astype(np.float32)
    return np.clip(img, 0, 255)


def _embedding_features(img: np.ndarray, s: Scene) -> np.ndarray:
    grid = img.reshape(4, H // 4, 4, W // 4, 3).mean(axis=(1, 3)).ravel() / 255.0
    lum = img.mean(axis=2)
    grad = np.abs(np.diff(lum, axis=0, append=lum[-1:])) + np.abs(np.diff(lum, axis=1, append=lum[:, -1:]))
    quad = grad.reshape(2, H // 2, 2, W // 2).mean(axis=(1, 3)).ravel() / 20.0
    counts = np.log1p([sum(o.kind == k for o in s.objects) for k in CLASSES] + [len(s.trees)])
    return np.concatenate([grid, quad, counts])


def _embeddings(features: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng([SEED, 9])
    z = (features - features.mean(axis=0)) / (features.std(axis=0) + 1e-6)
    proj = rng.normal(0.0, 1.0 / np.sqrt(z.shape[1]), (z.shape[1], 64))
    return (z @ proj).astype(np.float32)


RUN_YAML = """\
# labeltui demo: parking lots seen from above (generated by `python -m labeltui.demo`).
# Planted label mistakes are listed in planted.json and demo/README.md.
name: demo-parking-lots
task: detection
assets: images/
ground_truth:
  format: coco
  path: annotations/val.json
predictions:
  format: coco-results
  path: predictions.json
embeddings:
  format: npy
  path: embeddings.npy
  ids: embedding_ids.txt
matching:
  iou_threshold: 0.5
  confidence_threshold: 0.5
review:
  store: labeltui-review.sqlite
export:
  dir: batches/
"""


def write(out: Path) -> Path:
    """Write the detection demo run into ``out``; return its config path."""
    layout_rng = np.random.default_rng([SEED, 0])
    scenes = [_layout(layout_rng, i) for i in range(N_IMAGES)]
    plants = _choose_plants(np.random.default_rng([SEED, 1]), scenes)
    images, gts, preds, mistakes, noise = _annotate(np.random.default_rng([SEED, 2]), scenes, plants)
    (out / "images").mkdir(parents=True, exist_ok=True)
    feats = []
    for s in scenes:
        img = _render(s, np.random.default_rng([SEED, 3, s.index]))
        Image.fromarray(np.round(img).astype(np.uint8)).save(out / "images" / s.file_name, "JPEG", quality=JPEG_QUALITY)
        feats.append(_embedding_features(img, s))
    categories = [
        {"id": i + 1, "name": c, "supercategory": "vehicle" if i < 2 else "court"} for i, c in enumerate(CLASSES)
    ]
    info = {"description": "labeltui demo: synthetic parking lots (seeded)", "version": "1.0"}
    write_text(out / "annotations" / "val.json",
               dumps_rows({"info": info}, {"categories": categories, "images": images, "annotations": gts}))
    write_text(out / "predictions.json", dumps_list(preds))
    np.save(out / "embeddings.npy", _embeddings(np.array(feats)))
    write_text(out / "embedding_ids.txt", "".join(f"{s.data_row_id}\n" for s in scenes))
    write_planted(out, "detection", SEED, mistakes, noise)
    write_text(out / CONFIG_FILE, RUN_YAML)
    return out / CONFIG_FILE
