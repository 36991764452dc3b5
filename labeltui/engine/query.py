"""Safe filter expressions and sorting over a per-row table -> a view (index array).

The filter language
-------------------
A filter is a condition over the columns of a table (e.g. the per-row scores)::

    fp >= 1 and max_fp_confidence > 0.8
    issue == "missing_label" or (0.2 < score <= 0.9 and not reviewed)
    split in ["val", "test"] and label == "car"
    "car" in classes and `iou@0.5` < 0.3

* Comparisons ``==  !=  <  <=  >  >=`` between a column and a literal, or two
  columns of the same type; chained comparisons (``0.2 < score <= 0.9``) mean
  ``0.2 < score and score <= 0.9``. A lone ``=`` is read as ``==``.
* ``and``, ``or``, ``not``, parentheses. A bool column may stand alone
  (``reviewed``, ``not reviewed``).
* ``column in [v1, v2, ...]`` and ``column not in [...]`` (``(...)`` works too).
* Literals: numbers (``-1``, ``0.5``, ``1e-3``), strings in single or double
  quotes, ``True``/``False`` (also ``true``/``false`` unless a column has that
  name), and ``None``: ``col == None`` / ``col != None`` (or ``is None`` /
  ``is not None``) test for missing values.
* Column names that are not Python identifiers (or are keywords, like
  ``class``) go in backticks, as in pandas' ``DataFrame.query``:
  `` `iou@0.5` < 0.3 ``, `` `my metric` > 3 `` (any characters except a
  backtick). That is the only quoting rule.
* ``&&``, ``||``, ``&``, ``|``, ``!`` and upper-case ``AND``/``OR``/``NOT``
  are errors that say what to write instead.
* Membership: ``"car" in classes`` is true when ``"car"`` is one of the
  ``|``-separated items of the string column ``classes`` (``"bus|car"``
  contains ``"car"``, not ``"ca"``). When the table has no ``label`` column but
  has a ``classes`` (or ``labels``) column, ``label`` means "one of the row's
  classes": ``label == "car"`` is ``"car" in classes``, ``label != "car"`` its
  negation, ``label in ["car", "bus"]`` any of them.
* Missing values (NaN, None, NaT): ``==  <  <=  >  >=`` and ``in`` are false;
  ``!=`` and ``not in`` are their negations, so they are true. ``not`` negates
  the whole result.
* Types are checked when the filter is compiled: comparing a number column
  with a string (or a string column with a number) is an error that names the
  column and its type. Datetime columns compare with date strings
  (``created >= "2024-05-01"``).

Nothing is ever evaluated as Python: the expression is parsed with
``ast.parse(mode="eval")`` and only the node types above are accepted; calls,
attribute access, indexing, arithmetic, lambdas, comprehensions, f-strings,
``:=`` and the rest are rejected with a :class:`QueryError` pointing at them.

Sort keys
---------
``KEY`` sorts by column KEY in the default direction (descending, most
suspicious first); ``KEY:desc`` and ``KEY:asc`` choose it explicitly. Ties
keep their incoming order (stable) and missing values always go last, in both
directions. Any column can be a sort key: numbers, bools, datetimes, strings.
"""

from __future__ import annotations

import ast
import difflib
import operator
import re
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from labeltui.errors import LoadError

__all__ = [
    "QueryError",
    "Filter",
    "compile_filter",
    "parse_sort_key",
    "sort_view",
    "apply_query",
]

MAX_LENGTH = 10_000  # characters in a filter expression
MAX_DEPTH = 100  # nesting of and/or/not/parentheses
MEMBER_COLUMNS = ("classes", "labels")  # what the ``label`` shorthand reads
SORT_DIRECTIONS = {"asc": False, "desc": True}


class QueryError(LoadError):
    """A bad filter or sort key: ``message`` plus the 0-based character
    ``position`` in ``expression`` where the problem is.

    ``str(err)`` is ``"filter: message"`` (or ``"sort: ..."``); :meth:`caret`
    renders the expression with a caret under the position.
    """

    def __init__(self, message: str, position: int = 0, expression: str = "", *, field: str = "filter") -> None:
        self.position = max(0, min(int(position), len(expression)))
        self.expression = expression
        super().__init__(message, field=field)

    def caret(self) -> str:
        """Two lines: the expression (whitespace flattened) and a ``^`` under the position."""
        line = "".join(" " if c.isspace() else c for c in self.expression)
        pad = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line[: self.position])
        return f"{line}\n{' ' * pad}^"


