"""NER demo: templated news sentences with PER/ORG/LOC/MISC spans, as JSONL spans.

One file serves both sources: each line is ``{"id", "text", "topic", "labels":
[[start, end, type]], "predictions": [[start, end, type, confidence]]}`` with
character offsets, end exclusive. The "model" finds most entities with
confidences 0.75-0.99, is poorly calibrated on MISC (0.35-0.70, and some MISC
only at 0.12-0.30), and makes a few low-confidence slips (a wrong type or a
clipped span below 0.5, a capitalised word taken for a name). Four label
mistakes of each NER issue type are planted (see ``planted.json``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from labeltui.demo._common import CONFIG_FILE, r3, write_planted, write_text

SEED = 11
N_SENTENCES = 300
PLANT_TYPES = ("missing_entity", "wrong_type", "boundary", "spurious_entity")
PLANTS_PER_TYPE = 4

PER = (
    "Maria Santos", "Jonas Berg", "Aisha Okafor", "Tomasz Nowak", "Lena Fischer", "Ravi Menon", "Chen Wei",
    "Sofia Marquez", "Daniel Osei", "Hanna Lindqvist", "Kenji Sato", "Amara Diallo", "Pieter de Vries",
    "Olga Petrova", "Luis Ortega", "Fatima Haddad", "Noah Whitaker", "Ingrid Solberg", "Marco Bellini",
    "Yuki Tanaka", "Samuel Adeyemi", "Clara Dubois", "Arjun Rao", "Elena Kovac", "Tariq Mansour",
    "Grace Mwangi", "Felix Hartmann", "Nadia Rahman", "Oskar Lindgren", "Priya Nair",
)
ORG = (
    "Northwind Logistics", "Helix Biotech", "Bluefin Analytics", "Aster Bank", "Cobalt Motors", "Meridian Air",
    "Kestrel Foods", "Orion Telecom", "Vantage Capital", "Solstice Energy", "Granite Insurance", "Lumen Health",
    "Pinecrest University", "Redline Media", "Tidewater Shipping", "Copperleaf Studios", "Atlas Rail", "Quill Press",
)
LOC = (
    "Lisbon", "Hamburg", "Osaka", "Nairobi", "Oslo", "Porto", "Lyon", "Dublin", "Seville", "Gdansk", "Accra",
    "Perth", "New York", "San Francisco", "Rio de Janeiro", "Cape Town", "Buenos Aires", "Hong Kong",
    "Kuala Lumpur", "Tel Aviv", "Mexico City", "Lake Geneva",
)
EVENT = (
    "World Cup", "Olympic Games", "Nobel Prize", "Tour de France", "Eurovision", "Champions League",
    "Golden Globe", "Grand Prix", "Super Bowl", "Davis Cup",
)
NAT = ("Brazilian", "German", "Japanese", "Kenyan", "Norwegian", "Canadian", "Polish", "Italian", "Egyptian")
POOLS = {"PER": PER, "ORG": ORG, "LOC": LOC, "EVENT": EVENT, "NAT": NAT}
SLOT_TYPE = {"PER": "PER", "ORG": "ORG", "LOC": "LOC", "EVENT": "MISC", "NAT": "MISC"}

TEMPLATES = (
    ("business", "{PER} joined {ORG} as chief engineer last year."),
    ("business", "{ORG} will open a new office in {LOC} next spring."),
    ("sports", "{PER} won the {EVENT} after a tense final in {LOC}."),
    ("business", "Shares of {ORG} fell 4 percent on Tuesday, {PER} told reporters."),
    ("general", "The {NAT} delegation arrived in {LOC} on Monday."),
    ("business", "{PER} and {PER} met in {LOC} to discuss the merger with {ORG}."),
    ("general", "According to {ORG}, traffic in {LOC} rose sharply in March."),
    ("business", "{PER}, a spokesperson for {ORG}, declined to comment."),
    ("sports", "Tickets for the {EVENT} in {LOC} sold out within an hour."),
    ("business", "{ORG} signed a supply deal with {ORG} worth 40 million euros."),
    ("travel", "Heavy rain delayed flights between {LOC} and {LOC} on Friday."),
    ("sports", "The {NAT} coach praised {PER} after the match."),
    ("general", "{PER} grew up in {LOC} before moving to {LOC}."),
    ("business", "{ORG} appointed {PER} as its new chief executive."),
    ("sports", "Fans in {LOC} celebrated the {EVENT} victory late into the night."),
    ("business", "A {NAT} startup backed by {ORG} raised fresh funding this week."),
    ("business", "{PER} said the plant near {LOC} would hire 300 workers."),
    ("business", "Analysts at {ORG} expect housing prices in {LOC} to stabilise."),
    ("general", "The mayor of {LOC} thanked {PER} for the generous donation."),
    ("sports", "{PER} finished second at the {EVENT}, behind {PER}."),
    ("travel", "Engineers from {ORG} tested the new train outside {LOC}."),
    ("travel", "The annual report by {ORG} names {LOC} as the fastest growing port."),
    ("general", "{PER} will present the {NAT} pavilion at the fair in {LOC}."),
    ("general", "Police in {LOC} are looking for witnesses, {ORG} reported."),
    ("business", "{ORG} moved its headquarters from {LOC} to {LOC}."),
    ("sports", "{PER} has coached the {NAT} national team since 2019."),
    ("sports", "The {EVENT} returns to {LOC} for the first time in a decade."),
    ("business", "Profits at {ORG} doubled, helped by strong sales in {LOC}."),
    ("general", "{PER} thanked the staff of {ORG} in a short speech."),
    ("travel", "Volunteers cleaned the beaches of {LOC} ahead of the {EVENT}."),
    ("general", "The weather stayed mild for most of the week."),
    ("business", "Prices rose again in the second quarter, the survey showed."),
)
_SLOT = re.compile(r"\{(PER|ORG|LOC|EVENT|NAT)\}")
_WORD = re.compile(r"[a-z]{5,}")

RUN_YAML = """\
# labeltui demo: entities in news sentences (generated by `python -m labeltui.demo`).
# One JSONL file holds both the gold spans (labels) and the model's (predictions).
# Planted label mistakes are listed in planted.json and demo/README.md.
name: demo-news-entities
task: ner
ground_truth:
  format: jsonl
  path: sentences.jsonl
