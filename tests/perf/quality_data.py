"""Seeded model runs with known injected label mistakes, for the quality benchmark.

Each generator simulates a dataset, a model that is imperfect in the ways real
models are (weak classes, small objects, hard rows, class confusions, a badly
calibrated class, confident false positives on things nobody should label),
and only then corrupts the ground truth of a share of the rows. The model's
outputs always describe the *true* data, so the corrupted rows are exactly the
label mistakes; every other disagreement is model noise.

* ``detection_case``: boxes of six classes. Mistakes: ``missing_label`` (a box
  dropped), ``wrong_class`` (a class swapped, half to a look-alike class),
  ``bad_location`` (a box shifted to IoU 0.18-0.43 with the object),
  ``spurious_label`` (a box added on background).
* ``ner_case``: sentences with PER/LOC/ORG/MISC entities and a token-level
  model (softmax per token, spans decoded from the argmax). Mistakes:
  ``missing_entity``, ``wrong_type``, ``boundary`` (one token added or cut at an
  edge), ``spurious_entity``.
* ``classification_case``: ten classes with look-alike pairs, one class the
  model is systematically under-confident about; 5% of labels flipped, half to
  the look-alike class (``wrong_label (look-alike)``), half to any other class
  (``wrong_label (random)``).

Each returns a :class:`Case`: the in-memory ModelRun plus the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from labeltui.formats.base import empty_annotations, make_annotations, make_rows
from labeltui.run import ModelRun, build_run


@dataclass
class Case:
    """A generated run and its truth.

    ``mistake`` holds per row the injected mistake type, "" for a clean row;
    ``extra`` holds task-specific inputs for other tools (NER: per-sentence
    given token tags ``token_labels`` and the model's softmax ``token_probs``,
    ``token_classes``, and ``token_bounds``: (start, end) char offsets per token).
    """

    run: ModelRun
    mistake: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def truth(self) -> np.ndarray:
        return self.mistake != ""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _corrupt_rows(rng: np.random.Generator, n_rows: int, rate: float, kinds: tuple[str, ...], apply) -> np.ndarray:
    """Give ``rate`` of the rows one mistake each, the kinds in equal shares.

    Mistakes are placed in turn (kinds shuffled); each goes to the next unused
    row, in a random order, where ``apply(row, kind index)`` succeeds (it
    returns False when the row cannot take that kind, e.g. nothing to drop).
    Returns the mistake kind per row ("" clean).
    """
    n = int(round(rate * n_rows))
    todo = rng.permutation(np.arange(n) % len(kinds))
    mistake = np.full(n_rows, "", dtype=object)
    for kind in todo:
        for row in rng.permutation(n_rows):
            if mistake[row] == "" and apply(int(row), int(kind)):
                mistake[row] = kinds[kind]
                break
    return mistake


# --------------------------------------------------------------------------- detection

DET_CLASSES = ("bicycle", "car", "dog", "person", "sign", "truck")
DET_W, DET_H = 640.0, 480.0
#: per class: frequency, median size (sqrt of area, px), aspect w/h,
#: recall logit at size 40, confidence logit at size 40
_DET_PROPS = np.array(
    [
        [0.10, 50, 1.4, 1.0, 1.0],  # bicycle
        [0.35, 60, 1.6, 2.5, 2.2],  # car
        [0.06, 55, 1.3, 1.5, 1.6],  # dog
        [0.25, 45, 0.45, 2.0, 2.0],  # person
        [0.14, 22, 1.0, 1.0, 1.2],  # sign: small, often missed
        [0.10, 110, 1.8, 2.2, 2.0],  # truck
    ]
)
_BICYCLE, _CAR, _DOG, _PERSON, _SIGN, _TRUCK = range(6)
#: the model's class confusions (true -> predicted, probability); plus 2% uniform
_DET_CONFUSION = {(_CAR, _TRUCK): 0.12, (_TRUCK, _CAR): 0.06, (_BICYCLE, _PERSON): 0.05,
                  (_PERSON, _BICYCLE): 0.02, (_DOG, _PERSON): 0.05}
#: look-alike class an annotator swaps to
_DET_LOOKALIKE = np.array([_PERSON, _TRUCK, _PERSON, _BICYCLE, _PERSON, _CAR])
DET_MISTAKES = ("missing_label", "wrong_class", "bad_location", "spurious_label")


def _det_boxes(rng, n, cls, scale=None):
    """Random boxes (x0, y0, x1, y1) of classes ``cls`` inside the image."""
    props = _DET_PROPS[cls]
    size = np.clip(props[:, 1] * np.exp(rng.normal(0.0, 0.6, n)) if scale is None else scale, 8.0, 300.0)
    aspect = props[:, 2] * np.exp(rng.normal(0.0, 0.2, n))
    w = np.minimum(size * np.sqrt(aspect), DET_W - 2)
    h = np.minimum(size / np.sqrt(aspect), DET_H - 2)
    x0 = rng.uniform(0.0, 1.0, n) * (DET_W - w)
    y0 = rng.uniform(0.0, 1.0, n) * (DET_H - h)
    return np.stack([x0, y0, x0 + w, y0 + h], axis=1)


def _jitter(rng, boxes, rel_sd):
    """Each edge moved by N(0, rel_sd * side), clipped to the image, kept >= 2 px."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    d = rng.normal(0.0, 1.0, boxes.shape) * (rel_sd[:, None] * np.stack([w, h, w, h], axis=1))
    out = boxes + d
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0.0, DET_W)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0.0, DET_H)
    out[:, 2] = np.maximum(out[:, 2], out[:, 0] + 2.0)
    out[:, 3] = np.maximum(out[:, 3], out[:, 1] + 2.0)
    return out