# --------------------------------------------------------------------------- types

_KIND_WORDS = {
    "number": "numbers",
    "bool": "True/False values",
    "string": "strings",
    "datetime": "dates",
    "other": "values that cannot be filtered",
}


def _kind(dtype: Any) -> str:
    """Classify a dtype-like as number, bool, string, datetime or other."""
    try:
        dt = pd.api.types.pandas_dtype(dtype)
    except TypeError:
        return "other"
    if isinstance(dt, pd.CategoricalDtype):
        return _kind(dt.categories.dtype)
    if pd.api.types.is_bool_dtype(dt):
        return "bool"
    if pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_complex_dtype(dt):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dt):
        return "datetime"
    if pd.api.types.is_string_dtype(dt) or pd.api.types.is_object_dtype(dt):
        return "string"
    return "other"


def _column_kinds(columns: Mapping[str, Any] | pd.DataFrame | pd.Series) -> dict[str, tuple[str, str]]:
    """``{name: (kind, dtype text)}`` from a mapping of dtypes, a dtypes Series or a DataFrame."""
    if isinstance(columns, pd.DataFrame):
        columns = columns.dtypes
    return {str(name): (_kind(dt), str(dt)) for name, dt in columns.items()}


# --------------------------------------------------------------------------- compiled form

_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_FLIP = {"==": "==", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_AST_OPS = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in",
}


@dataclass(frozen=True)
class _Col:
    name: str
    kind: str
    dtype: str
    pos: int


@dataclass(frozen=True)
class _Lit:
    value: Any
    pos: int


@dataclass(frozen=True)
class _Cmp:  # column <op> literal-or-column, op in _CMP
    op: str
    col: _Col
    other: _Col | _Lit


@dataclass(frozen=True)
class _In:  # column in [values]
    col: _Col
    values: tuple


@dataclass(frozen=True)
class _Member:  # any of values is an item of the '|'-joined column
    col: _Col
    values: tuple[str, ...]


@dataclass(frozen=True)
class _IsNull:
    col: _Col


@dataclass(frozen=True)
class _Truth:  # a bool column used as a condition
    col: _Col


@dataclass(frozen=True)
class _Const:
    value: bool


@dataclass(frozen=True)
class _Not:
    item: Any


@dataclass(frozen=True)
class _And:
    items: tuple


@dataclass(frozen=True)
class _Or:
    items: tuple


class Filter:
    """A compiled, validated filter; :meth:`evaluate` gives a bool mask per table row."""

    def __init__(self, expression: str, root: Any, columns: frozenset[str]) -> None:
        self.expression = expression
        self.columns = columns  # the column names the filter reads
        self._root = root

    def __repr__(self) -> str:
        return f"Filter({self.expression!r})"

    def evaluate(self, table: pd.DataFrame) -> np.ndarray:
        """Bool mask (one per row of ``table``) of the rows the filter keeps.

        Raises QueryError if ``table`` lacks a column the filter reads or holds
        it with another type than the one the filter was compiled for.
        """
        self._check(self._root, table)
        return np.asarray(self._eval(self._root, table), dtype=bool)

    # -- evaluation

    def _error(self, message: str, pos: int) -> QueryError:
        return QueryError(message, pos, self.expression)

    def _check(self, node: Any, table: pd.DataFrame) -> None:
        for col in _columns_of(node):
            if col.name not in table.columns:
                raise self._error(f"the table has no column {col.name!r}", col.pos)
            kind = _kind(table[col.name].dtype)
            if kind != col.kind:
                raise self._error(
                    f"column {col.name!r} holds {_KIND_WORDS[kind]} ({table[col.name].dtype}) here, "
                    f"not {_KIND_WORDS[col.kind]} as when the filter was made",
                    col.pos,
                )

    def _eval(self, node: Any, table: pd.DataFrame) -> np.ndarray:
        n = len(table)
        if isinstance(node, _And):
            out = self._eval(node.items[0], table).copy()
            for item in node.items[1:]:
                out &= self._eval(item, table)
            return out
        if isinstance(node, _Or):
            out = self._eval(node.items[0], table).copy()
            for item in node.items[1:]:
                out |= self._eval(item, table)
            return out
        if isinstance(node, _Not):
            return ~self._eval(node.item, table)
        if isinstance(node, _Const):
            return np.full(n, node.value, dtype=bool)
        if isinstance(node, _Truth):
            return np.array(_values(table, node.col), dtype=bool)
        if isinstance(node, _IsNull):
            return table[node.col.name].isna().to_numpy(dtype=bool)
        if isinstance(node, _Member):
            return _member_mask(table[node.col.name], node.values)
        if isinstance(node, _In):
            values = _values(table, node.col)
            if isinstance(values, pd.Series):
                return _mask(values.isin(list(node.values)))
            return np.isin(values, np.asarray(node.values, dtype=values.dtype if node.col.kind == "bool" else None))
        if isinstance(node, _Cmp):
            plain = node.op != "==" or isinstance(node.other, _Col)  # categories cannot do these
            left = _values(table, node.col, plain)
            right = _values(table, node.other, plain) if isinstance(node.other, _Col) else node.other.value
            try:
                return _mask(_CMP[node.op](left, right))
            except TypeError as exc:  # e.g. tz-aware dates against naive ones
                raise self._error(
                    f"cannot compare column {node.col.name!r} ({node.col.dtype}): {exc}", node.col.pos
                ) from None
        raise AssertionError(f"unknown node {node!r}")