predictions:
  format: jsonl
  path: sentences.jsonl
matching:
  confidence_threshold: 0.5
review:
  store: labeltui-review.sqlite
export:
  dir: batches/
"""


def _fill(rng: np.random.Generator, template: str) -> tuple[str, list[list]]:
    """Fill a template; return the text and its true entity spans [start, end, type]."""
    out, spans, pos, used = [], [], 0, set()
    for m in _SLOT.finditer(template):
        out.append(template[pos : m.start()])
        pool = [v for v in POOLS[m.group(1)] if v not in used]
        value = pool[int(rng.integers(len(pool)))]
        used.add(value)
        start = sum(map(len, out))
        out.append(value)
        spans.append([start, start + len(value), SLOT_TYPE[m.group(1)]])
        pos = m.end()
    out.append(template[pos:])
    return "".join(out), spans


def _model(rng: np.random.Generator, text: str, spans: list[list]) -> tuple[list[list], list[dict]]:
    """Predicted spans for the true entities of one sentence, and its model-noise notes."""
    preds, notes = [], []
    for start, end, typ in spans:
        if typ == "MISC":
            if rng.random() < 0.15:
                conf = rng.uniform(0.12, 0.30)
                notes.append({"kind": "low_confidence_misc", "span": [start, end], "text": text[start:end]})
            else:
                conf = rng.uniform(0.35, 0.70)
            preds.append([start, end, typ, r3(conf)])
            continue
        u = rng.random()
        if typ == "ORG" and u < 0.05:
            preds.append([start, end, "LOC", r3(rng.uniform(0.30, 0.48))])
            notes.append({"kind": "low_confidence_wrong_type", "span": [start, end], "text": text[start:end]})
        elif " " in text[start:end] and u < 0.04:
            cut = text.index(" ", start) + 1
            preds.append([cut, end, typ, r3(rng.uniform(0.30, 0.48))])
            notes.append({"kind": "low_confidence_partial_span", "span": [cut, end], "text": text[cut:end]})
        else:
            lo = {"PER": 0.82, "ORG": 0.75, "LOC": 0.80}[typ]
            preds.append([start, end, typ, r3(rng.uniform(lo, 0.99))])
    first = text.split(" ", 1)[0].rstrip(",.")
    if rng.random() < 0.06 and first[:1].isupper() and not any(s[0] == 0 for s in spans):
        preds.append([0, len(first), "PER", r3(rng.uniform(0.08, 0.35))])
        notes.append({"kind": "low_confidence_false_positive", "span": [0, len(first)], "text": first})
    return preds, notes


def _plant(rng: np.random.Generator, kind: str, text: str, spans: list[list]) -> tuple[list[list], dict] | None:
    """Corrupt the gold spans of one sentence; None when the sentence cannot host ``kind``."""
    gold = [list(s) for s in spans]
    if kind == "missing_entity":
        cand = [i for i, s in enumerate(gold) if s[2] == "PER"]
    elif kind == "wrong_type":
        cand = [i for i, s in enumerate(gold) if s[2] == "LOC"]
    elif kind == "boundary":
        cand = [i for i, s in enumerate(gold) if s[2] in ("LOC", "PER") and " " in text[s[0] : s[1]]]
    else:
        taken = [(s[0], s[1]) for s in gold]
        cand = [m for m in _WORD.finditer(text) if not any(a < m.end() and m.start() < b for a, b in taken)]
    if not cand:
        return None
    pick = cand[int(rng.integers(len(cand)))]
    if kind == "spurious_entity":
        typ = ("PER", "ORG", "MISC")[int(rng.integers(3))]
        span = [pick.start(), pick.end(), typ]
        gold.append(span)
        gold.sort()
        return gold, _record(kind, text, span, None, f"'{pick.group()}' annotated as {typ}")
    true = gold[pick]
    if kind == "missing_entity":
        del gold[pick]
        return gold, _record(kind, text, None, true, f"person '{text[true[0]:true[1]]}' not annotated")
    if kind == "wrong_type":
        gold[pick] = [true[0], true[1], "ORG"]
        return gold, _record(kind, text, gold[pick], true, f"place '{text[true[0]:true[1]]}' annotated as ORG")
    cut = text.rindex(" ", true[0], true[1]) + 1
    gold[pick] = [cut, true[1], true[2]]
    note = f"'{text[cut:true[1]]}' annotated instead of '{text[true[0]:true[1]]}'"
    return gold, _record(kind, text, gold[pick], true, note)


def _record(kind: str, text: str, span: list | None, true: list | None, note: str) -> dict:
    return {
        "type": kind,
        "span": None if span is None else span[:2], "label": None if span is None else span[2],
        "text": None if span is None else text[span[0] : span[1]],
        "true_span": None if true is None else true[:2], "true_label": None if true is None else true[2],
        "note": note,
    }


def _overlap(a: list, b: list) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def write(out: Path) -> Path:
    """Write the NER demo run into ``out``; return its config path."""
    rng = np.random.default_rng([SEED, 0])
    weights = np.array([1.0] * (len(TEMPLATES) - 2) + [0.3, 0.3])
    sentences = []
    for i in range(N_SENTENCES):
        topic, template = TEMPLATES[int(rng.choice(len(TEMPLATES), p=weights / weights.sum()))]
        text, spans = _fill(rng, template)
        sentences.append({"id": f"sent-{i + 1:03d}", "topic": topic, "text": text, "true": spans})
    plant_rng = np.random.default_rng([SEED, 1])
    order = [int(i) for i in plant_rng.permutation(N_SENTENCES)]
    planted: dict[int, tuple[list, dict]] = {}
    for kind in PLANT_TYPES:
        hosted = 0
        for i in order:
            if hosted == PLANTS_PER_TYPE:
                break
            if i in planted:
                continue
            result = _plant(plant_rng, kind, sentences[i]["text"], sentences[i]["true"])
            if result is not None:
                planted[i] = result
                hosted += 1
    model_rng = np.random.default_rng([SEED, 2])
    lines, mistakes, noise = [], [], []
    for i, s in enumerate(sentences):
        preds, notes = _model(model_rng, s["text"], s["true"])
        gold = s["true"]
        if i in planted:
            gold, record = planted[i]
            mistakes.append({"data_row_id": s["id"], **record})
            true = record["true_span"]
            if true is not None:
                preds = [p for p in preds if not _overlap(p, true)]
                notes = [n for n in notes if not _overlap(n["span"], true)]
                preds.append([*true, record["true_label"], r3(model_rng.uniform(0.90, 0.98))])
        noise.extend({"data_row_id": s["id"], **n} for n in notes)
        row = {"id": s["id"], "topic": s["topic"], "text": s["text"], "labels": gold, "predictions": sorted(preds)}
        lines.append(json.dumps(row, separators=(", ", ": ")))
    write_text(out / "sentences.jsonl", "\n".join(lines) + "\n")
    mistakes.sort(key=lambda m: m["data_row_id"])
    write_planted(out, "ner", SEED, mistakes, noise)
    write_text(out / CONFIG_FILE, RUN_YAML)
    return out / CONFIG_FILE
