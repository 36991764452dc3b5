"""CoNLL NER files: one token a line, blank lines between sentences.

Column layouts (columns split on whitespace; every token line of a file must
have the same number of columns):

- 2 columns: ``token tag``. The tag is ground truth, or a prediction when the
  file is named under ``predictions`` (``ctx.role == "pred"``).
- 3 columns (conlleval): ``token gold predicted``.
- 4 columns, two layouts told apart by the 4th column:
  if it parses as a float in [0, 1] on *every* token line, the file is
  ``token gold predicted confidence`` (the predicted token's confidence);
  if it is a number on no line, the file is CoNLL-2003 ``token POS chunk NER``
  and the last column is the tag (source as for 2 columns). A 4th column that
  is a number on some lines only, or a number outside [0, 1] on every line,
  is an error naming the first offending line.

Tags are ``O`` or ``<prefix>-<type>`` with prefix B, I, E or S (L and U are
read as BILOU's E and S). The scheme (IOB1, IOB2, BIOES/BILOU) is detected per
file and reported in ``meta["tag_scheme"]``; all schemes decode with one
lenient rule, the one seqeval's ``get_entities`` uses: a token continues the
entity before it when it has the same type, its prefix is I or E and the
previous prefix is B or I; any other non-O token starts a new entity.

Each sentence becomes a data row ``s<index>`` whose asset is its tokens joined
by single spaces; entities are spans with character offsets into that text
(end exclusive). A predicted entity's confidence is the mean of its tokens'
confidences (NaN without a confidence column). ``-DOCSTART-`` lines are skipped
and end a sentence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labeltui.errors import LoadError
from labeltui.formats import ReadContext
from labeltui.formats.base import Loaded, make_annotations, make_rows, read_text

_PREFIXES = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S"}
_TAG_HELP = "expected O or B-/I-/E-/S- followed by an entity type (e.g. B-PER)"
_LAYOUT = {
    2: "2 columns are read as: token, tag",
    3: "3 columns are read as: token, gold tag, predicted tag",
    "conll2003": "4 columns with a non-numeric 4th are read as CoNLL-2003: token, POS, chunk, NER",
    "confidence": "4 columns with a numeric 4th are read as: token, gold tag, predicted tag, confidence",
}


def read_conll(path: Path, ctx: ReadContext) -> Loaded:
    """Read a CoNLL NER file (layouts and tag schemes in the module docstring)."""
    text = read_text(path)
    if not text.strip():
        raise LoadError("file is empty, expected CoNLL lines (token and tag columns)", path=path)
    lines = text.splitlines()
    parts = [line.split() for line in lines]
    ncols = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    docstart = np.fromiter((bool(p) and p[0] == "-DOCSTART-" for p in parts), dtype=bool, count=len(parts))
    is_break = (ncols == 0) | docstart
    data_idx = np.flatnonzero(~is_break)
    if data_idx.size == 0:
        raise LoadError("no token lines found (only blank or -DOCSTART- lines)", path=path)
    lineno = data_idx + 1
    width = int(ncols[data_idx[0]])
    bad = np.flatnonzero(ncols[data_idx] != width)
    if bad.size:
        i = int(bad[0])
        raise LoadError(
            f"has {ncols[data_idx[i]]} columns but line {lineno[0]} has {width}; "
            "every token line needs the same columns",
            path=path,
            line=int(lineno[i]),
        )
    if width < 2 or width > 4:
        raise LoadError(
            f"has {width} column(s); expected 2 (token tag), 3 (token gold predicted), "
            "4 (token gold predicted confidence) or CoNLL-2003 (token POS chunk NER)",
            path=path,
            line=int(lineno[0]),
        )
    table = np.array([parts[i] for i in data_idx], dtype=object)
    tokens = table[:, 0]

    single_source = "pred" if ctx.role == "pred" else "gt"
    confidence = None
    if width == 4:
        confidence = _confidence_column(table[:, 3], lineno, path)
    if width == 2 or (width == 4 and confidence is None):
        layout = _LAYOUT[2] if width == 2 else _LAYOUT["conll2003"]
        tag_columns = [(single_source, width - 1)]
    else:
        layout = _LAYOUT[3] if width == 3 else _LAYOUT["confidence"]
        tag_columns = [("gt", 1), ("pred", 2)]

    # Sentence index per token: breaks before it, renumbered densely.
    sent = np.unique(np.cumsum(is_break)[data_idx], return_inverse=True)[1].reshape(-1)
    n_sent = int(sent[-1]) + 1
    first = np.flatnonzero(np.r_[True, sent[1:] != sent[:-1]])
    last = np.r_[first[1:], len(tokens)]
    tok_len = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    offset = np.cumsum(tok_len + 1) - (tok_len + 1)
    tok_start = offset - offset[first][sent]

    token_list = tokens.tolist()
    texts = [" ".join(token_list[a:b]) for a, b in zip(first.tolist(), last.tolist())]
    ids = [f"s{i}" for i in range(n_sent)]
    rows = make_rows(ids, [None] * n_sent, texts, np.full(n_sent, np.nan), np.full(n_sent, np.nan))

    frames = []
    schemes = set()
    for source, col in tag_columns:
        prefix, etype, type_names = _parse_tags(table[:, col], lineno, col, layout, path)
        starts, ends, scheme = _decode(prefix, etype, sent)
        if scheme:
            schemes.add(scheme)
        conf = None
        if source == "pred" and confidence is not None:
            csum = np.r_[0.0, np.cumsum(confidence)]
            conf = (csum[ends + 1] - csum[starts]) / (ends - starts + 1)
        frames.append(
            make_annotations(
                source=source,
                data_row_id=np.asarray(ids, dtype=object)[sent[starts]],
                label=type_names[etype[starts]],
                start=tok_start[starts],
                end=tok_start[ends] + tok_len[ends],
                confidence=conf,
            )
        )
    annotations = pd.concat(frames, ignore_index=True)
    return Loaded(
        rows=rows,
        annotations=annotations,
        meta={"tag_scheme": _scheme_name(schemes), "columns": width, "layout": layout},
    )


def _confidence_column(column: np.ndarray, lineno: np.ndarray, path: Path) -> np.ndarray | None:
    """The 4th column as confidences, or None when it is CoNLL-2003's NER tag."""
    values = pd.to_numeric(pd.Series(column), errors="coerce").to_numpy(dtype=np.float64)
    numeric = ~np.isnan(values)
    if not numeric.any():
        return None
    if not numeric.all():
        i = int(np.flatnonzero(numeric != numeric[0])[0])
        kind = "a number (confidence)" if numeric[0] else "not a number (CoNLL-2003 NER tag)"
        raise LoadError(
            f"4th column is {kind} on line {lineno[0]} but {column[i]!r} here; use a confidence "
            "in [0, 1] on every line, or the CoNLL-2003 layout (token POS chunk NER) throughout",
            path=path,
            line=int(lineno[i]),
            field="confidence (column 4)",
        )
    out_of_range = np.flatnonzero(~((values >= 0.0) & (values <= 1.0)))
    if out_of_range.size:
        i = int(out_of_range[0])
        raise LoadError(
            f"confidence {column[i]!r} is outside [0, 1]",
            path=path,
            line=int(lineno[i]),
            field="confidence (column 4)",
        )
    return values