def _columns_of(node: Any) -> list[_Col]:
    if isinstance(node, (_And, _Or)):
        return [c for item in node.items for c in _columns_of(item)]
    if isinstance(node, _Not):
        return _columns_of(node.item)
    if isinstance(node, _Cmp):
        return [node.col] + ([node.other] if isinstance(node.other, _Col) else [])
    if isinstance(node, (_In, _Member, _IsNull, _Truth)):
        return [node.col]
    return []


def _mask(result: Any) -> np.ndarray:
    if isinstance(result, (pd.Series, pd.api.extensions.ExtensionArray)):
        return result.to_numpy(dtype=bool, na_value=False)
    return np.asarray(result, dtype=bool)


def _values(table: pd.DataFrame, col: _Col, plain: bool = False) -> Any:
    """The column as a numpy array (numbers, bools) or a Series (strings, dates);
    ``plain``: categorical columns as plain values (for ordering comparisons)."""
    s = table[col.name]
    if col.kind == "number":
        if isinstance(s.dtype, np.dtype):
            return s.to_numpy()
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    if col.kind == "bool":
        return s.to_numpy(dtype=bool, na_value=False)
    if plain and isinstance(s.dtype, pd.CategoricalDtype):
        return s.astype(object)
    return s


def _member_mask(series: pd.Series, values: tuple[str, ...]) -> np.ndarray:
    """Rows whose '|'-joined string holds any of ``values`` as an item; vectorised
    over the column's distinct values."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    padded = "|" + pd.Series(np.asarray(uniques, dtype=object), dtype=object).astype(str) + "|"
    hit = np.zeros(len(padded) + 1, dtype=bool)  # last slot: missing values (code -1)
    for v in values:
        hit[:-1] |= padded.str.contains(f"|{v}|", regex=False).to_numpy(dtype=bool)
    return hit[codes]


# --------------------------------------------------------------------------- parsing


@dataclass
class _Source:
    """The rewritten expression handed to ``ast`` and how to map back positions."""

    text: str
    origin: list[int]  # origin[i]: position in the user's expression of text[i]; one extra at the end
    backticks: dict[str, str]  # placeholder identifier -> real column name


def _scan_string(expr: str, i: int) -> int:
    """End (exclusive) of the string literal starting at ``expr[i]``; len(expr) if unterminated."""
    quote = expr[i : i + 3] if expr[i : i + 3] in ('"""', "'''") else expr[i]
    j = i + len(quote)
    while j < len(expr):
        if expr[j] == "\\":
            j += 2
            continue
        if expr.startswith(quote, j):
            return j + len(quote)
        if len(quote) == 1 and expr[j] == "\n":
            return j
        j += 1
    return len(expr)


