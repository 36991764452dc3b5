"""Filter language and sorting: results on a small hand-checked table, errors
with positions, nothing ever executed, stable sorts with missing values last."""

from __future__ import annotations

import builtins
import contextlib
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeltui.engine.query import (
    Filter,
    QueryError,
    apply_query,
    compile_filter,
    parse_sort_key,
    sort_view,
)
from labeltui.errors import LoadError

NAN = np.nan


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "data_row_id": ["r0", "r1", "r2", "r3", "r4", "r5"],
            "score": [0.10, 0.50, NAN, 0.90, 0.50, 0.30],
            "fp": np.array([0, 1, 2, 0, 3, 1], dtype=np.int64),
            "max_fp_confidence": [NAN, 0.95, 0.60, NAN, 0.85, 0.40],
            "issue": ["", "missing_label", "wrong_class", "", None, "missing_label"],
            "classes": ["car", "car|bus", "person", None, "bus", "caravan"],
            "reviewed": [True, False, True, False, False, True],
            "iou@0.5": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "n_gt": np.array([1, 2, 1, 0, 1, 2], dtype=np.int32),
        }
    )


@pytest.fixture
def table() -> pd.DataFrame:
    return _table()


def run(expr: str, table: pd.DataFrame) -> list[int]:
    return np.flatnonzero(compile_filter(expr, table.dtypes).evaluate(table)).tolist()


@pytest.mark.parametrize(
    "expr, rows",
    [
        ("fp >= 1", [1, 2, 4, 5]),
        ("fp >= 1 and max_fp_confidence > 0.8", [1, 4]),
        ("fp == 0 or score > 0.8", [0, 3]),
        ("0.2 < score <= 0.5", [1, 4, 5]),
        ("0.2 < score <= 0.5 < max_fp_confidence", [1, 4]),
        ("not (fp >= 1)", [0, 3]),
        ("not reviewed", [1, 3, 4]),
        ("reviewed and fp > 0", [2, 5]),
        ("reviewed == False", [1, 3, 4]),
        ("reviewed == true", [0, 2, 5]),
        ('issue == "missing_label"', [1, 5]),
        ("issue == 'missing_label'", [1, 5]),
        ('issue != "missing_label"', [0, 2, 3, 4]),  # missing issue: != is true
        ('issue in ["wrong_class", ""]', [0, 2, 3]),
        ('issue not in ["wrong_class", ""]', [1, 4, 5]),
        ("fp in [0, 3]", [0, 3, 4]),
        ("fp in (0, 3)", [0, 3, 4]),
        ("fp not in [0, 3]", [1, 2, 5]),
        ("fp in []", []),
        ('"car" in classes', [0, 1]),  # item, not substring: "caravan" is not "car"
        ('"car" not in classes', [2, 3, 4, 5]),
        ('label == "car"', [0, 1]),
        ('label != "car"', [2, 3, 4, 5]),
        ('label in ["person", "bus"]', [1, 2, 4]),
        ('label not in ["person", "bus"]', [0, 3, 5]),
        ("`iou@0.5` >= 5", [4, 5]),
        ("`iou@0.5` >= 5 and `iou@0.5` < 6", [4]),
        ("fp = 1", [1, 5]),  # a lone '=' reads as '=='
        ("fp > -1 and score > -0.5", [0, 1, 3, 4, 5]),
        ("score > 1e-1", [1, 3, 4, 5]),
        ("score == None", [2]),
        ("score != None", [0, 1, 3, 4, 5]),
        ("None == max_fp_confidence", [0, 3]),
        ("score is None", [2]),
        ("score is not None and fp is not None", [0, 1, 3, 4, 5]),
        ("score >= 0 or score < 0", [0, 1, 3, 4, 5]),  # NaN fails every comparison
        ("not (score >= 0)", [2]),
        ("score != 0.5", [0, 2, 3, 5]),
        ("score < max_fp_confidence", [1, 4, 5]),  # column vs column, NaN -> false
        ("fp >= n_gt", [2, 3, 4]),
        ("1 <= fp", [1, 2, 4, 5]),  # literal on the left
        ("True", [0, 1, 2, 3, 4, 5]),
        ("False or fp == 3", [4]),
        ("fp > 1\n  and\tscore < 1", [4]),  # newlines and tabs are spaces
        ("  fp == 2  ", [2]),
        ("((fp == 2) or ((fp == 3)))", [2, 4]),
        ('issue >= "w"', [2]),
        ('data_row_id in ["r5", "r0"]', [0, 5]),
        ("max_fp_confidence > 0.5 and not reviewed or fp == 0", [0, 1, 3, 4]),
    ],
)
def test_filter_results(table: pd.DataFrame, expr: str, rows: list[int]) -> None:
    assert run(expr, table) == rows