def _parse_tags(
    column: np.ndarray, lineno: np.ndarray, col: int, layout: str, path: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tags -> (prefix char per token, type code per token (-1 for O), type names)."""
    codes, uniques = pd.factorize(column)
    prefix_of = np.empty(len(uniques), dtype="<U1")
    type_of = np.empty(len(uniques), dtype=object)
    for k, tag in enumerate(uniques):
        head, dash, etype = tag.partition("-")
        if tag == "O":
            prefix_of[k], type_of[k] = "O", None
        elif dash and etype and head in _PREFIXES:
            prefix_of[k], type_of[k] = _PREFIXES[head], etype
        else:
            i = int(np.flatnonzero(codes == k)[0])
            raise LoadError(
                f"invalid tag {tag!r}; {_TAG_HELP} ({layout})",
                path=path,
                line=int(lineno[i]),
                field=f"tag (column {col + 1})",
            )
    is_o = prefix_of == "O"
    type_codes, type_names = pd.factorize(type_of[~is_o]) if (~is_o).any() else (np.empty(0, np.int64), [])
    type_of_unique = np.full(len(uniques), -1, dtype=np.int64)
    type_of_unique[~is_o] = type_codes
    return prefix_of[codes], type_of_unique[codes], np.asarray(type_names, dtype=object)


def _decode(prefix: np.ndarray, etype: np.ndarray, sent: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Entity (first token, last token) indices and the detected scheme ('' if no entities)."""
    n = len(prefix)
    cont = np.zeros(n, dtype=bool)
    cont[1:] = (
        (sent[1:] == sent[:-1])
        & (etype[1:] == etype[:-1])
        & (etype[1:] >= 0)
        & np.isin(prefix[1:], ("I", "E"))
        & np.isin(prefix[:-1], ("B", "I"))
    )
    entity = etype >= 0
    starts_mask = entity & ~cont
    ends_mask = entity & ~np.r_[cont[1:], False]
    starts = np.flatnonzero(starts_mask)
    ends = np.flatnonzero(ends_mask)
    if not entity.any():
        scheme = ""
    elif np.isin(prefix, ("E", "S")).any():
        scheme = "BIOES"
    elif (starts_mask & (prefix == "I")).any():
        scheme = "IOB1"
    else:
        scheme = "IOB2"
    return starts, ends, scheme


def _scheme_name(schemes: set[str]) -> str:
    """One scheme name for the file (IOB1 wins over IOB2: an I- start means IOB1 somewhere)."""
    for name in ("BIOES", "IOB1", "IOB2"):
        if name in schemes:
            return name
    return "IOB2"
