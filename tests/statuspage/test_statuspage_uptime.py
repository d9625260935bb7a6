"""The uptime formula: pure arithmetic over status intervals (no database, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.statuspage.uptime import STATUSES, Tally, floor_percent, tally, tally_spans, to_us

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = 1_000_000  # microseconds in a second
DAY = 86_400 * S
START = to_us(T0)


def at(seconds: float) -> int:
    return START + int(seconds * S)


@pytest.mark.parametrize(
    ("changes", "span", "expected"),
    [
        pytest.param([(0, "operational")], DAY, Decimal("100.00"), id="all-operational"),
        pytest.param([(0, "degraded_performance")], DAY, Decimal("100.00"), id="degraded-counts-as-up"),
        pytest.param([(0, "under_maintenance")], DAY, Decimal("100.00"), id="maintenance-counts-as-up"),
        pytest.param([(0, "major_outage")], DAY, Decimal("0.00"), id="major-outage-counts-as-down"),
        pytest.param([(0, "partial_outage")], DAY, Decimal("50.00"), id="partial-outage-counts-half"),
        pytest.param([(0, "operational"), (DAY // 2, "major_outage")], DAY, Decimal("50.00"), id="half-day-down"),
        pytest.param([(0, "operational"), (DAY - S, "major_outage")], DAY, Decimal("99.99"),
                     id="one-second-down-is-not-100"),
        pytest.param([(0, "operational"), (90 * DAY - 1, "major_outage")], 90 * DAY, Decimal("99.99"),
                     id="one-microsecond-in-90-days-is-not-100"),
        pytest.param([(DAY // 2, "operational")], DAY, Decimal("100.00"), id="time-before-first-change-excluded"),
        pytest.param([(0, "operational"), (DAY // 4, "unknown"), (DAY // 2, "major_outage")], DAY,
                     Decimal("33.33"), id="unknown-status-excluded-and-floored"),
        pytest.param([], DAY, None, id="no-data-at-all"),
        pytest.param([(DAY * 2, "operational")], DAY, None, id="history-starts-after-span"),
    ],
)
def test_uptime_formula(changes: list[tuple[int, str]], span: int, expected: Decimal | None) -> None:
    history = [(START + t, s) for t, s in changes]
    assert tally(history, START, START + span).percent == expected


def test_uptime_rounds_down_not_to_nearest() -> None:
    # 99.995 % would round to 100.00; floor gives 99.99.
    assert floor_percent(99_995, 100_000) == Decimal("99.99")
    assert floor_percent(2, 3) == Decimal("66.66")


def test_status_before_span_carries_into_span() -> None:
    history = [(at(-3600), "major_outage"), (at(1800), "operational")]
    t = tally(history, at(0), at(3600))
    assert t.percent == Decimal("50.00")
    assert t.down_minutes == 30


def test_daily_spans_split_an_outage_across_midnight() -> None:
    history = [(at(0), "operational"), (at(86_400 - 600), "major_outage"), (at(86_400 + 1200), "operational")]
    days = tally_spans(history, [at(0), at(86_400), at(2 * 86_400)])
    assert [d.down_minutes for d in days] == [10, 20]
    assert [d.level for d in days] == ["minor", "major"]


@pytest.mark.parametrize(
    ("down_minutes", "level"),
    [(0, "ok"), (1, "minor"), (15, "minor"), (16, "major"), (120, "major"), (121, "critical")],
)
def test_bar_level_by_downtime_minutes(down_minutes: int, level: str) -> None:
    down = down_minutes * 60 * S
    assert Tally(known=DAY, up_halves=2 * (DAY - down), major=down).level == level


def test_day_without_data_has_no_level_colour() -> None:
    assert Tally().level == "nodata"
    assert Tally().percent is None


def test_partial_outage_minutes_count_half_in_bars() -> None:
    history = [(at(0), "partial_outage"), (at(3600), "operational")]
    (day,) = tally_spans(history, [at(0), at(86_400)])
    assert day.down_minutes == 30
    assert day.partial == 3600 * S


changes_strategy = st.lists(
    st.tuples(st.integers(0, 10 * 86_400), st.sampled_from([*STATUSES, "unknown"])), max_size=40
).map(lambda xs: sorted((START + t * S, s) for t, s in xs))


@given(changes_strategy)
def test_floor_never_exceeds_exact_ratio_and_100_only_without_downtime(history: list[tuple[int, str]]) -> None:
    t = tally(history, START, START + 10 * DAY)
    if t.known == 0:
        assert t.percent is None
        return
    exact = Decimal(t.up_halves) / Decimal(2 * t.known) * 100
    assert t.percent is not None
    assert t.percent <= exact < t.percent + Decimal("0.01")
    assert (t.percent == 100) == (t.major == 0 and t.partial == 0)


@given(changes_strategy, st.integers(1, 9))
def test_daily_spans_add_up_to_the_whole(history: list[tuple[int, str]], cut: int) -> None:
    whole = tally(history, START, START + 10 * DAY)
    parts = tally_spans(history, [START, START + cut * DAY, START + 10 * DAY])
    assert sum(p.known for p in parts) == whole.known
    assert sum(p.up_halves for p in parts) == whole.up_halves


def test_changes_after_now_are_ignored() -> None:
    history = [(at(0), "operational"), (at(7200), "major_outage")]
    assert tally(history, at(0), at(3600)).percent == Decimal("100.00")


def test_window_of_zero_length_is_empty() -> None:
    assert tally([(at(0), "operational")], at(10), at(10)) == Tally()


def test_to_us_is_exact_for_microseconds() -> None:
    t = T0 + timedelta(days=12345, microseconds=7)
    assert to_us(t) - to_us(T0) == 12345 * DAY + 7
