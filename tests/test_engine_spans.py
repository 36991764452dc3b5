"""NER span matching: seqeval agreement, issue typing, calibration, bad input."""

from __future__ import annotations

import random
import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from seqeval.metrics import precision_score, recall_score
from seqeval.scheme import IOB2, Entities

from labeltui.config import Matching, Scoring
from labeltui.engine.spans import exact_pairs, match_spans, overlap_pairs
from labeltui.formats.base import make_annotations, make_rows
from labeltui.run import build_run

TYPES = ["PER", "LOC", "ORG", "MISC"]
COLUMNS = ["outcome", "partner", "iou", "best_partner", "best_iou", "issue", "suspicion"]


@pytest.fixture(autouse=True)
def _no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def strict_iob2_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, first token, end token) entities of an IOB2 sequence, strictly:
    an entity starts at B-X and continues over I-X of the same type only."""
    out, cur = [], None
    for i, tag in enumerate(tags + ["O"]):
        prefix, _, typ = tag.partition("-")
        if cur is not None and prefix == "I" and typ == cur[0]:
            continue
        if cur is not None:
            out.append((cur[0], cur[1], i))
            cur = None
        if prefix == "B":
            cur = (typ, i)
    return out


def char_spans(tokens: list[str], tags: list[str]) -> list[tuple[int, int, str]]:
    """Char spans of the strict entities, tokens joined with single spaces."""
    starts = np.cumsum([0] + [len(t) + 1 for t in tokens[:-1]])
    return [(int(starts[a]), int(starts[b - 1] + len(tokens[b - 1])), typ) for typ, a, b in strict_iob2_spans(tags)]


def random_tags(rng: random.Random, n: int) -> list[str]:
    tags, prev = [], "O"
    for _ in range(n):
        r = rng.random()
        if r < 0.45:
            tag = "O"
        elif r < 0.7:
            tag = "B-" + rng.choice(TYPES)
        elif r < 0.9 and prev != "O":
            tag = "I-" + prev.split("-")[1]
        else:
            tag = "I-" + rng.choice(TYPES)  # often invalid: strict mode must drop it
        tags.append(tag)
        prev = tag
    return tags


def mutate(rng: random.Random, tags: list[str]) -> list[str]:
    out = list(tags)
    for i in range(len(out)):
        if rng.random() < 0.2:
            out[i] = rng.choice(["O", "B-" + rng.choice(TYPES), "I-" + rng.choice(TYPES)])
    return out


def make_run(texts: dict[str, str], gt: list[tuple], pred: list[tuple]):
    """gt: (row id, start, end, type); pred: (row id, start, end, type, confidence)."""
    ids = list(texts)
    rows = make_rows(ids, [None] * len(ids), [texts[i] for i in ids], [np.nan] * len(ids), [np.nan] * len(ids))
    g = make_annotations(
        source="gt", data_row_id=[x[0] for x in gt], label=[x[3] for x in gt],
        start=[x[1] for x in gt], end=[x[2] for x in gt],
    )
    p = make_annotations(
        source="pred", data_row_id=[x[0] for x in pred], label=[x[3] for x in pred],
        start=[x[1] for x in pred], end=[x[2] for x in pred], confidence=[x[4] for x in pred],
    )
    return build_run("t", "ner", rows, pd.concat([g, p], ignore_index=True), classes=TYPES)


def row_counts(run, out) -> np.ndarray:
    row = run.annotations["row"].to_numpy()
    is_pred = (run.annotations["source"] == "pred").to_numpy()
    oc = out["outcome"].to_numpy()
    n = run.n_rows
    return np.stack(
        [
            np.bincount(row[is_pred & (oc == "tp")], minlength=n),
            np.bincount(row[oc == "fp"], minlength=n),
            np.bincount(row[oc == "fn"], minlength=n),
        ],
        axis=1,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_matching_agrees_with_seqeval_strict(seed):
    rng = random.Random(seed)
    texts, gt, pred, y_true, y_pred = {}, [], [], [], []
    for s in range(600):
        n = rng.randint(1, 14)
        tokens = ["".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 6))) for _ in range(n)]
        gold = random_tags(rng, n)
        guess = mutate(rng, gold) if rng.random() < 0.8 else random_tags(rng, n)
        rid = f"s{s}"
        texts[rid] = " ".join(tokens)
        gt += [(rid, a, b, t) for a, b, t in char_spans(tokens, gold)]
        pred += [(rid, a, b, t, rng.choice([np.nan, rng.uniform(0.5, 1.0)])) for a, b, t in char_spans(tokens, guess)]
        y_true.append(gold)
        y_pred.append(guess)
    run = make_run(texts, gt, pred)
    out = match_spans(run, Matching(), Scoring())
    assert list(out.columns) == COLUMNS and len(out) == len(run.annotations)

    true_ents = [{e.to_tuple() for e in s} for s in Entities(y_true, IOB2, suffix=False).entities]
    pred_ents = [{e.to_tuple() for e in s} for s in Entities(y_pred, IOB2, suffix=False).entities]
    expected = np.array([[len(p & t), len(p - t), len(t - p)] for t, p in zip(true_ents, pred_ents)])
    got = row_counts(run, out)
    np.testing.assert_array_equal(got, expected)
    tp, fp, fn = got.sum(axis=0)
    assert tp > 200 and fp > 50 and fn > 50  # the random data exercises all three
    assert tp / (tp + fp) == pytest.approx(precision_score(y_true, y_pred, mode="strict", scheme=IOB2))
    assert tp / (tp + fn) == pytest.approx(recall_score(y_true, y_pred, mode="strict", scheme=IOB2))

    ann = run.annotations
    tps = np.flatnonzero(out["outcome"].to_numpy() == "tp")
    partner = out["partner"].to_numpy()[tps]
    assert (partner >= 0).all() and (out["partner"].to_numpy()[partner] == tps).all()
    for col in ("row", "start", "end", "label"):
        assert (ann[col].to_numpy()[tps] == ann[col].to_numpy()[partner]).all()
    assert (out["iou"].to_numpy()[tps] == 1.0).all()
    assert out["iou"][out["outcome"] != "tp"].isna().all()


TEXT = "John Smith flew from New York to Paris with Acme Corp on Monday ."


def at(phrase: str) -> tuple[int, int]:
    i = TEXT.index(phrase)
    return i, i + len(phrase)


def one_sentence(gt: list[tuple[str, str]], pred: list[tuple[str, str, float]], scoring=Scoring()):
    run = make_run(
        {"s": TEXT},
        [("s", *at(ph), t) for ph, t in gt],
        [("s", *at(ph), t, c) for ph, t, c in pred],
    )
    out = match_spans(run, Matching(), scoring)
    ann = run.annotations
    key = [f"{s}:{TEXT[a:b]}:{t}" for s, a, b, t in zip(ann["source"], ann["start"], ann["end"], ann["label"])]
    return out.set_axis(key), key


def test_issue_types_on_hand_made_cases():
    out, key = one_sentence(
        gt=[("York", "LOC"), ("Paris", "ORG"), ("Acme Corp", "ORG"), ("Monday", "MISC")],
        pred=[("John Smith", "PER", 0.97), ("New York", "LOC", 0.9), ("Paris", "LOC", 0.95), ("Acme Corp", "ORG", 0.9)],
    )
    issue = out["issue"]
    assert issue["pred:John Smith:PER"] == "missing_entity"  # an unannotated name
    assert issue["pred:Paris:LOC"] == "wrong_type"  # LOC annotated as ORG
    assert issue["pred:New York:LOC"] == "boundary"  # "New York" vs "York"
    assert issue["gt:Monday:MISC"] == "spurious_entity"  # annotated, nothing predicted
    # the disagreement is carried once: GT spans the model overlaps have no issue of their own
    assert issue["gt:York:LOC"] == "" and issue["gt:Paris:ORG"] == ""
    assert issue["gt:Acme Corp:ORG"] == "" and issue["pred:Acme Corp:ORG"] == ""
    assert out.loc["pred:Acme Corp:ORG", "outcome"] == "tp"
    assert out.loc["gt:York:LOC", "outcome"] == "fn" and out.loc["pred:New York:LOC", "outcome"] == "fp"
    # partners point at the object the preview should show
    pos = {k: i for i, k in enumerate(key)}
    assert out.loc["pred:Paris:LOC", "best_partner"] == pos["gt:Paris:ORG"]
    assert out.loc["pred:Paris:LOC", "best_iou"] == 1.0
    assert out.loc["pred:New York:LOC", "best_partner"] == pos["gt:York:LOC"]
    assert out.loc["pred:New York:LOC", "best_iou"] == pytest.approx(4 / 8)
    assert out.loc["pred:John Smith:PER", "best_partner"] == -1 and out.loc["pred:John Smith:PER", "best_iou"] == 0.0
    assert out.loc["gt:Monday:MISC", "best_partner"] == -1
    flagged = issue != ""
    assert ((out["suspicion"] > 0) == flagged).all()
    assert out["suspicion"].between(0, 1).all()


def test_weak_overlap_of_another_type_is_boundary_and_threshold_is_a_setting():
    gt = [("New York", "LOC")]
    pred = [("York", "ORG", 0.9)]  # char IoU 4/8
    out, _ = one_sentence(gt, pred, Scoring(span_type_iou=0.5))
    assert out.loc["pred:York:ORG", "issue"] == "wrong_type"
    out, _ = one_sentence(gt, pred, Scoring(span_type_iou=0.6))
    assert out.loc["pred:York:ORG", "issue"] == "boundary"


def test_low_confidence_predictions_support_but_do_not_count():
    gt = [("Paris", "LOC"), ("Monday", "MISC")]
    pred = [("Paris", "LOC", 0.3), ("Monday", "MISC", 0.05), ("John Smith", "PER", 0.2)]
    out, _ = one_sentence(gt, pred)  # threshold 0.5, low_confidence 0.1
    assert out.loc["pred:Paris:LOC", "outcome"] == "low" and out.loc["gt:Paris:LOC", "outcome"] == "fn"
    assert out.loc["gt:Paris:LOC", "issue"] == ""  # supported by a low-confidence prediction
    assert out.loc["gt:Monday:MISC", "issue"] == "spurious_entity"  # 0.05 is below low_confidence
    assert out.loc["pred:John Smith:PER", "issue"] == ""  # unconfident, so not a missing entity
    assert (out["outcome"] != "fp").all()
    out, _ = one_sentence(gt, pred, Scoring(low_confidence=0.01))
    assert out.loc["gt:Monday:MISC", "issue"] == ""


def test_suspicion_weighs_the_alternative_against_the_models_support_for_the_label():
    # 200 sentences the model gets right at 0.9; in the last one it also predicts
    # "York" inside the annotated "New York", and its confidence in "New York" varies
    texts = {f"s{i}": TEXT for i in range(201)}
    gt = [(f"s{i}", *at("New York"), "LOC") for i in range(201)]
    base = [(f"s{i}", *at("New York"), "LOC", 0.9) for i in range(200)]

    def boundary(label_conf):
        pred = base + [("s200", *at("New York"), "LOC", label_conf), ("s200", *at("York"), "LOC", 0.9)]
        run = make_run(texts, gt, pred)
        out = match_spans(run, Matching(), Scoring())
        york = len(run.annotations) - 1
        assert run.annotations.loc[york, "start"] == at("York")[0] and out.loc[york, "issue"] == "boundary"
        return out.loc[york, "suspicion"]

    assert boundary(0.55) > boundary(0.75) > boundary(0.95) > 0

    def spurious(support):
        # "Monday" annotated; the model's only prediction of it is far below low_confidence
        out, _ = one_sentence(
            [("Paris", "LOC"), ("Monday", "MISC")], [("Paris", "LOC", 0.9), ("Monday", "MISC", support)]
        )
        assert out.loc["gt:Monday:MISC", "issue"] == "spurious_entity"
        return out.loc["gt:Monday:MISC", "suspicion"]

    assert spurious(0.001) > spurious(0.05) > 0


def test_duplicates_match_one_to_one():
    out, _ = one_sentence(
        [("Paris", "LOC"), ("Paris", "LOC"), ("Monday", "MISC")],
        [("Paris", "LOC", 0.9), ("Monday", "MISC", 0.9), ("Monday", "MISC", 0.8)],
    )
    assert sorted(out["outcome"]) == ["fn", "fp", "tp", "tp", "tp", "tp"]


def synthetic_run(seed: int, n_sent: int, planted: int):
    """Sentences of four two-letter-word entities: PER/LOC the model gets right,
    MISC it is weak on (boundary slips, extra spans, lower confidence). A few
    PER names are left unannotated (the label mistakes). Returns (run, planted rows)."""
    rng = np.random.default_rng(seed)
    texts, gt, pred = {}, [], []
    mistakes = set(rng.choice(n_sent, planted, replace=False).tolist())
    for s in range(n_sent):
        rid = f"s{s}"
        texts[rid] = "aa bb cc dd ee ff gg hh ii jj kk ll"
        for slot, typ in enumerate(["PER", "LOC", "MISC", "ORG"]):
            a = slot * 9
            if typ == "ORG":  # only the model sees these
                if rng.random() < 0.05:
                    pred.append((rid, a, a + 2, "ORG", rng.uniform(0.5, 0.7)))
                continue
            if not (typ == "PER" and s in mistakes):
                gt.append((rid, a, a + 5, typ))
            if typ == "MISC":
                r = rng.random()
                conf = rng.uniform(0.5, 0.9)
                if r < 0.25:
                    pred.append((rid, a, a + 8, typ, conf))  # boundary slip
                elif r < 0.4:
                    pred.append((rid, a + 6, a + 8, typ, conf))  # spurious extra span
                    pred.append((rid, a, a + 5, typ, conf))
                elif r < 0.5:
                    pass  # missed: spurious_entity on a weak type
                else:
                    pred.append((rid, a, a + 5, typ, conf))
            else:
                pred.append((rid, a, a + 5, typ, rng.uniform(0.85, 1.0)))
    return make_run(texts, gt, pred), sorted(mistakes)


def test_weak_type_does_not_flood_the_list():
    run, mistakes = synthetic_run(0, 2000, planted=20)
    out = match_spans(run, Matching(), Scoring())
    row = run.annotations["row"].to_numpy()
    row_score = np.zeros(run.n_rows)
    np.maximum.at(row_score, row, out["suspicion"].to_numpy())
    top = np.argsort(-row_score, kind="stable")[: len(mistakes)]
    assert sorted(top.tolist()) == mistakes
    is_per = (run.annotations["label"] == "PER").to_numpy()
    planted = out[(out["issue"] == "missing_entity") & np.isin(row, mistakes) & is_per]
    assert len(planted) == len(mistakes)
    misc_noise = out[(run.annotations["label"] == "MISC").to_numpy() & (out["issue"] != "")]
    assert len(misc_noise) > 300  # the weak type produces many disagreements...
    assert planted["suspicion"].min() > misc_noise["suspicion"].max()  # ...that rank below the mistakes
    assert misc_noise["suspicion"].median() < 0.5 < planted["suspicion"].median()
    # confidence alone would not separate them: the weak type's slips are as confident
    conf = run.annotations["confidence"]
    assert conf[misc_noise.index].max() > conf[planted.index].min()


def test_bad_input_gives_defined_results():
    empty = make_run({"a": "x y"}, [], [])
    out = match_spans(empty, Matching(), Scoring())
    assert list(out.columns) == COLUMNS and len(out) == 0

    only_gt = make_run({"a": "Paris", "b": "x"}, [("a", 0, 5, "LOC")], [])
    out = match_spans(only_gt, Matching(), Scoring())
    assert out["outcome"].tolist() == ["fn"] and out["issue"].tolist() == ["spurious_entity"]
    assert 0 < out["suspicion"].iloc[0] <= 1

    only_pred = make_run({"a": "Paris"}, [], [("a", 0, 5, "LOC", np.nan)])
    out = match_spans(only_pred, Matching(), Scoring())
    assert out["outcome"].tolist() == ["fp"] and out["issue"].tolist() == ["missing_entity"]
    assert 0 < out["suspicion"].iloc[0] < 0.5  # one disagreement, nothing to trust the model on

    degenerate = make_run(
        {"a": "Paris x"},
        [("a", 2, 2, "LOC"), ("a", 0, 5, "LOC")],
        [("a", 2, 2, "LOC", np.nan), ("a", 3, 1, "PER", 0.9), ("a", 0, 5, "LOC", 0.0)],
    )
    out = match_spans(degenerate, Matching(confidence_threshold=0.0), Scoring())
    assert out["suspicion"].between(0, 1).all() and np.isfinite(out["suspicion"]).all()
    assert out["outcome"].tolist() == ["tp", "tp", "tp", "fp", "tp"]

    unknown_class = build_run(
        "t", "ner", make_rows(["a"], [None], ["Paris"], [np.nan], [np.nan]),
        pd.concat([
            make_annotations(source="gt", data_row_id=["a"], label=["X"], start=[0], end=[5]),
            make_annotations(source="pred", data_row_id=["a"], label=["LOC"], start=[0], end=[5], confidence=[0.9]),
        ]),
        classes=["LOC"],
    )
    out = match_spans(unknown_class, Matching(), Scoring())
    assert out["issue"].tolist() == ["", "wrong_type"]


def test_pairing_helpers_agree_with_brute_force_even_with_huge_offsets():
    rng = np.random.default_rng(3)
    n = 400
    row = rng.integers(0, 10, n)
    cls = rng.integers(0, 2, n)
    gt, pred = np.arange(0, n, 2), np.arange(1, n, 2)
    base = rng.integers(0, 12, n)
    length = rng.integers(1, 4, n)
    far = rng.integers(0, 2, n).astype(bool)  # half the spans 2**60 characters on: no packed keys fit
    for start in (base, base + far * np.int64(2**60)):
        end = start + length
        brute = {
            (int(g), int(p))
            for g in gt for p in pred
            if row[g] == row[p] and min(end[g], end[p]) > max(start[g], start[p])
        }
        g, p, iou = overlap_pairs(row, start, end, gt, pred)
        assert set(zip(g.tolist(), p.tolist())) == brute and len(g) == len(brute) > 50
        inter = np.minimum(end[g], end[p]) - np.maximum(start[g], start[p])
        np.testing.assert_allclose(iou, inter / (end[g] - start[g] + end[p] - start[p] - inter))
        g, p = exact_pairs(row, start, end, cls, gt, pred)
        same = {(a, b) for a, b in brute if (start[a], end[a], cls[a]) == (start[b], end[b], cls[b])}
        assert set(zip(g.tolist(), p.tolist())) <= same
        assert len(set(g.tolist())) == len(set(p.tolist())) == len(g)  # one to one
        key = lambda i: (row[i], start[i], end[i], cls[i])  # noqa: E731
        kg, kp = Counter(map(key, gt)), Counter(map(key, pred))
        assert len(g) == sum(min(c, kp[k]) for k, c in kg.items())  # as many as possible
        assert max(kg.values()) > 1 and max(kp.values()) > 1 and len(g) > 10  # duplicates were exercised
