"""Readers, one module per format, and the registry that picks one by name.

Every reader has the signature ``read(path, ctx) -> Loaded`` and raises only
:class:`labeltui.errors.LoadError` for bad input.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from labeltui.errors import LoadError
from labeltui.formats.base import Loaded


@dataclass(frozen=True)
class ReadContext:
    """What a reader may need beyond its path.

    ``role`` is ``gt`` or ``pred`` (which config key named the file); readers of
    formats that hold both (conlleval CoNLL, JSONL spans, tables, Labelbox
    model-run exports) return everything they find and the assembler keeps what
    the role asks for. ``gt`` is the already-read ground truth (for readers that
    resolve ids or category names through it). ``ids`` is the ids file of an npy
    embedding matrix.
    """

    role: str
    task: str
    gt: Loaded | None = None
    ids: Path | None = None


#: format name -> "module:function"
READERS: dict[str, str] = {
    "coco": "labeltui.formats.coco:read_coco",
    "coco-results": "labeltui.formats.coco:read_coco_results",
    "dota": "labeltui.formats.dota:read_dota",
    "dota-results": "labeltui.formats.dota:read_dota_results",
    "labelbox": "labeltui.formats.labelbox:read_labelbox_export",
    "labelbox-predictions": "labeltui.formats.labelbox:read_labelbox_predictions",
    "labelbox-metrics": "labeltui.formats.labelbox:read_labelbox_metrics",
    "conll": "labeltui.formats.conll:read_conll",
    "jsonl": "labeltui.formats.jsonl_spans:read_jsonl_spans",
    "table": "labeltui.formats.tabular:read_table",
    "npy": "labeltui.formats.embeddings:read_npy",
    "parquet": "labeltui.formats.embeddings:read_parquet",
}


def read_source(fmt: str, path: Path, ctx: ReadContext) -> Loaded:
    """Read one file with the reader registered for ``fmt``."""
    if fmt not in READERS:
        raise LoadError(f"unknown format {fmt!r}; known: {', '.join(sorted(READERS))}", path=path)
    module, func = READERS[fmt].split(":")
    reader = getattr(importlib.import_module(module), func)
    return reader(Path(path), ctx)
