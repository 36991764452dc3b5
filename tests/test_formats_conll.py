"""CoNLL NER reader: layouts, tag schemes, offsets, and bad input."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
from seqeval.metrics.sequence_labeling import get_entities

from labeltui.errors import LoadError
from labeltui.formats import ReadContext, read_source
from labeltui.formats.conll import read_conll


def write(tmp_path: Path, text: str, name: str = "data.conll") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read(path: Path, role: str = "gt"):
    return read_conll(path, ReadContext(role=role, task="ner"))


def spans(loaded, source: str) -> list[tuple[str, int, int, str]]:
    ann = loaded.annotations[loaded.annotations["source"] == source]
    return list(zip(ann["data_row_id"], ann["start"].tolist(), ann["end"].tolist(), ann["label"]))


def texts(loaded) -> dict[str, str]:
    return dict(zip(loaded.rows["data_row_id"], loaded.rows["asset"]))


TOKENS = [["John", "Smith", "met", "Mary", "in", "New", "York", "City", "."], ["Paris", "London", "Berlin", "!"]]
SCHEMES = {
    "IOB1": [
        ["I-PER", "I-PER", "O", "I-PER", "O", "I-LOC", "I-LOC", "I-LOC", "O"],
        ["I-LOC", "B-LOC", "I-ORG", "O"],
    ],
    "IOB2": [
        ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "I-LOC", "I-LOC", "O"],
        ["B-LOC", "B-LOC", "B-ORG", "O"],
    ],
    "BIOES": [
        ["B-PER", "E-PER", "O", "S-PER", "O", "B-LOC", "I-LOC", "E-LOC", "O"],
        ["S-LOC", "S-LOC", "S-ORG", "O"],
    ],
}
EXPECTED = [
    ("s0", 0, 10, "PER"),
    ("s0", 15, 19, "PER"),
    ("s0", 23, 36, "LOC"),
    ("s1", 0, 5, "LOC"),
    ("s1", 6, 12, "LOC"),
    ("s1", 13, 19, "ORG"),
]


def conll(tokens: list[list[str]], *columns: list[list[str]]) -> str:
    sentences = []
    for s, sent in enumerate(tokens):
        sentences.append("\n".join(" ".join([tok, *(col[s][i] for col in columns)]) for i, tok in enumerate(sent)))
    return "\n\n".join(sentences) + "\n"


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_schemes_give_identical_spans(tmp_path: Path, scheme: str) -> None:
    loaded = read(write(tmp_path, conll(TOKENS, SCHEMES[scheme])))
    assert loaded.meta["tag_scheme"] == scheme
    assert spans(loaded, "gt") == EXPECTED
    assert spans(loaded, "pred") == []
    assert list(loaded.rows["data_row_id"]) == ["s0", "s1"]
    assert texts(loaded)["s0"] == "John Smith met Mary in New York City ."
    assert loaded.rows["width"].isna().all() and loaded.rows["height"].isna().all()


def test_bilou_prefixes_read_as_bioes(tmp_path: Path) -> None:
    tags = [["B-PER", "L-PER", "O", "U-PER", "O", "B-LOC", "I-LOC", "L-LOC", "O"], ["U-LOC", "U-LOC", "U-ORG", "O"]]
    assert spans(read(write(tmp_path, conll(TOKENS, tags))), "gt") == EXPECTED


def test_offsets_slice_entity_tokens(tmp_path: Path) -> None:
    tokens = [["Zoë", "Ångström", "visited", "São", "Paulo", "—", "Brazil"]]
    tags = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "B-LOC"]]
    loaded = read(write(tmp_path, conll(tokens, tags)))
    text = texts(loaded)["s0"]
    got = [text[s:e] for _, s, e, _ in spans(loaded, "gt")]
    assert got == ["Zoë Ångström", "São Paulo", "Brazil"]


def _random_sentences(rng: random.Random, prefixes: str, n: int) -> tuple[list[list[str]], list[list[str]]]:
    alphabet = "abcdeéßø漢字XYZ0123456789.,-"
    tokens, tags = [], []
    for _ in range(n):
        length = rng.randint(1, 12)
        tokens.append(["".join(rng.choices(alphabet, k=rng.randint(1, 6))) for _ in range(length)])
        tags.append(
            [
                "O" if (p := rng.choice(prefixes)) == "O" else f"{p}-{rng.choice(['PER', 'LOC', 'WORK-OF-ART'])}"
                for _ in range(length)
            ]
        )
    return tokens, tags


@pytest.mark.parametrize("prefixes", ["BIO", "BIOES"])
def test_matches_seqeval_get_entities(tmp_path: Path, prefixes: str) -> None:
    rng = random.Random(1234 + len(prefixes))
    tokens, tags = _random_sentences(rng, prefixes, 300)
    loaded = read(write(tmp_path, conll(tokens, tags)))
    expected = []
    for s, (toks, sent_tags) in enumerate(zip(tokens, tags)):
        starts = np.cumsum([0] + [len(t) + 1 for t in toks])
        for etype, first, last in get_entities(sent_tags):
            expected.append((f"s{s}", int(starts[first]), int(starts[last] + len(toks[last])), etype))
    assert spans(loaded, "gt") == expected
    rows = texts(loaded)
    for row_id, start, end, _ in spans(loaded, "gt"):
        s = int(row_id[1:])
        assert rows[row_id][start:end] in " ".join(tokens[s])


def test_conlleval_three_columns(tmp_path: Path) -> None:
    gold = SCHEMES["IOB2"]
    pred = [["B-PER", "O", "O", "B-ORG", "O", "B-LOC", "I-LOC", "I-LOC", "O"], ["O", "O", "O", "O"]]
    loaded = read(write(tmp_path, conll(TOKENS, gold, pred)))
    assert spans(loaded, "gt") == EXPECTED
    assert spans(loaded, "pred") == [("s0", 0, 4, "PER"), ("s0", 15, 19, "ORG"), ("s0", 23, 36, "LOC")]
    assert loaded.annotations.loc[loaded.annotations["source"] == "pred", "confidence"].isna().all()


def test_four_columns_with_confidence(tmp_path: Path) -> None:
    text = "John B-PER B-PER 0.9\nSmith I-PER I-PER 0.5\nsaid O O 1\nhi O B-MISC 0.25\n"
    loaded = read(write(tmp_path, text))
    assert spans(loaded, "gt") == [("s0", 0, 10, "PER")]
    pred = loaded.annotations[loaded.annotations["source"] == "pred"]
    assert pred["label"].tolist() == ["PER", "MISC"]
    assert pred["confidence"].tolist() == pytest.approx([0.7, 0.25])
    assert loaded.annotations.loc[loaded.annotations["source"] == "gt", "confidence"].isna().all()


def test_four_columns_conll2003_layout(tmp_path: Path) -> None:
    text = (
        "-DOCSTART- -X- -X- O\n\n"
        "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\ncall NN I-NP O\n\n"
        "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n\n"
        "-DOCSTART- -X- -X- O\n"
        "BRUSSELS NNP B-NP I-LOC\n"
    )
    path = write(tmp_path, text)
    loaded = read(path)
    assert spans(loaded, "gt") == [
        ("s0", 0, 2, "ORG"),
        ("s0", 11, 17, "MISC"),
        ("s1", 0, 15, "PER"),
        ("s2", 0, 8, "LOC"),
    ]
    assert texts(loaded) == {"s0": "EU rejects German call", "s1": "Peter Blackburn", "s2": "BRUSSELS"}
    assert loaded.meta["tag_scheme"] == "IOB1"
    as_pred = read(path, role="pred")
    assert set(as_pred.annotations["source"]) == {"pred"}
    assert as_pred.annotations["confidence"].isna().all()


def test_two_columns_follow_role(tmp_path: Path) -> None:
    path = write(tmp_path, conll(TOKENS, SCHEMES["IOB2"]))
    assert spans(read(path, role="pred"), "pred") == EXPECTED
    assert spans(read(path, role="gt"), "gt") == EXPECTED


def test_no_entities_and_registry(tmp_path: Path) -> None:
    path = write(tmp_path, "a O\nb O\n\nc O\n")
    loaded = read_source("conll", path, ReadContext(role="gt", task="ner"))
    assert len(loaded.rows) == 2 and loaded.annotations.empty
    assert loaded.annotations["start"].dtype == np.int64


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("a B-PER\nb I-PER x\n", 2, "columns"),
        ("a O O\n\nb O\n", 3, "columns"),
        ("a B-PER\nb X-PER\n", 2, "'X-PER'"),
        ("a O\n\nb B-\n", 3, "'B-'"),
        ("a O O\nb O per\n", 2, "'per'"),
        ("a O O 0.5\nb O O high\n", 2, "'high'"),
        ("a NN B-NP O\nb NN B-NP 0.3\n", 2, "'0.3'"),
        ("a O O 0.5\nb O O 1.5\n", 2, "outside [0, 1]"),
        ("a O O nan\n", 1, "'nan'"),
        ("token\n", 1, "column"),
        ("a b c d e\n", 1, "5 column"),
    ],
)
def test_bad_input_names_line(tmp_path: Path, text: str, line: int, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(LoadError) as info:
        read(path)
    assert info.value.line == line
    assert f"{path}:{line}: " in str(info.value)
    assert needle in str(info.value)


def test_invalid_tag_names_column(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as info:
        read(write(tmp_path, "a O O\nb O I_PER\n"))
    assert info.value.field == "tag (column 3)"
    assert "predicted tag" in str(info.value)


def test_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.conll"
    path.write_bytes("a O\n\nCaf\xe9 B-LOC\n".encode("latin-1"))
    with pytest.raises(LoadError, match=r"latin1\.conll:3: .*UTF-8"):
        read(path)


@pytest.mark.parametrize("text", ["", "\n\n  \n", "-DOCSTART- O\n\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    with pytest.raises(LoadError, match="empty|no token lines"):
        read(write(tmp_path, text))


def test_confidence_mean_matches_tokens(tmp_path: Path) -> None:
    rng = random.Random(7)
    tokens, tags = _random_sentences(rng, "BIO", 50)
    confs = [[rng.random() for _ in sent] for sent in tokens]
    gold = [["O"] * len(sent) for sent in tokens]
    conf_col = [[f"{c:.6f}" for c in sent] for sent in confs]
    loaded = read(write(tmp_path, conll(tokens, gold, tags, conf_col)))
    pred = loaded.annotations[loaded.annotations["source"] == "pred"]
    expected = []
    for s, sent_tags in enumerate(tags):
        for _, first, last in get_entities(sent_tags):
            expected.append(sum(round(c, 6) for c in confs[s][first : last + 1]) / (last - first + 1))
    assert len(pred) == len(expected) > 0
    assert np.allclose(pred["confidence"], expected)
    assert not any(math.isnan(c) for c in pred["confidence"])
