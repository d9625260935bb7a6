"""SLO status (monitor.store.slo) and the result outcomes SLO series are refilled from, over
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.core.results import Result, Status
from monitor.store import Store, rollups, slo
from monitor.store.slo import SloStatus


def test_slo_status_is_written_and_updated_in_place(store: Store, t0: datetime) -> None:
    with store.session() as s:
        slo.save(s, SloStatus(slo="login", component="login", objective=0.995, good=10, total=11,
                              budget_remaining=-0.8, burn={"1h": 18.2, "5m": 20.0}, alert="page",
                              alert_since=t0, updated_at=t0))
        s.commit()
    with store.session() as s:
        row = slo.statuses(s)["login"]
        assert (row.good, row.total, row.burn, row.alert, row.alert_since) == (10, 11, {"1h": 18.2, "5m": 20.0}, "page", t0)
        row.alert, row.alert_since, row.updated_at = "none", None, t0 + timedelta(minutes=1)
        slo.save(s, row)
        s.commit()
    with store.session() as s:
        assert {k: (v.alert, v.updated_at) for k, v in slo.statuses(s).items()} == {
            "login": ("none", t0 + timedelta(minutes=1))}


def test_outcomes_of_checks_since_a_time_every_location(store: Store, t0: datetime) -> None:
    rows = [Result("登录", Status.UP, t0 - timedelta(hours=2), 10.0), Result("登录", Status.DOWN, t0, None),
            Result("查询", Status.DEGRADED, t0 + timedelta(seconds=1), 900.0), Result("other", Status.UP, t0, 1.0)]
    rows[1].location = "sh"
    store.write_results(rows)
    with store.session() as s:
        got = sorted(rollups.outcomes(s, ["登录", "查询"], t0 - timedelta(minutes=1)))
    assert got == [(t0, "down", None), (t0 + timedelta(seconds=1), "degraded", 900.0)]