def _rewrite(expr: str) -> _Source:
    """Backtick names -> placeholder identifiers, lone ``=`` -> ``==``, whitespace -> spaces;
    rejects ``&``, ``|``, ``!`` with a hint. String literals are copied as they are."""
    out: list[str] = []
    origin: list[int] = []
    backticks: dict[str, str] = {}
    placeholders: dict[str, str] = {}

    def emit(s: str, pos: int) -> None:
        out.append(s)
        origin.extend([pos] * len(s))

    i = 0
    while i < len(expr):
        c = expr[i]
        if c in "'\"":
            j = _scan_string(expr, i)
            out.append(expr[i:j])
            origin.extend(range(i, j))
            i = j
        elif c == "`":
            j = expr.find("`", i + 1)
            if j < 0:
                raise QueryError("unclosed backtick: end the column name with `", i, expr)
            name = expr[i + 1 : j]
            if not name:
                raise QueryError("empty column name between backticks", i, expr)
            if name not in placeholders:
                k = len(placeholders)
                ph = f"_bt{k}_"
                while ph in expr:
                    k += 1000
                    ph = f"_bt{k}_"
                placeholders[name] = ph
                backticks[ph] = name
            emit(placeholders[name], i)
            i = j + 1
        elif c in "&|":
            double = expr[i : i + 2] in ("&&", "||")
            word = "and" if c == "&" else "or"
            raise QueryError(f"use '{word}' instead of '{c * 2 if double else c}'", i, expr)
        elif c == "!" and expr[i + 1 : i + 2] != "=":
            raise QueryError("use 'not' instead of '!'", i, expr)
        elif c == "=" and (i == 0 or expr[i - 1] not in "=!<>:") and expr[i + 1 : i + 2] != "=":
            emit("==", i)
            i += 1
        elif c == "\x00":
            raise QueryError("the filter contains a null character", i, expr)
        elif c.isspace():
            emit(" ", i)
            i += 1
        else:
            emit(c, i)
            i += 1
    # leading spaces are an "unexpected indent" to the parser
    strip = len("".join(out)) - len("".join(out).lstrip(" "))
    text = "".join(out)[strip:]
    origin = origin[strip:] + [len(expr)]
    return _Source(text, origin, backticks)


_TOKEN = re.compile(r"\w+|\"[^\"]*\"?|'[^']*'?|\S")
_SYNTAX_HINTS = (
    ("was never closed", "'{tok}' is never closed"),
    ("unmatched", "unmatched '{tok}'"),
    ("does not match", "'{tok}' does not match the opening bracket"),
    ("unterminated", "unterminated string: add the closing quote"),
    ("too many nested", "too deeply nested"),
)


def _syntax_message(src: _Source, err: SyntaxError) -> tuple[str, int]:
    lines = src.text.split("\n")
    line = max(1, min(err.lineno or 1, len(lines))) - 1
    at = sum(len(text) + 1 for text in lines[:line]) + (err.offset or 0) - 1
    if (err.offset or 0) < 1 or at >= len(src.text.rstrip()):
        return "the expression is incomplete: it ends where a column or value is expected", len(src.text)
    m = _TOKEN.match(src.text, at)
    tok = m.group(0) if m else src.text[at]
    msg = str(err.msg)
    for needle, text in _SYNTAX_HINTS:
        if needle in msg:
            return text.format(tok=tok), at
    if tok.upper() in ("AND", "OR", "NOT", "IN") and tok != tok.lower():
        return f"write '{tok.lower()}' in lower case", at
    return f"unexpected {tok!r}: expected a comparison like fp >= 1, joined by and / or", at


_FORBIDDEN = {
    ast.Call: "function calls",
    ast.Attribute: "attribute access ('.')",
    ast.Subscript: "indexing ('[...]' after a value)",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.JoinedStr: "f-strings",
    ast.NamedExpr: "':=' assignments",
    ast.BinOp: "arithmetic",
    ast.IfExp: "'... if ... else ...'",
    ast.Starred: "'*' unpacking",
    ast.Dict: "dicts",
    ast.Await: "await",
    ast.Slice: "slices",
}
_EXAMPLE = 'e.g. fp >= 1 and label == "car"'


