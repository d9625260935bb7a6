"""Durations, secrets and the clock: small parts everything else leans on."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.clock import FakeClock
from monitor.core.durations import format_duration, parse_duration
from monitor.core.secrets import MASK, RedactingFilter, Redactor


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25), ("2d", 172800), ("1w", 604800), ("1.5h", 5400),
     ("1h 30m", 5400), (45, 45), (0.5, 0.5), ("30", 30), ("0s", 0)],
)
def test_durations_as_admins_write_them(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [("5 minutes", "is not a duration"), ("1h30", "is not a duration"), ("", "is not a duration"),
     ("-5s", "cannot be negative"), (-1, "cannot be negative"), (True, "expected a duration"),
     (None, "expected a duration"), ([1], "expected a duration"), (float("nan"), "expected a duration"),
     (float("inf"), "expected a duration"), ("99999999999d", "too long"), (1e300, "too long")],
)
def test_bad_durations_raise_value_error_with_a_reason(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


@given(st.integers(min_value=0, max_value=10**12))
def test_format_then_parse_is_the_same_duration(ms: int) -> None:
    delta = timedelta(milliseconds=ms)
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (0.25, "250ms"), (1.5, "1s500ms"), (5400, "1h30m"), (90061, "1d1h1m1s")])
def test_durations_print_short(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


def test_redactor_masks_longest_secret_first_everywhere() -> None:
    r = Redactor(["token-123456", "token-123456-extended", "short"])
    assert len(r) == 2  # too-short values are not secrets: masking "short" everywhere helps nobody
    assert r.redact("a token-123456-extended b token-123456 c short") == f"a {MASK} b {MASK} c short"
    assert r.redact_obj({"k token-123456": ["token-123456", ("x", 1)], "n": None}) == {f"k {MASK}": [MASK, ("x", 1)], "n": None}


def test_redactor_treats_secrets_as_text_not_patterns() -> None:
    r = Redactor(["a.b*c+d(e"])
    assert r.redact("xa.b*c+d(ey aXbbc") == f"x{MASK}y aXbbc"


def test_log_records_lose_their_secrets() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(Redactor(["hunter2-secret"])))
    log = logging.getLogger("test_log_records_lose_their_secrets")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.error("login with %s failed", "hunter2-secret")
        try:
            raise RuntimeError("server said hunter2-secret is wrong")
        except RuntimeError:
            log.exception("boom")
    finally:
        log.removeHandler(handler)
    assert "hunter2-secret" not in stream.getvalue()
    assert f"login with {MASK} failed" in stream.getvalue() and f"server said {MASK} is wrong" in stream.getvalue()


def test_fake_clock_moves_only_forward_and_when_told() -> None:
    clock = FakeClock(datetime(2026, 3, 2, tzinfo=UTC))
    mono = clock.monotonic()
    assert clock.advance(timedelta(minutes=5)) == datetime(2026, 3, 2, 0, 5, tzinfo=UTC)
    assert clock.monotonic() == mono + 300
    clock.set(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    assert clock.now() == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        FakeClock(datetime(2026, 3, 2))