def test_filter_reads_no_more_than_it_names(table: pd.DataFrame) -> None:
    f = compile_filter('fp >= 1 and label == "car" and `iou@0.5` > 1', table)
    assert isinstance(f, Filter)
    assert f.columns == frozenset({"fp", "classes", "iou@0.5"})
    mask = f.evaluate(table)
    assert mask.dtype == bool and mask.shape == (len(table),)
    assert mask.tolist() == [False, True, False, False, False, False]


def test_filter_compiles_once_and_evaluates_on_other_tables(table: pd.DataFrame) -> None:
    f = compile_filter("fp >= 2", {"fp": "int64"})
    assert f.evaluate(table).tolist() == [False, False, True, False, True, False]
    other = pd.DataFrame({"fp": [5, 0]})
    assert f.evaluate(other).tolist() == [True, False]
    with pytest.raises(QueryError, match="no column 'fp'"):
        f.evaluate(pd.DataFrame({"tp": [1]}))
    with pytest.raises(QueryError, match="holds strings"):
        f.evaluate(pd.DataFrame({"fp": ["a"]}))


def test_label_column_takes_precedence_over_the_shorthand() -> None:
    df = pd.DataFrame({"label": ["car", "car|bus"], "classes": ["bus", "car"]})
    assert run('label == "car"', df) == [0]  # plain string equality on the label column
    assert run('"car" in label', df) == [0, 1]  # membership still works explicitly


