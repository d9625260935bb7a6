"""The reads the status page makes (monitor.store.pages), over SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from monitor.core.results import Result, Status
from monitor.store import Store, announcements, incidents, maintenance, pages
from monitor.store.announcements import AnnouncementRow
from monitor.store.incidents import CHANGES, INCIDENTS, UPDATES, Incident
from monitor.store.maintenance import MaintenanceWindow
from monitor.store.outbox import ATTEMPTS, OUTBOX


def test_a_database_not_migrated_yet_reads_as_empty(db_url: str, t0: datetime) -> None:
    store = Store(db_url)
    try:
        with store.engine.connect() as conn:
            have = pages.tables(conn)
            assert "incident" not in have
            assert pages.current_statuses(conn, have) == {}
            assert pages.status_changes(conn, have, t0) == {}
            assert pages.incidents(conn, have, t0) == []
            assert pages.active_announcements(conn, have) == []
            assert pages.maintenance_windows(conn, have) == []
            assert pages.latency_samples(conn, have, ["登录"], t0) == []
    finally:
        store.close()


def test_status_history_starts_with_the_status_in_force_at_since(store: Store, t0: datetime) -> None:
    m = timedelta(minutes=1)
    with store.session() as s:
        incidents.write_component_statuses(s, {"login": "operational", "query": "operational"}, t0 - 90 * m)
        incidents.write_component_statuses(s, {"login": "partial_outage"}, t0 - 30 * m)
        incidents.write_component_statuses(s, {"login": "major_outage"}, t0 + 10 * m)
        s.commit()
    with store.engine.begin() as conn:  # two changes at one moment: the newest row wins
        conn.execute(sa.insert(CHANGES), [{"component": "tie", "at": t0 - 5 * m, "status": "operational"},
                                          {"component": "tie", "at": t0 - 5 * m, "status": "degraded_performance"}])
    with store.engine.connect() as conn:
        have = pages.tables(conn)
        changes = pages.status_changes(conn, have, t0)
        current = pages.current_statuses(conn, have)
    assert changes == {
        "login": [(t0 - 30 * m, "partial_outage"), (t0 + 10 * m, "major_outage")],
        "query": [(t0 - 90 * m, "operational")],
        "tie": [(t0 - 5 * m, "degraded_performance")],
    }
    assert (current["login"].status, current["login"].since) == ("major_outage", t0 + 10 * m)


def test_incidents_open_or_resolved_since_newest_first_with_their_updates(store: Store, t0: datetime) -> None:
    h = timedelta(hours=1)
    with store.session() as s:
        def add(component: str, started: datetime, resolved: datetime | None = None) -> int:
            row = incidents.save(s, Incident(component=component, title=component, status="resolved" if resolved else
                                             "investigating", impact="major", started_at=started, detected_at=started,
                                             resolved_at=resolved, public=component != "network"))
            return int(row.id or 0)

        old = add("login", t0 - 50 * h, t0 - 49 * h)
        recent = add("query", t0 - 5 * h, t0 - 4 * h)
        now_open = add("network", t0 - h)
        incidents.add_update(s, now_open, at=t0 - h, status="investigating", kind="auto", message="opened")
        incidents.add_update(s, now_open, at=t0, status="identified", kind="manual", message="ISP", author="bob")
        s.commit()
    with store.engine.connect() as conn:
        found = pages.incidents(conn, pages.tables(conn), t0 - 24 * h)
    assert [i.id for i in found] == [now_open, recent]
    assert old not in [i.id for i in found]
    assert [(u.kind, u.message, u.author) for u in found[0].updates] == [("manual", "ISP", "bob"), ("auto", "opened", None)]
    assert found[0].public is False and found[1].updates == []


def test_many_incidents_read_their_updates_in_chunks(store: Store, t0: datetime) -> None:
    n = 1234  # more than two IN (...) chunks
    with store.engine.begin() as conn:
        conn.execute(sa.insert(INCIDENTS), [
            {"component": f"c{i}", "title": "t", "status": "investigating", "impact": "minor", "started_at": t0,
             "detected_at": t0, "public": True} for i in range(n)])
        ids = list(conn.execute(sa.select(INCIDENTS.c.id)).scalars())
        conn.execute(sa.insert(UPDATES), [
            {"incident_id": i, "at": t0, "status": "investigating", "kind": "auto", "message": f"u{i}"} for i in ids])
    with store.engine.connect() as conn:
        found = pages.incidents(conn, pages.tables(conn), t0)
    assert len(found) == n and all([u.message for u in i.updates] == [f"u{i.id}"] for i in found)


def test_announcements_and_maintenance_the_page_shows(store: Store, t0: datetime) -> None:
    with store.session() as s:
        announcements.save(s, AnnouncementRow(components=["login"], title={"zh-CN": "登录故障", "en": None},
                                              body={"zh-CN": {"phenomenon": "无法登录", "scope": ""}, "en": "plain text"},
                                              created_at=t0, updated_at=t0))
        announcements.save(s, AnnouncementRow(components=["login"], title={"zh-CN": "旧"}, body={}, status="closed",
                                              created_at=t0, updated_at=t0, closed_at=t0))
        maintenance.add_window(s, MaintenanceWindow(title="升级", components=["login"], starts_at=t0,
                                                    ends_at=t0 + timedelta(hours=1), created_at=t0))
        maintenance.add_window(s, MaintenanceWindow(title="ended", components=[], starts_at=t0, ended_at=t0,
                                                    ends_at=t0 + timedelta(hours=1), created_at=t0))
        s.commit()
    with store.engine.connect() as conn:
        have = pages.tables(conn)
        [ann] = pages.active_announcements(conn, have)
        windows = pages.maintenance_windows(conn, have)
    assert ann.title == {"zh-CN": "登录故障"}, "empty translations are dropped"
    assert ann.body == {"zh-CN": {"phenomenon": "无法登录"}, "en": {"phenomenon": "plain text"}}
    assert [w.title for w in windows] == ["升级"]


def test_latency_samples_of_the_given_checks_since_a_time(store: Store, t0: datetime) -> None:
    results = [Result("登录", Status.UP, t0, 12.0), Result("登录", Status.DOWN, t0 + timedelta(seconds=5), None),
               Result("登录", Status.UP, t0 - timedelta(hours=2), 99.0), Result("查询", Status.UP, t0, 40.0),
               Result("other", Status.UP, t0, 1.0)]
    results[3].location = "sh"
    store.write_results(results)
    with store.engine.connect() as conn:
        have = pages.tables(conn)
        got = sorted(pages.latency_samples(conn, have, ["登录", "查询"], t0 - timedelta(minutes=1)))
        assert pages.latency_samples(conn, have, [], t0) == []
    assert got == [(t0, 12.0), (t0, 40.0)]


def test_outbox_depth_and_failed_deliveries_per_channel(store: Store, t0: datetime) -> None:
    def row(key: str, channel: str, at: datetime, status: str = "pending") -> dict[str, object]:
        return {"key": key, "channel": channel, "target_index": 0, "event": "incident.opened", "audience": "oncall",
                "language": "zh-CN", "status": status, "next_attempt_at": at, "created_at": at}

    with store.engine.begin() as conn:
        conn.execute(sa.insert(OUTBOX), [row("a", "oncall", t0), row("b", "oncall", t0 - timedelta(minutes=3)),
                                         row("c", "staff", t0, "sent"), row("d", "staff", t0, "failed")])
        ids = dict(conn.execute(sa.select(OUTBOX.c.key, OUTBOX.c.id)).all())
        conn.execute(sa.insert(ATTEMPTS), [{"outbox_id": ids["b"], "at": t0, "ok": False},
                                           {"outbox_id": ids["d"], "at": t0, "ok": False},
                                           {"outbox_id": ids["d"], "at": t0, "ok": False},
                                           {"outbox_id": ids["c"], "at": t0, "ok": True},
                                           {"outbox_id": ids["a"], "at": t0, "ok": None}])
    with store.engine.connect() as conn:
        have = pages.tables(conn)
        assert pages.outbox_pending(conn, have) == {"oncall": (2, t0 - timedelta(minutes=3))}
        assert pages.delivery_failures(conn, have) == {"oncall": 1, "staff": 2}
        assert pages.outbox_pending(conn, set()) == {} and pages.delivery_failures(conn, set()) == {}
