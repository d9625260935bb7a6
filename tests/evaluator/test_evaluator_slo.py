"""Error budget and multi-window burn-rate alerts over synthetic 30-day series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.rulebook.slo import Series, is_good, report, series_from

NOW = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
OBJECTIVE = 0.995  # budget: 0.5% of probes
MINUTES = 30 * 24 * 60


def month(per_minute: int = 1, bad_every: int = 0) -> Series:
    """30 days ending at NOW, `per_minute` probes a minute, every `bad_every`-th minute bad."""
    s = Series()
    for i in range(MINUTES):
        at = NOW - timedelta(minutes=MINUTES - 1 - i)
        bad = bool(bad_every) and i % bad_every == 0
        s.add(at, not bad, per_minute)
    return s


def make_bad(s: Series, start_ago: timedelta, end_ago: timedelta, per_minute: int = 1, bad: int | None = None) -> None:
    """Turn the minutes in (NOW-start_ago, NOW-end_ago] bad (all, or `bad` of `per_minute`);
    the minute of NOW is the newest, so "the last hour" is the 60 minutes ending with it."""
    at = NOW - start_ago + timedelta(minutes=1)
    while at <= NOW - end_ago:
        minute = int(at.timestamp()) // 60
        s._buckets[minute] = [per_minute, per_minute if bad is None else bad]
        at += timedelta(minutes=1)


def test_known_budget_spend_leaves_the_rest() -> None:
    # 43,200 probes, 0.5% may fail = 216; 108 fail (every 400th) -> half the budget left.
    rep = report(month(bad_every=400), NOW, OBJECTIVE)
    assert rep.total == MINUTES and rep.total - rep.good == 108
    assert rep.budget_remaining == pytest.approx(0.5)
    assert rep.alert == "none"
    assert rep.burn["3d"] == pytest.approx(0.5, rel=0.1)


def test_clean_month_has_the_whole_budget() -> None:
    rep = report(month(), NOW, OBJECTIVE)
    assert rep.budget_remaining == 1.0 and all(b == 0 for b in rep.burn.values()) and rep.alert == "none"


def test_an_hour_at_fourteen_point_four_x_spends_two_percent_and_pages() -> None:
    s = month(per_minute=1000)
    make_bad(s, timedelta(hours=1), timedelta(0), per_minute=1000, bad=72)  # 7.2% bad = 14.4 x 0.5%
    rep = report(s, NOW, OBJECTIVE)
    assert rep.burn["1h"] == pytest.approx(14.4) and rep.burn["5m"] == pytest.approx(14.4)
    assert 1 - rep.budget_remaining == pytest.approx(0.02)
    assert (rep.alert, rep.rule) == ("page", "1h&5m>=14.4")


def test_just_below_fourteen_point_four_x_does_not_page_on_the_fast_rule() -> None:
    s = month(per_minute=1000)
    make_bad(s, timedelta(hours=1), timedelta(0), per_minute=1000, bad=71)
    rep = report(s, NOW, OBJECTIVE)
    assert rep.rule != "1h&5m>=14.4"


def test_a_burn_that_stopped_stops_paging_and_leaves_a_ticket() -> None:
    s = month(bad_every=400)
    make_bad(s, timedelta(hours=3), timedelta(hours=2))  # an hour of total outage, two hours ago
    rep = report(s, NOW, OBJECTIVE)
    assert rep.burn["1h"] == 0 and rep.burn["5m"] == 0 and rep.burn["30m"] == 0
    assert rep.burn["6h"] >= 6
    assert (rep.alert, rep.rule) == ("ticket", "3d&6h>=1")


def test_six_hours_at_six_x_pages_on_the_slow_rule() -> None:
    s = month(per_minute=1000)
    make_bad(s, timedelta(hours=6), timedelta(0), per_minute=1000, bad=30)  # 3% = 6 x 0.5%
    rep = report(s, NOW, OBJECTIVE)
    assert rep.burn["1h"] == pytest.approx(6) and rep.burn["6h"] == pytest.approx(6)
    assert (rep.alert, rep.rule) == ("page", "6h&30m>=6")
    assert 1 - rep.budget_remaining == pytest.approx(0.05)


def test_three_days_slightly_over_budget_opens_a_ticket() -> None:
    s = month(per_minute=1000)
    make_bad(s, timedelta(days=3), timedelta(0), per_minute=1000, bad=6)  # 0.6% = 1.2x
    rep = report(s, NOW, OBJECTIVE)
    assert rep.burn["3d"] == pytest.approx(1.2)
    assert (rep.alert, rep.rule) == ("ticket", "3d&6h>=1")
    assert 1 - rep.budget_remaining == pytest.approx(0.12)


def test_overspent_budget_goes_negative() -> None:
    s = month()
    make_bad(s, timedelta(hours=12), timedelta(hours=6))  # 360 bad > 216 allowed
    rep = report(s, NOW, OBJECTIVE)
    assert rep.budget_remaining == pytest.approx(1 - 360 / 216)


def test_slow_probes_count_against_a_latency_slo_and_maintenance_does_not_count() -> None:
    rows = [(NOW - timedelta(minutes=i), "up", 2000.0 if i < 10 else 100.0) for i in range(100)]
    rows += [(NOW - timedelta(minutes=i), "down", None) for i in range(40, 60)]
    maintenance = [(NOW - timedelta(minutes=70), NOW - timedelta(minutes=50)), (NOW - timedelta(minutes=65), NOW - timedelta(minutes=45))]
    s = series_from(rows, 1.5, maintenance)
    rep = report(s, NOW, OBJECTIVE)
    # 120 probes; those 46..70 minutes ago are inside maintenance (25 ups, 14 downs) and not
    # counted. Bad: 10 slow + the downs 40..45 minutes ago.
    assert rep.total == 120 - 25 - 14
    assert rep.total - rep.good == 10 + 6


def test_good_means_not_down_and_fast_enough() -> None:
    assert is_good("up", 100, 1.5) and is_good("degraded", 100, 1.5)
    assert not is_good("down", 10, None) and not is_good("up", 1600, 1.5)
    assert is_good("up", None, 1.5)


def test_pruning_keeps_the_window_only() -> None:
    s = month()
    s.prune(NOW - timedelta(days=1))
    assert len(s) == 24 * 60 + 1  # the minute a day ago, inclusive