def test_nullable_and_categorical_dtypes() -> None:
    df = pd.DataFrame(
        {
            "n": pd.array([1, None, 3], dtype="Int64"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "s": pd.array(["a", None, "c"], dtype="string"),
            "c": pd.Categorical(["x", "y", None]),
            "f": pd.array([0.5, None, 1.5], dtype="Float64"),
        }
    )
    assert run("n >= 2", df) == [2]
    assert run("n != 3", df) == [0, 1]
    assert run("b", df) == [0]
    assert run("not b", df) == [1, 2]
    assert run('s == "a"', df) == [0]
    assert run('s != "a"', df) == [1, 2]
    assert run('s < "b"', df) == [0]
    assert run('c == "y"', df) == [1]
    assert run('c > "x"', df) == [1]
    assert run('c in ["x", "z"]', df) == [0]
    assert run("f > 1", df) == [2]
    assert run("f == None", df) == [1]


def test_datetime_columns_compare_with_date_strings() -> None:
    df = pd.DataFrame({"t": pd.to_datetime(["2024-01-01", None, "2024-06-01"])})
    assert run('t >= "2024-03-01"', df) == [2]
    assert run('t != "2024-01-01"', df) == [1, 2]
    with pytest.raises(QueryError, match="not a date"):
        compile_filter('t > "next tuesday-ish"', df)
    with pytest.raises(QueryError, match="holds dates"):
        compile_filter("t > 3", df)


@pytest.mark.parametrize(
    "expr, position, message",
    [
        ("scroe > 0.5", 0, "unknown column 'scroe' (did you mean 'score'?)"),
        ("fp >= 1 and scroe > 0.5", 12, "did you mean 'score'?"),
        ("fp >= 1 and SCORE > 0.5", 12, "did you mean 'score'?"),
        ("fp >= 1 and `iou@0.6` > 0.5", 12, "did you mean 'iou@0.5'?"),
        ("zzz > 1", 0, "unknown column 'zzz'; columns: "),
        ('fp > "a"', 5, "column 'fp' holds numbers (int64); compare it with a number, not 'a'"),
        ("issue == 3", 9, "column 'issue' holds strings"),
        ("reviewed == 1", 12, "compare it with True or False"),
        ('fp in [1, "x"]', 10, "holds numbers"),
        ("fp == issue", 6, "cannot compare column 'fp'"),
        ("fp", 0, "column 'fp' holds numbers (int64), not True/False; compare it, e.g. fp > 0"),
        ("fp > 1 and", 10, "incomplete"),
        ("fp >", 4, "incomplete"),
        ("(fp > 1", 0, "'(' is never closed"),
        ("fp > 1)", 6, "unmatched ')'"),
        ("fp > 1 AND score < 2", 7, "write 'and' in lower case"),
        ("fp 1", 3, "unexpected '1'"),
        ("fp > 1 && score < 2", 7, "use 'and' instead of '&&'"),
        ("fp > 1 || score < 2", 7, "use 'or' instead of '||'"),
        ("fp > 1 & score < 2", 7, "use 'and' instead of '&'"),
        ("!reviewed", 0, "use 'not' instead of '!'"),
        ("`iou@0.5 > 1", 0, "unclosed backtick"),
        ("`` > 1", 0, "empty column name"),
        ("issue == 'abc", 9, "unterminated string"),
        ("'a' == 'b'", 0, "compares two values"),
        ("-fp > 1", 0, "'-' and '+' only go before a number"),
        ("label < 'car'", 0, "label can only be compared"),
        ("1 in classes", 0, "a class name must be a quoted string"),
        ('"a|b" in classes', 0, "cannot contain '|'"),
        ('"car" in "car"', 9, "after 'in' write a list"),
        ('"car" in fp', 9, "'in' needs a column"),
        ("fp in fp", 6, "'in' needs a column"),
        ('fp in ["a"] and 2 in [1]', 7, "holds numbers"),
        ("score < None", 8, "None only works with == and !="),
        ("score is 0.5", 9, "'is' only works with None"),
        ("0.5", 0, "is a value, not a condition"),
        ("", 0, "the filter is empty"),
        ("   ", 0, "the filter is empty"),
        ("fp > 1e999999 and fp < 10" + "0" * 400, 23, "too large"),
        ("é > 1 and fp > 1", 0, "unknown column 'é'"),
        ("fp > 1 and é > 1", 11, "unknown column 'é'"),
        ("issue == 'é' and zz > 1", 17, "unknown column 'zz'"),
        ("fp == 1 and\n  zz > 1", 14, "unknown column 'zz'"),
        ('"""x\ny""" == issue and zz > 1', 23, "unknown column 'zz'"),
    ],
    ids=lambda v: repr(v[:30]) if isinstance(v, str) else str(v),
)
def test_errors_point_at_the_problem(table: pd.DataFrame, expr: str, position: int, message: str) -> None:
    with pytest.raises(QueryError) as info:
        compile_filter(expr, table.dtypes)
    err = info.value
    assert message in err.message
    assert err.position == position
    assert err.expression == expr
    assert str(err) == f"filter: {err.message}"
    assert isinstance(err, LoadError)  # the one exception bad input may raise


def test_caret_renders_the_position(table: pd.DataFrame) -> None:
    with pytest.raises(QueryError) as info:
        compile_filter("fp >= 1 and\tscroe > 0.5", table.dtypes)
    assert info.value.caret() == "fp >= 1 and scroe > 0.5\n            ^"
    err = QueryError("bad", 3, "東京 x")  # wide characters take two cells
    assert err.caret() == "東京 x\n     ^"


CANARY = "/tmp/labeltui-query-canary"

REJECTED = [
    ("__import__('os').system('touch " + CANARY + "')", "function calls"),
    ("open('" + CANARY + "', 'w')", "function calls"),
    ("fp.real > 1", "attribute access"),
    ("fp.__class__.__bases__ == 1", "attribute access"),
    ("fp[0] == 1", "indexing"),
    ("fp[0:2] == 1", "indexing"),
    ("(lambda: 1) == 1", "lambda"),
    ("[x for x in fp] == 1", "comprehensions"),
    ("{x for x in fp} == 1", "comprehensions"),
    ("{x: 1 for x in fp} == 1", "comprehensions"),
    ("(x for x in fp) == 1", "comprehensions"),
    ("f'{fp}' == 'a'", "f-strings"),
    ("(fp := 1) == 1", "':=' assignments"),
    ("fp + 1 > 2", "arithmetic"),
    ("fp ** 2 > 2", "arithmetic"),
    ("fp > 2 ** 10", "arithmetic"),
    ("(1 if fp else 2) == 1", "'... if ... else ...'"),
    ("{'a': 1} == fp", "dicts"),
    ("[1, 2] == fp", "a list outside 'in [...]'"),
    ("fp in [*fp]", "'*' unpacking"),
    ("~reviewed", "'~'"),
    ("fp in [fp]", "may hold only values"),
    ("fp in [None]", "may hold only values"),
    ("b'x' == issue", "not a value a filter can use"),
    ("1j == fp", "not a value a filter can use"),
    ("... == fp", "not a value a filter can use"),
    ("await fp", "await"),
    ("yield fp", ""),
    ("fp > 1; import os", ""),
    ("import os", ""),
    ("exec('x')", "function calls"),
    ("eval('1') == 1", "function calls"),
    ("globals()['fp'] == 1", ""),
    ("fp\x00 > 1", "null character"),
    ("not " * 150 + "reviewed", "too deeply nested"),
    ("(" * 300 + "fp > 1" + ")" * 300, ""),
    ("fp > 1 or " * 1200 + "fp > 1", "too long"),
]


def _boom(*_a, **_k):
    raise AssertionError("eval/exec must never run")


@contextlib.contextmanager
def _eval_forbidden():
    """eval/exec explode if anything calls them while a filter is compiled or run."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(builtins, "eval", _boom)
        mp.setattr(builtins, "exec", _boom)
        yield


@pytest.fixture
def no_eval():
    with _eval_forbidden():
        yield


@pytest.mark.parametrize("expr, message", REJECTED, ids=[repr(e[:30]) for e, _ in REJECTED])
def test_rejected_nodes_never_execute(table: pd.DataFrame, no_eval, expr: str, message: str) -> None:
    import os

    if os.path.exists(CANARY):
        os.remove(CANARY)
    with pytest.raises(QueryError) as info:
        compile_filter(expr, table.dtypes)
    assert message in info.value.message
    assert 0 <= info.value.position <= len(expr)
    assert not os.path.exists(CANARY)


TOKENS = [
    "fp", "score", "issue", "classes", "label", "reviewed", "`iou@0.5`", "`x y`", "nope", "true", "None",
    "0", "1", "-1", "0.5", "1e3", "10**9", '"car"', "'a|b'", '"', "'", "`",
    "==", "!=", "<", "<=", ">", ">=", "=", "in", "not", "is", "and", "or", "AND", "&&", "||", "&", "|", "!", "~",
    "(", ")", "[", "]", "{", "}", ",", ".", ":", ";", ":=", "lambda", "if", "else", "for", "*", "**", "+",
    "-", "/", "@", "__import__", "os", "system", "f'{fp}'", "\n", "\t", "\\", "#", "$", "\x00", "é", "東",
]


SOUP_TABLE = _table()


def _check_any(expr: str) -> None:
    table = SOUP_TABLE
    try:
        with _eval_forbidden():
            f = compile_filter(expr, table.dtypes)
    except QueryError as err:
        assert 0 <= err.position <= len(expr)
        lines = err.caret().split("\n")
        assert len(lines) == 2 and lines[1].endswith("^")
        return
    with _eval_forbidden():
        try:
            mask = f.evaluate(table)
        except QueryError:
            return
    assert mask.dtype == bool and mask.shape == (len(table),)


@pytest.mark.filterwarnings("error")
@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=12), st.sampled_from(["", " "]))
def test_token_soup_gives_a_filter_or_a_query_error(tokens: list[str], sep: str) -> None:
    _check_any(sep.join(tokens))


@pytest.mark.filterwarnings("error")
@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.printable + "é東`", max_size=40))
def test_random_text_gives_a_filter_or_a_query_error(text: str) -> None:
    _check_any(text)


# --------------------------------------------------------------------------- sorting


def test_sort_is_stable_with_missing_last_in_both_directions() -> None:
    df = pd.DataFrame({"v": [0.5, NAN, 0.2, 0.5, NAN, 0.9, 0.2, 0.5]})
    view = np.arange(len(df))
    assert sort_view(df, view, "v", descending=True).tolist() == [5, 0, 3, 7, 2, 6, 1, 4]
    assert sort_view(df, view, "v", descending=False).tolist() == [2, 6, 0, 3, 7, 5, 1, 4]
    # ties keep the incoming order of the view, not the table order
    rev = view[::-1].copy()
    assert sort_view(df, rev, "v", descending=True).tolist() == [5, 7, 3, 0, 6, 2, 4, 1]
    assert sort_view(df, rev, "v", descending=False).tolist() == [6, 2, 7, 3, 0, 5, 4, 1]


@pytest.mark.parametrize(
    "values",
    [
        np.array([3, 1, 3, 2, 1, 3], dtype=np.int64),
        np.array([3, 1, 3, 2, 1, 3], dtype=np.int64) * 10**12,  # wide range
        np.array([True, False, True, True, False, False]),
        pd.array([3, None, 3, 1, None, 2], dtype="Int64"),
        ["b", None, "a", "b", "a", None],
        pd.array(["b", None, "a", "b", "a", None], dtype="string"),
        pd.to_datetime(["2024-02-01", None, "2024-01-01", "2024-02-01", "2024-01-01", None]),
        np.array([2.0, 1.0, 2.0, 3.0, 1.0, 2.0]) + np.arange(6) * 1e-9,  # no ties at all
    ],
)
def test_sort_matches_a_reference_stable_sort(values) -> None:
    df = pd.DataFrame({"v": values})
    view = np.array([5, 3, 1, 0, 2, 4])
    s = df["v"].take(view).reset_index(drop=True)
    missing = s.isna().to_numpy()
    for descending in (True, False):
        expect = s[~missing].sort_values(ascending=not descending, kind="stable").index.to_numpy()
        # pandas' stable descending sort keeps ties in order too
        expect = np.concatenate((view[expect], view[np.flatnonzero(missing)]))
        got = sort_view(df, view, "v", descending)
        assert got.tolist() == expect.tolist(), (descending, got, expect)


def test_sort_random_against_lexsort() -> None:
    rng = np.random.default_rng(3)
    for dtype in ("float", "int", "str"):
        n = 5000
        raw = rng.integers(0, 40, n)
        if dtype == "float":
            vals = np.where(rng.random(n) < 0.1, np.nan, raw / 7.0)
        elif dtype == "int":
            vals = raw
        else:
            vals = np.array([f"k{v:02d}" for v in raw], dtype=object)
        df = pd.DataFrame({"v": vals})
        view = rng.permutation(n)[: n // 2]
        for descending in (True, False):
            got = sort_view(df, view, "v", descending)
            keys = pd.factorize(df["v"].take(view), sort=True)[0]
            present = keys >= 0
            pos = np.arange(len(view))
            order = np.lexsort((pos[present], -keys[present] if descending else keys[present]))
            expect = np.concatenate((view[present][order], view[~present]))
            assert np.array_equal(got, expect)


@pytest.mark.parametrize("descending", [True, False])
def test_sort_exact_on_values_that_differ_only_in_the_last_bits(descending: bool) -> None:
    rng = np.random.default_rng(4)
    n = 3000
    floats = 1.0 + rng.integers(0, 6, n) * 2.0**-50 + rng.integers(0, 3, n)  # runs that differ in low bits only
    floats[rng.random(n) < 0.05] *= -1
    floats[rng.random(n) < 0.05] = -0.0  # equal to 0.0
    floats[rng.random(n) < 0.05] = 0.0
    ints = 2**40 + rng.integers(0, 5, n) * 2**30 + rng.integers(0, 4, n)  # wide range, low-bit differences
    for values in (floats, ints.astype(np.int64), (ints * 2**20).astype(np.uint64)):
        df = pd.DataFrame({"v": values})
        view = rng.permutation(n)
        got = sort_view(df, view, "v", descending)
        v = values[view]
        key = (~v if v.dtype.kind == "u" else -v) if descending else v
        expect = view[np.lexsort((np.arange(n), key))]  # by value, then incoming position
        assert np.array_equal(got, expect)


def test_sort_key_syntax() -> None:
    assert parse_sort_key("score") == ("score", True)
    assert parse_sort_key("score", default_descending=False) == ("score", False)
    assert parse_sort_key("score:asc") == ("score", False)
    assert parse_sort_key(" score : DESC ") == ("score", True)
    assert parse_sort_key("a:b:asc") == ("a:b", False)
    assert parse_sort_key("a:b") == ("a:b", True)  # not a direction: part of the name
    with pytest.raises(QueryError, match="did you mean 'score'") as info:
        parse_sort_key("scroe:asc", ["score", "fp"])
    assert str(info.value).startswith("sort: ")
    with pytest.raises(QueryError, match="empty sort key"):
        parse_sort_key(":asc")


def test_apply_query_gives_an_index_view(table: pd.DataFrame) -> None:
    before = table.copy()
    view = apply_query(table, "fp >= 1", "score")
    assert view.dtype == np.int64
    assert view.tolist() == [1, 4, 5, 2]  # 0.5, 0.5 (tie in table order), 0.3, NaN last
    assert apply_query(table, "fp >= 1", "score:asc").tolist() == [5, 1, 4, 2]
    assert apply_query(table, "fp >= 1", "score", descending=False).tolist() == [5, 1, 4, 2]
    assert apply_query(table, None, None).tolist() == list(range(6))
    assert apply_query(table, "  ", "issue:asc").tolist() == [0, 3, 1, 5, 2, 4]
    assert apply_query(table, compile_filter("reviewed", table), "fp").tolist() == [2, 5, 0]
    pd.testing.assert_frame_equal(table, before)
    with pytest.raises(QueryError, match="unknown sort column 'scroe'"):
        apply_query(table, None, "scroe")
    with pytest.raises(QueryError, match="did you mean 'score'"):
        apply_query(table, "scroe > 1", "score")


def test_empty_table_and_empty_view(table: pd.DataFrame) -> None:
    empty = table.iloc[:0]
    assert apply_query(empty, "fp >= 1", "score").tolist() == []
    assert apply_query(table, "fp > 100", "issue").tolist() == []
    assert sort_view(table, np.array([], dtype=np.int64), "classes", True).tolist() == []