def _iou_one(box, boxes):
    """IoU of one box with each of ``boxes``."""
    if not len(boxes):
        return np.zeros(0)
    iw = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + areas - inter)


def _shift_box(rng, box):
    """``box`` moved (along x, y or both) to an IoU of 0.15-0.45 with itself, inside the image."""
    w, h = box[2] - box[0], box[3] - box[1]
    r = rng.uniform(0.15, 0.45)
    mode = rng.integers(0, 3)
    if mode < 2:
        f = np.array([(1 - r) / (1 + r), 0.0])[[mode, 1 - mode]]
    else:
        f = np.full(2, 1.0 - np.sqrt(2 * r / (1 + r)))
    d = f * np.array([w, h])
    room_lo = np.array([box[0], box[1]])
    room_hi = np.array([DET_W - box[2], DET_H - box[3]])
    sign = np.where(rng.random(2) < 0.5, -1.0, 1.0)
    sign = np.where((sign < 0) & (room_lo < d), 1.0, np.where((sign > 0) & (room_hi < d), -1.0, sign))
    d = np.clip(sign * d, -room_lo, room_hi)
    return box + np.r_[d, d]


def detection_case(n_images: int = 2000, seed: int = 0, mistake_rate: float = 0.1) -> Case:
    """A detection run with ``mistake_rate`` of its images carrying one label mistake."""
    rng = np.random.default_rng(seed)
    k = len(DET_CLASSES)
    n_obj = rng.poisson(3.5, n_images)
    img = np.repeat(np.arange(n_images), n_obj)
    m = len(img)
    cls = rng.choice(k, size=m, p=_DET_PROPS[:, 0] / _DET_PROPS[:, 0].sum())
    gt = _det_boxes(rng, m, cls)
    size = np.sqrt((gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1]))
    log_size = np.log(size / 40.0)
    hard = rng.random(n_images) < 0.15  # night / blur: the model is weak on the whole image
    hard_obj = hard[img]

    # the model on every true object
    p_det = _sigmoid(_DET_PROPS[cls, 3] + 1.6 * log_size - 2.5 * hard_obj)
    detected = rng.random(m) < p_det
    pred_cls = cls.copy()
    u = rng.random(m)
    acc = np.zeros(m)
    for (a, b), p in _DET_CONFUSION.items():
        hit = (cls == a) & (u >= acc) & (u < acc + p)
        pred_cls[hit] = b
        acc = np.where(cls == a, acc + p, acc)
    uniform = rng.random(m) < 0.02
    pred_cls[uniform] = (cls[uniform] + rng.integers(1, k, uniform.sum())) % k
    confused = pred_cls != cls
    conf = _sigmoid(_DET_PROPS[cls, 4] + 0.8 * log_size - 1.2 * hard_obj + rng.normal(0.0, 0.9, m))
    # the badly calibrated class: "truck" predictions are confident whether right or not
    conf = np.where(confused & (pred_cls == _TRUCK), _sigmoid(2.0 + rng.normal(0.0, 0.7, m)), conf)
    conf = np.where(confused & (pred_cls != _TRUCK), _sigmoid(0.3 + rng.normal(0.0, 1.0, m)), conf)
    rel_sd = 0.04 + 0.5 / np.sqrt(size)
    rel_sd = np.where(rng.random(m) < 0.05, 0.3, rel_sd)  # the model's own loose boxes
    pboxes = _jitter(rng, gt, rel_sd)
    parts = [(img[detected], pred_cls[detected], pboxes[detected], conf[detected])]
    dup = detected & (rng.random(m) < 0.08)  # NMS leftovers
    dup_conf = conf[dup] * rng.uniform(0.2, 0.7, dup.sum())
    parts.append((img[dup], pred_cls[dup], _jitter(rng, gt[dup], 2 * rel_sd[dup]), dup_conf))
    weak = ~detected & (rng.random(m) < 0.5)  # missed objects often still get a faint box
    weak_conf = rng.uniform(0.02, 0.35, weak.sum())
    parts.append((img[weak], cls[weak], _jitter(rng, gt[weak], 1.5 * rel_sd[weak]), weak_conf))
    # confident false positives on background (not label mistakes), trucks most of all
    n_bg = rng.poisson(0.3, n_images)
    bg_img = np.repeat(np.arange(n_images), n_bg)
    bg_cls = rng.choice(k, size=len(bg_img), p=[0.11, 0.11, 0.11, 0.11, 0.11, 0.45])
    bg_conf = np.where(bg_cls == _TRUCK, _sigmoid(1.5 + rng.normal(0.0, 0.8, len(bg_img))),
                       _sigmoid(-0.5 + rng.normal(0.0, 1.0, len(bg_img))))
    parts.append((bg_img, bg_cls, _det_boxes(rng, len(bg_img), bg_cls), bg_conf))
    n_cl = rng.poisson(3.0, n_images)  # low-confidence clutter
    cl_img = np.repeat(np.arange(n_images), n_cl)
    cl_cls = rng.integers(0, k, len(cl_img))
    parts.append((cl_img, cl_cls, _det_boxes(rng, len(cl_img), cl_cls), rng.uniform(0.01, 0.3, len(cl_img))))
    p_img, p_cls, p_box, p_conf = (np.concatenate(x) for x in zip(*parts))

    # corrupt the ground truth
    keep = np.ones(m, bool)
    g_cls, g_box = cls.copy(), gt.copy()
    add_img, add_cls, add_box = [], [], []
    first = np.searchsorted(img, np.arange(n_images))

    def apply(i: int, kind: int) -> bool:
        objs = np.arange(first[i], first[i] + n_obj[i])
        if kind == 3:
            c = rng.integers(0, k)
            for _ in range(50):
                box = _det_boxes(rng, 1, np.array([c]))[0]
                if not len(objs) or _iou_one(box, gt[objs]).max() < 0.05:
                    break
            add_img.append(i), add_cls.append(c), add_box.append(box)
            return True
        if not len(objs):
            return False
        j = rng.choice(objs)
        if kind == 0:
            keep[j] = False
        elif kind == 1:
            g_cls[j] = _DET_LOOKALIKE[cls[j]] if rng.random() < 0.5 else (cls[j] + rng.integers(1, k)) % k
        else:
            moved = _shift_box(rng, gt[j])
            if _iou_one(moved, gt[j][None])[0] >= 0.5:  # a box as wide as the image cannot move far
                return False
            g_box[j] = moved
        return True

    mistake = _corrupt_rows(rng, n_images, mistake_rate, DET_MISTAKES, apply)
    g_img = np.concatenate([img[keep], np.asarray(add_img, np.int64)])
    g_cls = np.concatenate([g_cls[keep], np.asarray(add_cls, np.int64)])
    g_box = np.concatenate([g_box[keep], np.asarray(add_box).reshape(-1, 4)])

    ids = np.array([f"img-{i:06d}" for i in range(n_images)], dtype=object)
    names = np.array(DET_CLASSES, dtype=object)
    rows = make_rows(ids, ids, [f"{i}.jpg" for i in ids], np.full(n_images, DET_W), np.full(n_images, DET_H))
    ann = pd.concat(
        [
            make_annotations(source="gt", data_row_id=ids[g_img], label=names[g_cls], x0=g_box[:, 0],
                             y0=g_box[:, 1], x1=g_box[:, 2], y1=g_box[:, 3]),
            make_annotations(source="pred", data_row_id=ids[p_img], label=names[p_cls], x0=p_box[:, 0],
                             y0=p_box[:, 1], x1=p_box[:, 2], y1=p_box[:, 3], confidence=p_conf),
        ],
        ignore_index=True,
    )
    run = build_run(f"quality-detection-{seed}", "detection", rows, ann, classes=list(DET_CLASSES))
    return Case(run=run, mistake=mistake)


