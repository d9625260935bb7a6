"""The timing and evidence rules of issue 12, as pure functions with a moved clock: check
weight, enough data for uptime, affected components, what an announcement update says
changed, and no announcement for an outage already over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.config.notifications import Announcements
from monitor.rulebook import components as c
from monitor.rulebook.announcements import announcement_action, change_of
from monitor.rulebook.paging import IncidentView

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(("healths", "expected"), [
    ([("down", "critical"), ("up", "normal")], c.MAJOR_OUTAGE),  # login down, gateway up: nobody logs in
    ([("down", "normal"), ("up", "normal")], c.PARTIAL_OUTAGE),
    ([("down", "minor"), ("up", "normal")], c.DEGRADED_PERFORMANCE),
    ([("down", "minor")], c.DEGRADED_PERFORMANCE),
    ([("up", "critical"), ("down", "normal")], c.PARTIAL_OUTAGE),  # critical up: counted as usual
    ([("unknown", "critical")], None),
    (["down", "up"], c.PARTIAL_OUTAGE),  # bare healths weigh normal
])
def test_check_weight_decides_what_a_down_check_means(healths: list, expected: str | None) -> None:  # type: ignore[type-arg]
    assert c.derive(healths) == expected


def test_uptime_needs_a_quarter_of_the_window() -> None:
    day = timedelta(hours=24)
    assert not c.enough_data(timedelta(minutes=7), day)
    assert not c.enough_data(timedelta(hours=5, minutes=59), day)
    assert c.enough_data(timedelta(hours=6), day)


def test_a_component_is_affected_only_by_failing_symptoms_of_another() -> None:
    incidents = [(1, "login", ["发票查询", "数据同步", "开票"])]
    comp = {"发票查询": "query", "数据同步": "sync", "开票": "issuance", "登录": "login"}
    kind = {"发票查询": "query", "数据同步": "freshness", "开票": "issuance"}
    got = c.affected_components(incidents, comp, kind, failing={"发票查询", "数据同步"})
    assert got == {"query": c.Affected("login", 1, False, ("发票查询",)),
                   "sync": c.Affected("login", 1, True, ("数据同步",))}  # issuance recovered: not affected


@pytest.mark.parametrize(("before", "after", "expected"), [
    ({"status": "investigating", "impact": "critical"}, {"status": "monitoring", "impact": "critical"}, "recovered"),
    ({"status": "monitoring", "impact": "critical"}, {"status": "investigating", "impact": "critical"}, "relapsed"),
    ({"status": "investigating", "impact": "major"}, {"status": "investigating", "impact": "critical"}, "worse"),
    ({"status": "identified", "impact": "critical"}, {"status": "identified", "impact": "minor"}, "better"),
    ({"status": "monitoring", "impact": "critical"}, {"status": "resolved", "impact": "critical"}, "resolved"),
])
def test_an_update_says_what_changed(before: dict, after: dict, expected: str) -> None:  # type: ignore[type-arg]
    assert change_of(before, after) == expected


def test_an_outage_over_before_the_delay_never_reaches_staff() -> None:
    settings = Announcements()
    view = IncidentView(1, "login", "critical", "登录服务中断", "investigating", T0, started_at=T0)
    assert announcement_action(view, None, T0 + timedelta(minutes=5), settings) == "publish"
    recovered = IncidentView(1, "login", "critical", "登录服务中断", "monitoring", T0, started_at=T0)
    assert announcement_action(recovered, None, T0 + timedelta(minutes=5), settings) is None


@pytest.mark.parametrize(("outcomes", "expected"), [
    ("uuuuuddd", None),  # an outage beginning: the successes before it are not part of it
    ("dddud", None),  # one lucky run is not a pattern
    ("duuuuudud", None),  # five successes in a row: what failed before them is over
    ("dudud", (3, 5)),  # an error rate: successes keep coming between the failures
    ("ddduuuuuddd", None),  # recovered in between: two outages, not one intermittent failure
    ("uuddgudud", (5, 7)),  # degraded runs count as failing
])
def test_a_down_check_with_successes_between_its_failures_is_intermittent(outcomes: str, expected: object) -> None:
    from monitor.rulebook.check_state import CheckState, intermittent

    state = CheckState("q", T0, health="down", outcomes=outcomes)
    assert intermittent(state) == expected
    assert intermittent(CheckState("q", T0, health="up", outcomes=outcomes)) is None


def test_an_intermittent_check_makes_at_most_a_partial_outage() -> None:
    assert c.derive([(c.PARTIAL, "critical")]) == c.PARTIAL_OUTAGE
    assert c.derive([(c.PARTIAL, "minor")]) == c.DEGRADED_PERFORMANCE
    assert c.derive([(c.PARTIAL, "normal"), ("down", "critical")]) == c.MAJOR_OUTAGE  # another is wholly down