class _Compiler:
    def __init__(self, expression: str, columns: Mapping[str, Any] | pd.DataFrame | pd.Series) -> None:
        self.expr = expression
        self.kinds = _column_kinds(columns)
        self.src = _rewrite(expression)
        self.lines = [line.encode("utf-8") for line in self.src.text.split("\n")]
        self.line_starts = np.cumsum([0] + [len(line) + 1 for line in self.src.text.split("\n")]).tolist()
        member = [c for c in MEMBER_COLUMNS if self.kinds.get(c, ("",))[0] == "string"]
        self.member_column = member[0] if member and "label" not in self.kinds else None

    # -- positions and errors

    def pos(self, node: ast.AST) -> int:
        """0-based character position in the user's expression of an AST node."""
        line = max(1, min(node.lineno, len(self.lines))) - 1
        char = self.line_starts[line] + len(self.lines[line][: node.col_offset].decode("utf-8", errors="ignore"))
        return self.src.origin[min(char, len(self.src.origin) - 1)]

    def error(self, message: str, node_or_pos: ast.AST | int) -> QueryError:
        pos = node_or_pos if isinstance(node_or_pos, int) else self.pos(node_or_pos)
        return QueryError(message, pos, self.expr)

    def reject(self, node: ast.AST) -> QueryError:
        what = next((v for k, v in _FORBIDDEN.items() if isinstance(node, k)), None)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            what = "a list outside 'in [...]'"
        if isinstance(node, ast.UnaryOp):
            what = "'~'"
        what = what or f"'{type(node).__name__}'"
        return self.error(f"{what} not allowed in a filter; compare columns with values, {_EXAMPLE}", node)

    # -- entry

    def compile(self) -> Filter:
        if len(self.expr) > MAX_LENGTH:
            message = f"the filter is too long ({len(self.expr)} characters, at most {MAX_LENGTH})"
            raise QueryError(message, 0, self.expr)
        if not self.src.text.strip():
            raise QueryError(f"the filter is empty; write a condition, {_EXAMPLE}", 0, self.expr)
        try:
            with warnings.catch_warnings():  # e.g. "invalid decimal literal" for "1and"
                warnings.simplefilter("ignore", SyntaxWarning)
                tree = ast.parse(self.src.text, mode="eval")
        except SyntaxError as err:
            message, at = _syntax_message(self.src, err)
            raise QueryError(message, self.src.origin[min(at, len(self.src.origin) - 1)], self.expr) from None
        except (ValueError, MemoryError, RecursionError):  # null bytes, parser limits
            raise QueryError("the filter cannot be parsed (null byte or too deeply nested)", 0, self.expr) from None
        root = self.condition(tree.body, 0)
        return Filter(self.expr, root, frozenset(c.name for c in _columns_of(root)))

    # -- conditions

    def condition(self, node: ast.AST, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.error("the filter is too deeply nested", node)
        if isinstance(node, ast.BoolOp):
            items = tuple(self.condition(v, depth + 1) for v in node.values)
            return _And(items) if isinstance(node.op, ast.And) else _Or(items)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return _Not(self.condition(node.operand, depth + 1))
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, (ast.Name, ast.Constant, ast.UnaryOp)):
            operand = self.operand(node)
            if isinstance(operand, _Col):
                if operand.kind == "bool":
                    return _Truth(operand)
                if operand.kind == "other":
                    raise self.error(f"column {operand.name!r} ({operand.dtype}) cannot be filtered", operand.pos)
                hint = f"{operand.name} > 0" if operand.kind == "number" else f'{operand.name} == "..."'
                raise self.error(
                    f"column {operand.name!r} holds {_KIND_WORDS[operand.kind]} ({operand.dtype}), "
                    f"not True/False; compare it, e.g. {hint}",
                    operand.pos,
                )
            if operand == "label":
                raise self.error('compare label with a class name, e.g. label == "car"', node)
            if isinstance(operand.value, bool):
                return _Const(operand.value)
            raise self.error(f"{operand.value!r} is a value, not a condition; {_EXAMPLE}", node)
        raise self.reject(node)

    def compare(self, node: ast.Compare) -> Any:
        nodes = [node.left, *node.comparators]
        parts = []
        for k, ast_op in enumerate(node.ops):
            a, b = nodes[k], nodes[k + 1]
            op = _AST_OPS.get(type(ast_op))
            if op is None:  # is / is not: only for None
                if not any(isinstance(x, ast.Constant) and x.value is None for x in (a, b)):
                    raise self.error("'is' only works with None (missing values); use == or !=", b)
                op = "==" if isinstance(ast_op, ast.Is) else "!="
            parts.append(self.membership(a, b, op) if op in ("in", "not in") else self.pair(a, b, op))
        return parts[0] if len(parts) == 1 else _And(tuple(parts))

    def pair(self, a_node: ast.AST, b_node: ast.AST, op: str) -> Any:
        a, b = self.operand(a_node), self.operand(b_node)
        negate = op == "!="
        base = "==" if negate else op
        if isinstance(a, _Lit) and not isinstance(b, _Lit):
            a, b, base = b, a, _FLIP[base]
            a_node, b_node = b_node, a_node
        if isinstance(a, _Lit):
            raise self.error("this compares two values; one side must be a column", a_node)
        if a == "label" or b == "label":
            if b == "label" or base != "==" or not isinstance(b, _Lit) or not isinstance(b.value, str):
                raise self.error('label can only be compared with a class name: label == "car", label != "car", '
                                 'label in ["car", "bus"]', a_node)
            result = _Member(self.member_col(a_node), (self.member_value(b),))
        elif isinstance(b, _Lit) and b.value is None:
            if base != "==":
                raise self.error("None only works with == and != (missing values)", b_node)
            result = _IsNull(a)
        elif isinstance(b, _Col):
            if a.kind != b.kind or a.kind == "other":
                raise self.error(
                    f"cannot compare column {a.name!r} ({_KIND_WORDS[a.kind]}, {a.dtype}) with column "
                    f"{b.name!r} ({_KIND_WORDS[b.kind]}, {b.dtype})",
                    b.pos,
                )
            result = _Cmp(base, a, b)
        else:
            result = _Cmp(base, a, self.literal_for(a, b))
        return _Not(result) if negate else result

    def membership(self, a_node: ast.AST, b_node: ast.AST, op: str) -> Any:
        negate = op == "not in"
        if isinstance(b_node, (ast.List, ast.Tuple, ast.Set)):
            a = self.operand(a_node)
            if isinstance(a, _Lit):
                raise self.error("put a column before 'in [...]'", a_node)
            lits = [self.operand(e) for e in b_node.elts]
            for e_node, lit in zip(b_node.elts, lits):
                if not isinstance(lit, _Lit) or lit.value is None:
                    raise self.error("the list after 'in' may hold only values (numbers, strings, True/False)", e_node)
            if a == "label":
                values = tuple(self.member_value(lit) for lit in lits)
                result: Any = _Member(self.member_col(a_node), values)
            else:
                result = _In(a, tuple(self.literal_for(a, lit).value for lit in lits))
        else:
            b = self.operand(b_node)
            if isinstance(b, _Lit):
                raise self.error('after \'in\' write a list, e.g. ["car", "bus"], or a column of "|"-separated names',
                                 b_node)
            col = self.member_col(b_node) if b == "label" else b
            if col.kind != "string":
                raise self.error(f"'in' needs a column of \"|\"-separated names; {col.name!r} holds "
                                 f"{_KIND_WORDS[col.kind]} ({col.dtype})", b_node)
            a = self.operand(a_node)
            if not isinstance(a, _Lit):
                raise self.error('put a value before \'in COLUMN\', e.g. "car" in classes', a_node)
            result = _Member(col, (self.member_value(a),))
        return _Not(result) if negate else result

    # -- operands

    def operand(self, node: ast.AST) -> _Col | _Lit | str:
        """A column, a literal, or the string ``"label"`` for the class shorthand."""
        if isinstance(node, ast.Name):
            name = self.src.backticks.get(node.id, node.id)
            if name in self.kinds:
                kind, dtype = self.kinds[name]
                return _Col(name, kind, dtype, self.pos(node))
            if name == "label" and self.member_column:
                return "label"
            if name in ("true", "false") and node.id == name:
                return _Lit(name == "true", self.pos(node))
            raise self.error(self.unknown(name), node)
        if isinstance(node, ast.Constant):
            v = node.value
            if v is None or isinstance(v, (bool, str)):
                return _Lit(v, self.pos(node))
            if isinstance(v, (int, float)):
                return _Lit(self.number(v, node), self.pos(node))
            raise self.error(f"{v!r} is not a value a filter can use (numbers, strings, True/False, None)", node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = node.operand
            if isinstance(inner, ast.Constant) and isinstance(inner.value, (int, float)) \
                    and not isinstance(inner.value, bool):
                v = self.number(inner.value, inner)
                return _Lit(-v if isinstance(node.op, ast.USub) else v, self.pos(node))
            raise self.error("'-' and '+' only go before a number", node)
        raise self.reject(node)

    def number(self, v: int | float, node: ast.AST) -> int | float:
        if isinstance(v, int) and abs(v) >= 2**63:
            try:
                return float(v)
            except OverflowError:
                raise self.error("this number is too large", node) from None
        return v

    def literal_for(self, col: _Col, lit: _Lit) -> _Lit:
        """Check a literal against a column's type (and convert dates)."""
        v = lit.value
        ok = {
            "number": isinstance(v, (int, float)) and not isinstance(v, bool),
            "bool": isinstance(v, bool),
            "string": isinstance(v, str),
            "datetime": isinstance(v, str),
        }.get(col.kind, False)
        if col.kind == "other":
            raise self.error(f"column {col.name!r} ({col.dtype}) cannot be filtered", col.pos)
        if not ok:
            want = {"number": "a number", "bool": "True or False", "string": 'a quoted string, e.g. "car"',
                    "datetime": 'a date string, e.g. "2024-05-01"'}.get(col.kind, "nothing")
            raise self.error(
                f"column {col.name!r} holds {_KIND_WORDS[col.kind]} ({col.dtype}); compare it with {want}, not {v!r}",
                lit.pos,
            )
        if col.kind == "datetime":
            try:
                v = pd.Timestamp(v)
            except (ValueError, TypeError):
                v = pd.NaT
            if v is pd.NaT:
                message = f"{lit.value!r} is not a date (column {col.name!r}); write e.g. \"2024-05-01\""
                raise self.error(message, lit.pos)
        return _Lit(v, lit.pos)

    def member_col(self, node: ast.AST) -> _Col:
        name = self.member_column
        kind, dtype = self.kinds[name]
        return _Col(name, kind, dtype, self.pos(node))

    def member_value(self, lit: _Lit | _Col | str) -> str:
        if not isinstance(lit, _Lit) or not isinstance(lit.value, str):
            pos = lit.pos if isinstance(lit, (_Lit, _Col)) else 0
            raise self.error('a class name must be a quoted string, e.g. "car"', pos)
        if "|" in lit.value:
            raise self.error("a class name cannot contain '|' (it separates the names)", lit.pos)
        return lit.value

    def unknown(self, name: str) -> str:
        names = sorted(self.kinds)
        lower = {n.lower(): n for n in names}
        if name.lower() in lower:
            hint = [lower[name.lower()]]
        else:
            hint = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        if hint:
            return f"unknown column {name!r} (did you mean {hint[0]!r}?)"
        if name.upper() in ("AND", "OR", "NOT", "IN"):
            return f"write '{name.lower()}' in lower case"
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        if not names:
            return f"unknown column {name!r}: the table has no columns"
        return f"unknown column {name!r}; columns: {shown}"


def compile_filter(expr: str, columns: Mapping[str, Any] | pd.DataFrame | pd.Series) -> Filter:
    """Parse and validate a filter expression against column dtypes (a mapping
    name -> dtype-like, ``df.dtypes`` or the DataFrame itself).

    Raises QueryError (with the character position) on any bad input; never
    executes the expression.
    """
    if not isinstance(expr, str):
        raise QueryError(f"a filter must be text, got {type(expr).__name__}")
    return _Compiler(expr, columns).compile()


# --------------------------------------------------------------------------- sorting


def parse_sort_key(key: str, columns: Any = None, default_descending: bool = True) -> tuple[str, bool]:
    """``"score"`` -> ("score", default), ``"score:asc"`` -> ("score", False),
    ``"score:desc"`` -> ("score", True). With ``columns`` (names), an unknown
    column raises QueryError with a "did you mean" hint."""
    name, descending = key.strip(), default_descending
    head, sep, tail = name.rpartition(":")
    if sep and tail.strip().lower() in SORT_DIRECTIONS:
        name, descending = head.strip(), SORT_DIRECTIONS[tail.strip().lower()]
    if not name:
        raise QueryError("empty sort key; write a column name, e.g. score or score:asc", 0, key, field="sort")
    if columns is not None:
        names = [str(c) for c in columns]
        if name not in names:
            hint = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise QueryError(f"unknown sort column {name!r}{extra}", key.find(name), key, field="sort")
    return name, descending


def _order_key(values: np.ndarray) -> np.ndarray:
    """uint64 keys whose unsigned order is the numeric order of NaN-free ``values``."""
    if values.dtype.kind == "f":
        bits = (values.astype(np.float64) + 0.0).view(np.uint64)  # + 0.0 turns -0.0 into 0.0
        negative = (bits >> np.uint64(63)).astype(bool)
        return np.where(negative, ~bits, bits | np.uint64(1 << 63))
    if values.dtype.kind == "u":
        return values.astype(np.uint64)
    return values.astype(np.int64).view(np.uint64) ^ np.uint64(1 << 63)


def _stable_key_order(keys: np.ndarray) -> np.ndarray:
    """Stable ascending argsort of uint64 keys.

    Sorts ``(high bits of the key, position)`` packed in one uint64 with
    numpy's fast value sort, then re-sorts exactly the rare runs whose keys
    differed only in the dropped low bits.
    """
    n = len(keys)
    shift = np.uint64(max(1, (n - 1).bit_length()))
    packed = np.sort(((keys >> shift) << shift) | np.arange(n, dtype=np.uint64))
    order = (packed & ((np.uint64(1) << shift) - np.uint64(1))).astype(np.int64)
    high, full = packed >> shift, keys[order]
    same_high = high[1:] == high[:-1]
    mixed = same_high & (full[1:] != full[:-1])
    if mixed.any():
        run = np.concatenate(([0], np.cumsum(~same_high)))
        redo = np.flatnonzero(np.isin(run, run[1:][mixed]))
        order[redo] = order[redo][np.lexsort((order[redo], full[redo], run[redo]))]
    return order


def _stable_order(values: np.ndarray, descending: bool) -> np.ndarray:
    """Stable argsort of a NaN-free numeric array; ties keep their order in both directions."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    if values.dtype.kind in "iu":
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < 1 << 16:  # small range: numpy's radix sort
            shifted = values.astype(np.int64) - lo
            keys = (hi - lo - shifted) if descending else shifted
            return np.argsort(keys.astype(np.uint16), kind="stable")
    keys = _order_key(values)
    return _stable_key_order(~keys if descending else keys)


def _sort_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(NaN-free numeric keys for the present values, missing mask) of a column slice."""
    kind = _kind(series.dtype)
    if kind == "datetime":
        missing = series.isna().to_numpy()
        keys = pd.DatetimeIndex(series).asi8
    elif kind in ("number", "bool") and not isinstance(series.dtype, pd.CategoricalDtype):
        if isinstance(series.dtype, np.dtype):
            keys = series.to_numpy()
            missing = np.isnan(keys) if keys.dtype.kind == "f" else np.zeros(len(keys), dtype=bool)
        else:
            keys = series.to_numpy(dtype=np.float64, na_value=np.nan)
            missing = np.isnan(keys)
        if keys.dtype == bool:
            keys = keys.view(np.uint8)
    else:
        try:
            keys, _ = pd.factorize(series, sort=True, use_na_sentinel=True)
        except TypeError:  # mixed types: order by their text
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
            order = np.argsort(np.asarray(uniques, dtype=str), kind="stable")
            remap = np.empty(len(order), dtype=np.int64)
            remap[order] = np.arange(len(order))
            keys = np.where(codes < 0, -1, remap[np.maximum(codes, 0)]) if len(order) else codes
        missing = keys < 0
    return keys, missing


def sort_view(table: pd.DataFrame, view: np.ndarray, key: str, descending: bool = True) -> np.ndarray:
    """Reorder ``view`` (row positions in ``table``) by column ``key``.

    Stable: rows with equal values keep their order in ``view``. Missing values
    (NaN, None, NaT) go last in both directions. Returns a new int64 array.
    """
    if key not in table.columns:
        hint = difflib.get_close_matches(key, [str(c) for c in table.columns], n=1, cutoff=0.6)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise QueryError(f"unknown sort column {key!r}{extra}", 0, key, field="sort")
    view = np.asarray(view, dtype=np.int64)
    column = table[key]
    part = column.take(view) if len(view) != len(table) or not _is_identity(view) else column
    keys, missing = _sort_values(part)
    if missing.any():
        present = np.flatnonzero(~missing)
        order = present[_stable_order(keys[present], descending)]
        order = np.concatenate((order, np.flatnonzero(missing)))
    else:
        order = _stable_order(keys, descending)
    return view[order]


def _is_identity(view: np.ndarray) -> bool:
    return len(view) == 0 or (view[0] == 0 and view[-1] == len(view) - 1 and bool(np.all(np.diff(view) == 1)))


def apply_query(
    table: pd.DataFrame,
    filter_expr: str | Filter | None = None,
    sort_key: str | None = None,
    descending: bool = True,
) -> np.ndarray:
    """Filter and sort ``table`` -> int64 row positions (a view; the table is not copied).

    ``filter_expr``: an expression (see the module doc), a compiled Filter, or
    None/blank for all rows. ``sort_key``: ``KEY``, ``KEY:asc`` or ``KEY:desc``
    (a bare KEY uses ``descending``), or None to keep table order.
    """
    if isinstance(filter_expr, str) and filter_expr.strip():
        filter_expr = compile_filter(filter_expr, table.dtypes)
    if isinstance(filter_expr, Filter):
        view = np.flatnonzero(filter_expr.evaluate(table)).astype(np.int64, copy=False)
    else:
        view = np.arange(len(table), dtype=np.int64)
    if sort_key is not None and sort_key.strip():
        name, desc = parse_sort_key(sort_key, table.columns, default_descending=descending)
        view = sort_view(table, view, name, desc)
    return view
