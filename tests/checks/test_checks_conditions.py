"""The condition language: parsing (errors name the column), evaluation, hostile input."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from checks.conditions import (
    MAX_ACTUAL_CHARS,
    ConditionList,
    Document,
    PlaceholderSpec,
    condition_list,
    evaluate,
    failure_message,
    parse_condition,
    vocabulary,
)
from monitor.core.errors import ConditionSyntaxError
from monitor.core.results import ConditionResult

BODY = {
    "code": "E0000",
    "describe": "操作成功",
    "result": {
        "token": "abc",
        "empty": "",
        "zero": "0000",
        "n": 0,
        "null": None,
        "flag": True,
        "list": [{"invoiceNo": "044001900111", "amount": 12.5}, {"invoiceNo": "", "amount": "7"}],
        "odd.key": "dotted",
        "发票": {"号码": "12345678"},
    },
    "items": [1, 2, 3],
}


def values(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "STATUS": 200,
        "BODY": Document(json.dumps(BODY, ensure_ascii=False).encode()),
        "HEADER": httpx.Headers({"Content-Type": "application/json; charset=utf-8", "X-Count": "42"}),
        "RESPONSE_TIME": 123.4,
        "CERTIFICATE_EXPIRATION": 10 * 86400,
        "CONNECTED": True,
        "IP": "127.0.0.1",
        "VALUE": 7,
        "ROW": {"lag": timedelta(minutes=3), "n": Decimal("12.50"), "name": "ok"},
        "ROWS": 1,
        "VAR": {"invoice": "044001900111"},
    }
    base.update(over)
    return base


# (condition, ok, actual) against values() ------------------------------------------------------
EVALUATES = [
    ("[STATUS] == 200", True, 200),
    ("[STATUS] != 200", False, 200),
    ("[STATUS] < 400", True, 200),
    ("[STATUS] >= 500", False, 200),
    ("[STATUS] == any(200, 201, 204)", True, 200),
    ("[STATUS] != any(500, 502)", True, 200),
    ("[STATUS] == any(\"200\", '201')", True, 200),
    ("400 > [STATUS]", True, 200),
    ("500 <= [STATUS]", False, 200),
    ("[RESPONSE_TIME] < 800", True, 123.4),
    ("[RESPONSE_TIME] < 1s", True, 123.4),
    ("[RESPONSE_TIME] > 100ms", True, 123.4),
    ("[RESPONSE_TIME] < 0.1s", False, 123.4),
    ("[BODY].code == E0000", True, "E0000"),
    ("[BODY].code == \"E0000\"", True, "E0000"),
    ("[BODY].code != E0000", False, "E0000"),
    ("[BODY].describe == 操作成功", True, "操作成功"),
    ("[BODY].result.list[0].invoiceNo != \"\"", True, "044001900111"),
    ("[BODY].result.list[1].invoiceNo != \"\"", False, ""),
    ("[BODY].result.list[-1].amount == 7", True, "7"),
    ("[BODY].result.list[0].amount > 12", True, 12.5),
    ("[BODY].result.list[1].amount > 6", True, "7"),
    ("[BODY].result.list.0.amount == 12.5", True, 12.5),
    ("[BODY].result[\"odd.key\"] == dotted", True, "dotted"),
    ("[BODY].result.发票.号码 == 12345678", True, "12345678"),
    ("[BODY].result.zero == 0", False, "0000"),
    ("[BODY].result.zero == 0000", True, "0000"),
    ("[BODY].result.n == 0", True, 0),
    ("[BODY].result.n == 0.0", True, 0),
    ("[BODY].result.null == null", True, None),
    ("[BODY].result.flag == true", True, True),
    ("[BODY].result.flag == TRUE", True, True),
    ("[BODY].result.flag != false", True, True),
    ("[BODY].result.empty == \"\"", True, ""),
    ("[BODY] == pat(*E0000*)", True, None),  # actual checked separately (raw body text)
    ("[BODY] == pat(E0000*)", False, None),
    ("len([BODY].items) == 3", True, 3),
    ("len([BODY].items) > 0", True, 3),
    ("len([BODY].result) > 3", True, 9),
    ("len([BODY].code) == 5", True, 5),
    ("has([BODY].result.token) == true", True, True),
    ("has([BODY].result.missing) == false", True, False),
    ("has([BODY].result.missing) == true", False, False),
    ("[HEADER].content-type == pat(*json*)", True, "application/json; charset=utf-8"),
    ("[HEADER].CONTENT-TYPE == pat(application/json*)", True, "application/json; charset=utf-8"),
    ("[HEADER].content-type == pat(*xml*)", False, "application/json; charset=utf-8"),
    ("[HEADER].content-type != pat(*xml*)", True, "application/json; charset=utf-8"),
    ("[HEADER].x-count > 41", True, "42"),
    ("[HEADER].x-count == 42", True, "42"),
    ("[CERTIFICATE_EXPIRATION] > 72h", True, 864000),
    ("[CERTIFICATE_EXPIRATION] > 30d", False, 864000),
    ("[CERTIFICATE_EXPIRATION] > 259200", True, 864000),
    ("[CONNECTED] == true", True, True),
    ("[IP] == 127.0.0.1", True, "127.0.0.1"),
    ("[IP] == pat(127.0.0.?)", True, "127.0.0.1"),
    ("[IP] == pat(127.?.0.1*)", True, "127.0.0.1"),
    ("[IP] == pat(127.0.0.??)", False, "127.0.0.1"),
    ("[VALUE] < 10", True, 7),
    ("[ROW].lag < 10m", True, 180.0),
    ("[ROW].lag > 5m", False, 180.0),
    ("[ROW].n == 12.5", True, 12.5),
    ("[ROW].n >= 12.50", True, 12.5),
    ("[ROW].name == ok", True, "ok"),
    ("[ROWS] > 0", True, 1),
    ("[VAR].invoice == [BODY].result.list[0].invoiceNo", True, "044001900111"),
    ("[STATUS] < [VALUE]", False, 200),
    ("[VALUE] < [STATUS]", True, 7),
]


@pytest.mark.parametrize(("text", "ok", "actual"), EVALUATES, ids=[c[0] for c in EVALUATES])
def test_condition_evaluates_to_expected_outcome(text: str, ok: bool, actual: Any) -> None:
    result = parse_condition(text).evaluate(values())
    assert result.ok is ok, result
    assert result.error is None
    if actual is not None or "pat(" not in text:
        assert result.actual == actual


# (condition, values override, substring of the error) -- evaluation fails, never raises --------
FAILS = [
    ("[BODY].result.list[5].invoiceNo == x", {}, "[BODY].result.list has 2 items"),
    ("[BODY].nope.deeper == x", {}, "[BODY] has no 'nope'"),
    ("[BODY].code[0] == E", {}, "[BODY].code is text, not a list"),
    ("[BODY].items.first == 1", {}, "[BODY].items is a list of 3 items, not an object"),
    ("[BODY].a == 1", {"BODY": Document(b"<html>not json</html>")}, "body is not JSON"),
    ("[BODY].a == 1", {"BODY": Document(b"\xff\xfe\x00garbage")}, "body is not JSON"),
    ("[BODY].a == 1", {"BODY": Document(b"[" * 100_000 + b"]" * 100_000)}, "body is not JSON"),
    ("[BODY].a == 1", {"BODY": Document(b'{"a": ' + b"9" * 10_000 + b"}")}, "body is not JSON"),
    ("len([BODY].result.n) > 0", {}, "len() of a number"),
    ("[BODY].code > 3", {}, "text is not a number"),
    ("[HEADER].x-missing == 1", {}, "[HEADER] has no 'x-missing'"),
    ("[STATUS] == 200", {"STATUS": None}, None),
    ("[ROW].missing == 1", {}, "[ROW] has no 'missing'"),
    ("[VALUE] == 1", {"VALUE": None}, None),
    ("[STATUS] == 200", {"STATUS": "garbage"}, None),
]


@pytest.mark.parametrize(("text", "over", "error"), FAILS, ids=[f"{c[0]}|{i}" for i, c in enumerate(FAILS)])
def test_condition_that_cannot_hold_fails_with_reason(text: str, over: dict[str, Any], error: str | None) -> None:
    result = parse_condition(text).evaluate(values(**over))
    assert result.ok is False
    if error is not None:
        assert error in (result.error or ""), result
        assert result.actual is None or "len()" in text or ">" in text


def test_condition_names_the_placeholders_it_reads() -> None:
    assert parse_condition("[VAR].x == [BODY].y").placeholders == {"VAR", "BODY"}
    assert parse_condition("len([ROW].x) > 1").placeholders == {"ROW"}
    assert parse_condition("[CERTIFICATE_EXPIRATION] > 72h").placeholders == {"CERTIFICATE_EXPIRATION"}


def test_placeholder_the_result_lacks_fails_instead_of_raising() -> None:
    result = parse_condition("[STATUS] == 200").evaluate({})
    assert (result.ok, result.actual) == (False, None)
    assert "no value" in (result.error or "")


# (condition, substring of the error, column) -- rejected at load -------------------------------
SYNTAX_ERRORS = [
    ("", "empty condition", 1),
    ("   ", "empty condition", 1),
    ("[STATUS]", "no comparison", 9),
    ("[STATUS] = 200", "'=' is not an operator", 10),
    ("[STATUS] =! 200", "'=' is not an operator", 10),
    ("[STATUS] == ", "nothing right of ==", 12),
    ("== 200", "nothing left of ==", 1),
    ("[STATUS] == 200 == 300", "a second operator '=='", 17),
    ("[status] == 200", "did you mean [STATUS]?", 1),
    ("[FOO] == 1", "unknown placeholder [FOO]", 1),
    ("[STATUS.x] == 1", "not a placeholder", 1),
    ("[STATUS].code == 1", "[STATUS] takes no path", 9),
    ("[ROW] == 1", "[ROW] needs a name", 1),
    ("[HEADER] == x", "[HEADER] takes exactly one name", 1),
    ("[HEADER].a.b == x", "[HEADER] takes exactly one name", 1),
    ("[BODY]. == 1", "expected a key after '.'", 7),
    ("[BODY].a[x] == 1", "index must be a whole number", 10),
    ("[BODY].a[99999999999] == 1", "index must be a whole number", 10),
    ("[BODY].a[0 == 1", "never closed", 9),
    ("[BODY]x == 1", "unexpected 'x' after [BODY]", 7),
    ("[STATUS] == \"200", "quote is never closed", 13),
    ("[STATUS] == \"200\" x", "unexpected text after the closing quote", 18),
    ("[STATUS] == 200)", "unexpected ')'", 16),
    ("[STATUS] == any(200", "'(' is never closed", 16),
    ("[STATUS] == any()", "empty argument", 17),
    ("[STATUS] == any(1,,2)", "empty argument", 19),
    ("[STATUS] < any(1, 2)", "any() works only with == or !=", 10),
    ("[STATUS] >= pat(2*)", "pat() works only with == or !=", 10),
    ("[STATUS] == pat(a, b)", "pat() takes one pattern", 17),
    ("pat(a) == any(b)", "compares two constants", 1),
    ("200 == 200", "compares two constants", 1),
    ("[STATUS] < abc", "needs a number or a duration, not 'abc'", 10),
    ("[STATUS] < 9" + "9" * 200, "needs a number or a duration", 10),
    ("has([BODY].a) > 0", "has() is true or false", 15),
    ("len(200) > 1", "len() takes a placeholder", 5),
    ("len(len([BODY])) > 1", "len() takes a placeholder", 5),
    ("len([BODY] x) > 1", "len() takes one placeholder", 12),
    ("eval([BODY]) == 1", "unknown function eval()", 1),
    ("len([BODY]) x > 1", "unexpected text after len(...)", 13),
    ("[STATUS] == 200" + " " * 1000, "the limit is 1000", 1),
]


@pytest.mark.parametrize(("text", "message", "column"), SYNTAX_ERRORS, ids=[repr(c[0][:40]) for c in SYNTAX_ERRORS])
def test_bad_condition_is_rejected_naming_the_column(text: str, message: str, column: int) -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(text)
    assert message in str(info.value)
    if "limit" not in message:
        assert f"(column {column} of " in str(info.value)


HTTP = vocabulary("an http check", "STATUS", "BODY", "HEADER", "RESPONSE_TIME")
SQL = vocabulary("an sql check", "VALUE", "ROW", "ROWS")


@pytest.mark.parametrize(
    ("vocab", "text", "message"),
    [
        (HTTP, "[ROW].x == 1", "[ROW] is not available in an http check; use [STATUS], [BODY], [HEADER], [RESPONSE_TIME]"),
        (HTTP, "[VALUE] == 1", "[VALUE] is not available in an http check"),
        (SQL, "[STATUS] == 200", "[STATUS] is not available in an sql check; use [VALUE], [ROW], [ROWS]"),
        (SQL, "len([BODY]) > 0", "[BODY] is not available in an sql check"),
    ],
)
def test_placeholder_outside_the_kinds_vocabulary_is_rejected(vocab: Any, text: str, message: str) -> None:
    with pytest.raises(ConditionSyntaxError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_condition(text, vocab)


def test_kind_specific_placeholder_keeps_its_unit() -> None:
    vocab = vocabulary("a test", extra=[PlaceholderSpec("LAG_MS", unit="ms")])
    assert parse_condition("[LAG_MS] < 2s", vocab).evaluate({"LAG_MS": 1500}).ok
    assert not parse_condition("[LAG_MS] < 1s", vocab).evaluate({"LAG_MS": 1500}).ok


# hostile input ---------------------------------------------------------------------------------
def test_long_actual_value_is_truncated() -> None:
    long = "x" * 10_000
    result = parse_condition("[BODY] == short").evaluate({"BODY": Document(long.encode())})
    assert result.ok is False
    assert isinstance(result.actual, str) and len(result.actual) <= MAX_ACTUAL_CHARS


def test_structure_as_actual_is_previewed_briefly() -> None:
    big = {"items": [{"n": i, "name": "项目" * 10} for i in range(10_000)]}
    result = parse_condition("[BODY].items == x").evaluate({"BODY": Document(json.dumps(big).encode())})
    assert result.ok is False
    assert isinstance(result.actual, str) and len(result.actual) <= MAX_ACTUAL_CHARS
    assert result.actual.startswith('[{"n":0,')


def test_deeply_nested_value_is_previewed_without_recursion_error() -> None:
    nested: Any = 1
    for _ in range(5000):
        nested = [nested]
    result = parse_condition("[VAR].deep == 1").evaluate({"VAR": {"deep": nested}})
    assert result.ok is False and isinstance(result.actual, str)


@pytest.mark.parametrize(
    ("value", "actual"),
    [
        (10**400, "<1329-bit integer>"[:0] or None),  # JSON-safe text, checked below
        (float("inf"), "inf"),
        (float("nan"), "nan"),
        (Decimal("NaN"), "NaN"),
        (Decimal("1E+999999"), "1E+999999"),
        (b"\x00\xff bytes", "\x00\ufffd bytes"),
    ],
)
def test_extreme_values_compare_without_raising(value: Any, actual: Any) -> None:
    for text in ("[VALUE] == 1", "[VALUE] > 1", "[VALUE] != x", "len([VALUE]) > 0"):
        result = parse_condition(text).evaluate({"VALUE": value})
        assert isinstance(result, ConditionResult)
        json.dumps(result.actual)  # always storable
    if actual is not None:
        assert parse_condition("[VALUE] == 1").evaluate({"VALUE": value}).actual == actual


def test_huge_number_literal_does_not_break_parsing() -> None:
    c = parse_condition("[VALUE] == " + "9" * 900)
    assert c.evaluate({"VALUE": 9}).ok is False
    assert parse_condition("[VALUE] < 1e999").evaluate({"VALUE": 10**300}).ok


def test_pattern_on_a_large_body_matches_without_backtracking() -> None:
    text = "a" * 1_000_000
    adversarial = parse_condition("[BODY] == pat(*a*a*a*a*a*a*a*a*a*a*b)")
    assert adversarial.evaluate({"BODY": Document(text)}).ok is False
    qmarks = parse_condition("[BODY] == pat(*a?a?a?a?a?b*)")
    assert qmarks.evaluate({"BODY": Document(text)}).ok is False
    assert parse_condition("[BODY] == pat(a*a)").evaluate({"BODY": Document(text)}).ok is True


@pytest.mark.parametrize(
    ("glob", "text", "ok"),
    [
        ("*", "", True),
        ("", "", True),
        ("", "x", False),
        ("a*", "abc", True),
        ("*c", "abc", True),
        ("a*c", "ac", True),
        ("a*c", "abcbc", True),
        ("ab*bc", "abc", False),  # segments must not overlap
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("*.*", "a.b", True),
        ("[x]*", "[x]yz", True),  # brackets are plain text
        ("\\*", "\\abc", True),
        ("发票*", "发票号码", True),
        ("*?", "", False),
    ],
)
def test_pattern_globs_match_like_a_shell(glob: str, text: str, ok: bool) -> None:
    cond = parse_condition(f"[BODY] == pat({json.dumps(glob, ensure_ascii=False)})")
    assert cond.evaluate({"BODY": Document(text)}).ok is ok


FRAGMENTS = ["[BODY]", "[STATUS]", "[HEADER]", "[ROW]", ".", "a", "[", "]", "(", ")", "[0]", "[-1]", '"', "'", "\\",
             ",", " ", "==", "!=", "<", ">=", "=", "!", "any", "pat", "len", "has", "*", "?", "1", "72h", "e9", "发票"]


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200) | st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join))
def test_any_text_parses_or_raises_a_syntax_error(text: str) -> None:
    try:
        cond = parse_condition(text)
    except ConditionSyntaxError:
        return
    assert str(cond) == text
    result = cond.evaluate(values())
    assert isinstance(result.ok, bool)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([c[0] for c in EVALUATES]),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
        max_leaves=20,
    ),
)
def test_any_value_evaluates_without_raising(text: str, value: Any) -> None:
    vals = {name: value for name in ("STATUS", "RESPONSE_TIME", "CERTIFICATE_EXPIRATION", "CONNECTED", "IP", "VALUE", "ROW", "ROWS", "VAR", "HEADER")}
    vals["BODY"] = Document(json.dumps(value).encode())
    result = parse_condition(text).evaluate(vals)
    assert isinstance(result.ok, bool)
    json.dumps(result.actual)


# messages and config integration ---------------------------------------------------------------
def test_failure_message_says_what_failed_in_words() -> None:
    results = evaluate(
        [parse_condition(t) for t in ("[STATUS] == 200", "[BODY].x == 1", "[STATUS] < 400", "[BODY].code == \"\"")],
        values(STATUS=503),
    )
    message = failure_message(results, limit=4)
    assert message.startswith("[STATUS] == 200 failed: actual 503; [BODY].x == 1 failed: [BODY].x: not found")
    assert '[BODY].code == "" failed: actual E0000' in message
    assert failure_message(results[:1] * 5, limit=2).endswith("and 3 more")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    conditions: condition_list(HTTP) = Field(default_factory=list)  # type: ignore[valid-type]


def test_condition_list_validates_text_and_dumps_it_back() -> None:
    spec = _Spec.model_validate({"conditions": ["[STATUS] == 200", "len([BODY].items) > 0"]})
    assert spec.model_dump() == {"conditions": ["[STATUS] == 200", "len([BODY].items) > 0"]}
    assert _Spec.model_validate(spec.model_dump()) == spec
    assert _Spec.model_validate({"conditions": spec.conditions}) == spec
    schema = _Spec.model_json_schema()["properties"]["conditions"]
    assert schema["type"] == "array" and schema["items"]["type"] == "string"
    assert "[STATUS]" in schema["items"]["description"]


def test_bad_condition_in_a_list_names_its_index() -> None:
    with pytest.raises(ValidationError) as info:
        _Spec.model_validate({"conditions": ["[STATUS] == 200", "[ROW].x == 1", 7]})
    errors = info.value.errors(include_url=False)
    assert [e["loc"] for e in errors] == [("conditions", 1), ("conditions", 2)]
    assert "[ROW] is not available in an http check" in errors[0]["msg"]
    assert "a condition is text" in errors[1]["msg"]


def test_generic_condition_list_accepts_every_standard_placeholder() -> None:
    class Step(BaseModel):
        conditions: ConditionList  # type: ignore[valid-type]

    step = Step.model_validate({"conditions": ["[VAR].x == 1", "[ROWS] > 0", "[STATUS] == 200"]})
    assert [str(c) for c in step.conditions] == ["[VAR].x == 1", "[ROWS] > 0", "[STATUS] == 200"]