# --------------------------------------------------------------------------- NER

NER_TYPES = ("LOC", "MISC", "ORG", "PER")
#: token classes: 0 = outside, then the types
_NER_FREQ = np.array([0.30, 0.15, 0.25, 0.30])
_NER_LEN = {0: [0.7, 0.3], 1: [0.5, 0.3, 0.2], 2: [0.3, 0.35, 0.2, 0.15], 3: [0.3, 0.5, 0.2]}
#: the model's skill: logit bonus of the right token class (MISC is the weak type)
_NER_SKILL = np.array([4.0, 3.0, 1.2, 2.5, 3.5])
#: confusions: (true class, other class, logit bonus of the other class)
_NER_CONFUSION = ((3, 1, 1.5), (1, 3, 0.8), (2, 3, 1.0), (2, 4, 0.5))
#: types of the model's hallucinations on entity-like words nobody should tag
_NER_HALLUCINATION = np.array([0.1, 0.5, 0.2, 0.2])
NER_MISTAKES = ("missing_entity", "wrong_type", "boundary", "spurious_entity")


def _ner_sentences(rng, n):
    """Per sentence: token count and entities [(first token, end token, type)]
    with at least one outside token between entities."""
    lengths = rng.integers(6, 31, n)
    pos0 = rng.integers(0, 4, n)
    counts = rng.poisson(1.8, n)
    m = int(counts.sum())
    types = rng.choice(4, size=m, p=_NER_FREQ)
    u = rng.random(m)
    span = np.ones(m, np.int64)
    for t, p in _NER_LEN.items():
        span[types == t] = np.searchsorted(np.cumsum(p)[:-1], u[types == t], side="right") + 1
    gaps = rng.integers(1, 7, m)
    out, j = [], 0
    for length, pos, c in zip(lengths.tolist(), pos0.tolist(), counts.tolist()):
        ents = []
        for t, sp, gap in zip(types[j:j + c].tolist(), span[j:j + c].tolist(), gaps[j:j + c].tolist()):
            if pos + sp > length:
                break
            ents.append((pos, pos + sp, t))
            pos += sp + gap
        j += c
        out.append((length, ents))
    return out


