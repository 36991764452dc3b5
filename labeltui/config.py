"""The run config: YAML -> typed, validated settings.

Every error is a :class:`LoadError` whose message starts with the key path
(``predictions.path: file not found: ...``). Relative paths resolve against
the config file's folder.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from labeltui.errors import LoadError

TASKS = ("detection", "ner", "classification")
GT_FORMATS = ("coco", "dota", "labelbox", "conll", "jsonl", "table", "shards")
PRED_FORMATS = ("coco-results", "dota-results", "labelbox-predictions", "labelbox", "conll", "jsonl", "table")
EMBEDDING_FORMATS = ("npy", "parquet", "labelbox")
METRIC_FORMATS = ("labelbox-metrics", "table")


@dataclass(frozen=True)
class Source:
    """One input file (or folder) and how to read it."""

    format: str
    path: Path
    ids: Path | None = None  # embeddings: the ids file for npy
    key: str = ""  # the config key path, for error messages


@dataclass(frozen=True)
class Matching:
    iou_threshold: float = 0.5
    confidence_threshold: float = 0.5


@dataclass(frozen=True)
class Scoring:
    """Thresholds and weights of the suspicion score (see README "How the score works")."""

    low_confidence: float = 0.1  # a GT object with no prediction above this is unsupported
    overlap_iou: float = 0.1  # any overlap at or above this counts as "overlapping" (detection)
    ambiguous_margin: float = 0.1  # classification: top-2 probability margin below this is ambiguous
    knn_k: int = 10  # embedding neighbours
    knn_weight: float = 0.3  # weight of kNN disagreement when embeddings exist (0 disables)
    label_error_rate: float = 0.05  # prior share of wrong labels: turns model evidence into a probability (0.5: score = model precision)
    span_type_iou: float = 0.5  # NER: a prediction of another type overlapping a GT span this much (char IoU) is wrong_type, less is boundary


@dataclass(frozen=True)
class Config:
    """A validated run config."""

    path: Path | None
    name: str
    task: str
    ground_truth: Source
    predictions: Source | None
    assets: Path | None = None
    embeddings: Source | None = None
    metrics: tuple[Source, ...] = ()
    matching: Matching = field(default_factory=Matching)
    scoring: Scoring = field(default_factory=Scoring)
    review_store: Path = Path("labeltui-review.sqlite")
    reviewer: str | None = None
    export_dir: Path = Path("batches")
    cache_dir: Path | None = None
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()


_TOP_KEYS = {
    "name", "task", "assets", "ground_truth", "predictions", "embeddings", "metrics",
    "matching", "scoring", "review", "export", "cache", "keys",
}


def _err(key: str, message: str) -> LoadError:
    return LoadError(f"{key}: {message}")


def _check_keys(mapping: dict, allowed: set[str], where: str) -> None:
    for k in mapping:
        if k not in allowed:
            hint = difflib.get_close_matches(str(k), sorted(allowed), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else f" (known: {', '.join(sorted(allowed))})"
            plain = isinstance(k, str) and k.isprintable() and k == k.strip() != ""
            raise _err(f"{where}{k if plain else repr(k)}", f"unknown key{extra}")


def _mapping(value: Any, key: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _err(key, f"expected a mapping, got {type(value).__name__}")
    return value


def _resolve(base: Path, value: Any, key: str, *, must_exist: bool) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise _err(key, "expected a path (a non-empty string)")
    p = Path(os.path.expanduser(value))
    if not p.is_absolute():
        p = base / p
    if must_exist and not p.exists():
        raise _err(key, f"file not found: {p}")
    return p


def _source(raw: Any, key: str, formats: tuple[str, ...], base: Path) -> Source:
    m = _mapping(raw, key)
    _check_keys(m, {"format", "path", "ids"}, f"{key}.")
    fmt = m.get("format")
    if fmt is None:
        raise _err(f"{key}.format", f"missing; one of: {', '.join(formats)}")
    if fmt not in formats:
        raise _err(f"{key}.format", f"unknown format {fmt!r}; known: {', '.join(formats)}")
    if "path" not in m:
        raise _err(f"{key}.path", "missing")
    path = _resolve(base, m["path"], f"{key}.path", must_exist=True)
    ids = _resolve(base, m["ids"], f"{key}.ids", must_exist=True) if m.get("ids") is not None else None
    if fmt == "npy" and ids is None:
        raise _err(f"{key}.ids", "missing: an npy matrix needs an ids file (one data_row_id a line)")
    return Source(format=fmt, path=path, ids=ids, key=key)


def _number(m: dict, name: str, default: Any, key: str, lo: float, hi: float, kind: type = float) -> Any:
    v = m.get(name, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not float(v).is_integer()):
        raise _err(f"{key}.{name}", f"expected a{'n integer' if kind is int else ' number'}, got {v!r}")
    if not (lo <= v <= hi):
        raise _err(f"{key}.{name}", f"must be between {lo} and {hi}, got {v}")
    return kind(v)


def _dataclass_section(cls: type, raw: Any, key: str, bounds: dict[str, tuple]) -> Any:
    m = _mapping(raw, key)
    names = {f.name for f in fields(cls)}
    _check_keys(m, names, f"{key}.")
    defaults = cls()
    values = {}
    for f in fields(cls):
        lo, hi = bounds.get(f.name, (0.0, 1.0))
        kind = int if isinstance(getattr(defaults, f.name), int) else float
        values[f.name] = _number(m, f.name, getattr(defaults, f.name), key, lo, hi, kind)
    return cls(**values)


def parse_config(data: Any, path: Path | None = None) -> Config:
    """Validate a config mapping; ``path`` is the file it came from (for relative paths)."""
    base = path.parent if path else Path.cwd()
    if not isinstance(data, dict):
        raise LoadError("config: expected a YAML mapping at the top level", path=path)
    try:
        _check_keys(data, _TOP_KEYS, "")
        name = data.get("name") or (path.stem if path else "model-run")
        if not isinstance(name, str):
            raise _err("name", "expected a string")
        task = data.get("task")
        if task not in TASKS:
            raise _err("task", f"{'missing' if task is None else f'unknown task {task!r}'}; one of: {', '.join(TASKS)}")
        if "ground_truth" not in data:
            raise _err("ground_truth", "missing: the ground-truth source (format + path)")
        gt = _source(data["ground_truth"], "ground_truth", GT_FORMATS, base)
        preds = _source(data["predictions"], "predictions", PRED_FORMATS, base) if data.get("predictions") else None
        emb = _source(data["embeddings"], "embeddings", EMBEDDING_FORMATS, base) if data.get("embeddings") else None
        raw_metrics = data.get("metrics") or []
        if not isinstance(raw_metrics, list):
            raise _err("metrics", "expected a list of sources")
        metrics = tuple(_source(m, f"metrics[{i}]", METRIC_FORMATS, base) for i, m in enumerate(raw_metrics))
        if gt.format == "shards" and (preds or emb or metrics):
            extra = "predictions" if preds else "embeddings" if emb else "metrics"
            raise _err(extra, "a sharded run (ground_truth.format: shards) already holds it; remove this key")
        assets = _resolve(base, data["assets"], "assets", must_exist=False) if data.get("assets") else None
        matching = _dataclass_section(Matching, data.get("matching"), "matching", {})
        scoring = _dataclass_section(Scoring, data.get("scoring"), "scoring", {"knn_k": (1, 1000)})
        review = _mapping(data.get("review"), "review")
        _check_keys(review, {"store", "reviewer"}, "review.")
        store = _resolve(base, review.get("store", "labeltui-review.sqlite"), "review.store", must_exist=False)
        reviewer = review.get("reviewer")
        if reviewer is not None and not isinstance(reviewer, str):
            raise _err("review.reviewer", "expected a string")
        export = _mapping(data.get("export"), "export")
        _check_keys(export, {"dir"}, "export.")
        export_dir = _resolve(base, export.get("dir", "batches"), "export.dir", must_exist=False)
        cache = _mapping(data.get("cache"), "cache")
        _check_keys(cache, {"dir"}, "cache.")
        cache_dir = _resolve(base, cache["dir"], "cache.dir", must_exist=False) if cache.get("dir") else None
        keys = _mapping(data.get("keys"), "keys")
        for k, v in keys.items():
            if not isinstance(v, str):
                raise _err(f"keys.{k}", "expected a key name string, e.g. 'x' or 'ctrl+e'")
    except LoadError as exc:
        if path is not None and exc.path is None:
            raise LoadError(exc.message, path=path) from None
        raise
    return Config(
        path=path,
        name=name,
        task=task,
        ground_truth=gt,
        predictions=preds,
        assets=assets,
        embeddings=emb,
        metrics=metrics,
        matching=matching,
        scoring=scoring,
        review_store=store,
        reviewer=reviewer,
        export_dir=export_dir,
        cache_dir=cache_dir,
        keys={str(k): v for k, v in keys.items()},
    )


def load_config(path: str | Path) -> Config:
    """Read and validate a config YAML file."""
    p = Path(path)
    if not p.exists():
        raise LoadError("config file not found", path=p)
    if p.is_dir():
        raise LoadError("is a directory; pass the config YAML file", path=p)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise LoadError("config is not UTF-8 text", path=p) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise LoadError(f"malformed YAML: {problem}", path=p, line=line) from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit integer, nesting deeper than Python's stack
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
        raise LoadError(f"malformed YAML: {reason}", path=p) from None
    return parse_config(data, p.resolve())