def _ner_corrupt(rng, length, ents, kind):
    """Apply one mistake of ``kind`` (index into NER_MISTAKES); None when impossible here."""
    ents = list(ents)
    tags = np.zeros(length + 2, np.int64)  # padded: tags[i + 1] is token i
    for a, b, t in ents:
        tags[a + 1:b + 1] = t + 1
    if kind == 3:
        free = [i for i in range(length) if not tags[i:i + 3].any()]  # an O token with O neighbours
        if not free:
            return None
        a = int(rng.choice(free))
        b = a + 1 + int(a + 1 < length and not tags[a + 2:a + 4].any() and rng.random() < 0.4)
        ents.append((a, b, int(rng.integers(0, 4))))
        return sorted(ents)
    if not ents:
        return None
    j = int(rng.integers(0, len(ents)))
    a, b, t = ents[j]
    if kind == 0:
        del ents[j]
    elif kind == 1:
        ents[j] = (a, b, (t + int(rng.integers(1, 4))) % 4)
    else:
        moves = []
        if b - a >= 2:
            moves += [(a + 1, b), (a, b - 1)]
        if a >= 1 and not tags[a - 1:a + 1].any():  # token a-1 and a-2 outside
            moves.append((a - 1, b))
        if b < length and not tags[b + 1:b + 3].any():  # token b and b+1 outside
            moves.append((a, b + 1))
        if not moves:
            return None
        na, nb = moves[int(rng.integers(0, len(moves)))]
        ents[j] = (na, nb, t)
    return ents


def ner_case(n_sentences: int = 3000, seed: int = 0, mistake_rate: float = 0.1) -> Case:
    """An NER run with ``mistake_rate`` of its sentences carrying one label mistake."""
    rng = np.random.default_rng(seed)
    sents = _ner_sentences(rng, n_sentences)
    lengths = np.array([s[0] for s in sents])
    sid = np.repeat(np.arange(n_sentences), lengths)
    first = np.cumsum(lengths) - lengths
    n_tok = int(lengths.sum())

    # true token classes, entity membership, edges
    true = np.zeros(n_tok, np.int64)
    effect = np.zeros(n_tok)
    edge = np.zeros(n_tok, bool)
    for s, (_, ents) in enumerate(sents):
        for a, b, t in ents:
            lo, hi = first[s] + a, first[s] + b
            true[lo:hi] = t + 1
            effect[lo:hi] = rng.normal(0.0, 0.8)  # one entity is easier than another, all its tokens alike
            if b - a >= 2:
                edge[[lo, hi - 1]] = True

    # the token model
    hard = (rng.random(n_sentences) < 0.15)[sid]
    is_ent = true > 0
    logits = rng.normal(0.0, 1.0, (n_tok, 5))
    bonus = _NER_SKILL[true] + effect - 0.8 * edge - np.where(is_ent, 2.0, 1.0) * hard
    logits[np.arange(n_tok), true] += bonus
    for a, b, v in _NER_CONFUSION:
        logits[true == a, b] += v * rng.random((true == a).sum())
    halluc = ~is_ent & (rng.random(n_tok) < 0.04)
    h_type = rng.choice(4, size=halluc.sum(), p=_NER_HALLUCINATION) + 1
    logits[np.flatnonzero(halluc), h_type] += 4.0 + rng.normal(0.0, 1.0, halluc.sum())
    probs = _softmax(logits)

    # predicted spans: runs of the same non-O argmax, confidence = mean probability of the type
    arg = probs.argmax(axis=1)
    starts_run = (arg > 0) & np.r_[True, (arg[1:] != arg[:-1]) | (sid[1:] != sid[:-1])]
    run_id = np.cumsum(starts_run) - 1
    in_span = arg > 0
    span_tok = np.flatnonzero(in_span)
    span_id = run_id[span_tok]
    n_spans = int(starts_run.sum())
    p_first = np.flatnonzero(starts_run)
    p_len = np.bincount(span_id, minlength=n_spans)
    p_conf = np.bincount(span_id, weights=probs[span_tok, arg[span_tok]], minlength=n_spans) / np.maximum(p_len, 1)
    p_sent = sid[p_first]
    p_a = p_first - first[p_sent]
    p_type = arg[p_first] - 1

    # text and character offsets: tokens joined by single spaces
    words = _ner_words(rng, lengths, is_ent | halluc)  # entity-like words look alike
    tok_len = np.array([len(w) for w in words])
    offset = np.cumsum(tok_len + 1) - (tok_len + 1)  # as if all sentences were one text
    tok_start = offset - offset[first][sid]
    tok_end = tok_start + tok_len
    edges = list(zip(first.tolist(), (first + lengths).tolist()))
    texts = [" ".join(words[lo:hi]) for lo, hi in edges]

    # corrupt the ground truth
    given = [list(e) for _, e in sents]

    def apply(s: int, kind: int) -> bool:
        new = _ner_corrupt(rng, lengths[s], given[s], kind)
        if new is None:
            return False
        given[s] = new
        return True

    mistake = _corrupt_rows(rng, n_sentences, mistake_rate, NER_MISTAKES, apply)

    g = [(s, a, b, t) for s in range(n_sentences) for a, b, t in given[s]]
    g_s, g_a, g_b, g_t = (np.array(x, np.int64) for x in zip(*g)) if g else (np.zeros(0, np.int64),) * 4
    ids = np.array([f"sent-{i:06d}" for i in range(n_sentences)], dtype=object)
    types = np.array(NER_TYPES, dtype=object)
    rows = make_rows(ids, ids, texts, np.full(n_sentences, np.nan), np.full(n_sentences, np.nan))
    p_b = p_a + p_len
    ann = pd.concat(
        [
            make_annotations(source="gt", data_row_id=ids[g_s], label=types[g_t],
                             start=tok_start[first[g_s] + g_a], end=tok_end[first[g_s] + g_b - 1]),
            make_annotations(source="pred", data_row_id=ids[p_sent], label=types[p_type],
                             start=tok_start[first[p_sent] + p_a], end=tok_end[first[p_sent] + p_b - 1],
                             confidence=p_conf),
        ],
        ignore_index=True,
    )
    run = build_run(f"quality-ner-{seed}", "ner", rows, ann, classes=list(NER_TYPES))
    given_tags = np.zeros(n_tok, np.int64)
    for s, a, b, t in g:
        given_tags[first[s] + a:first[s] + b] = t + 1
    bounds = np.stack([tok_start, tok_end], axis=1)
    extra = {
        "token_classes": ("O", *NER_TYPES),
        "token_labels": [given_tags[lo:hi].tolist() for lo, hi in edges],
        "token_probs": [probs[lo:hi] for lo, hi in edges],
        "token_bounds": [bounds[lo:hi] for lo, hi in edges],
    }
    return Case(run=run, mistake=mistake, extra=extra)


def _ner_words(rng, lengths, capital):
    """Random lowercase words, capitalised where ``capital``."""
    n = int(lengths.sum())
    wl = rng.integers(2, 9, n)
    chars = "".join(np.array(list("abcdefghijklmnopqrstuvwxyz"))[rng.integers(0, 26, int(wl.sum()))])
    ends = np.cumsum(wl).tolist()
    words = [chars[e - w:e] for e, w in zip(ends, wl.tolist())]
    return [w.capitalize() if e else w for w, e in zip(words, capital.tolist())]


# --------------------------------------------------------------------------- classification

CLS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
#: look-alike class of each class (model confusions and annotator slips alike)
_CLS_LOOKALIKE = np.array([8, 9, 0, 5, 7, 3, 2, 4, 0, 1])
_CAT = 3  # the class the model is systematically under-confident about
CLS_MISTAKES = ("wrong_label (look-alike)", "wrong_label (random)")


def classification_case(n_rows: int = 5000, seed: int = 0, mistake_rate: float = 0.05) -> Case:
    """A classification run with ``mistake_rate`` of its labels flipped."""
    rng = np.random.default_rng(seed)
    k = len(CLS_CLASSES)
    prior = rng.dirichlet(np.full(k, 8.0))
    true = rng.choice(k, size=n_rows, p=prior)
    logits = rng.normal(0.0, 1.0, (n_rows, k))
    skill = 3.0 + rng.normal(0.0, 0.8, n_rows) - 2.2 * (rng.random(n_rows) < 0.12)  # some rows are hard
    logits[np.arange(n_rows), true] += skill
    logits[np.arange(n_rows), _CLS_LOOKALIKE[true]] += rng.uniform(0.0, 2.0, n_rows)
    probs = _softmax(logits)
    probs[:, _CAT] *= 0.3  # under-confident about cats, for every row
    probs /= probs.sum(axis=1, keepdims=True)

    label = true.copy()
    chosen = np.sort(rng.choice(n_rows, size=int(round(mistake_rate * n_rows)), replace=False))
    lookalike = rng.permutation(np.arange(len(chosen)) % 2 == 0)
    label[chosen] = np.where(lookalike, _CLS_LOOKALIKE[true[chosen]],
                             (true[chosen] + rng.integers(1, k, len(chosen))) % k)
    mistake = np.full(n_rows, "", dtype=object)
    mistake[chosen] = np.where(lookalike, CLS_MISTAKES[0], CLS_MISTAKES[1])

    ids = np.array([f"row-{i:06d}" for i in range(n_rows)], dtype=object)
    rows = make_rows(ids, ids, [None] * n_rows, np.full(n_rows, np.nan), np.full(n_rows, np.nan))
    run = build_run(
        f"quality-classification-{seed}", "classification", rows, empty_annotations(), classes=list(CLS_CLASSES),
        gt_label=label.astype(np.int32), pred_label=probs.argmax(axis=1).astype(np.int32),
        pred_confidence=probs.max(axis=1), probs=probs,
    )
    return Case(run=run, mistake=mistake)


CASES = {"detection": detection_case, "ner": ner_case, "classification": classification_case}
