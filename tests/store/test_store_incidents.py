"""Incidents, their timeline and component status history (monitor.store.incidents), over
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from monitor.store import Store, incidents, readout
from monitor.store.incidents import DECIDING_LOCK, ComponentStatusChange, Incident


def new_incident(component: str, at: datetime, **kw: object) -> Incident:
    values: dict[str, object] = {"title": f"{component} down", "status": "investigating", "impact": "critical",
                                 "started_at": at, "detected_at": at + timedelta(seconds=20), "public": True,
                                 "data": {"checks": [component]}}
    values.update(kw)
    return Incident(component=component, **values)


def test_saved_incident_gets_an_id_and_round_trips(store: Store, t0: datetime) -> None:
    with store.session() as s:
        row = incidents.save(s, new_incident("login", t0, data={"evidence": {"step": "登录", "http_status": 503}}))
        assert row.id is not None
        s.commit()
    with store.session() as s:
        got = incidents.get(s, int(row.id))
    assert got is not None
    assert (got.component, got.started_at, got.time_to_detect_s, got.time_to_resolve_s) == ("login", t0, 20.0, None)
    assert got.data == {"evidence": {"step": "登录", "http_status": 503}}
    with store.session() as s:
        assert incidents.get(s, 999) is None
        assert incidents.get(s, 999, lock=True) is None


def test_open_incidents_oldest_first_and_last_resolution_per_component(store: Store, t0: datetime) -> None:
    with store.session() as s:
        a = incidents.save(s, new_incident("login", t0, resolved_at=t0 + timedelta(minutes=5), status="resolved"))
        b = incidents.save(s, new_incident("login", t0 + timedelta(hours=1), resolved_at=t0 + timedelta(hours=2)))
        c = incidents.save(s, new_incident("query", t0 + timedelta(hours=3)))
        d = incidents.save(s, new_incident("login", t0 + timedelta(hours=4)))
        s.commit()
    with store.session() as s:
        assert [i.id for i in incidents.open_incidents(s)] == [c.id, d.id]
        assert [i.id for i in incidents.open_incidents(s, lock=True)] == [c.id, d.id]
        last = incidents.last_resolved(s)
        assert last == {"login": t0 + timedelta(hours=2)} and last["login"].tzinfo is not None
        conn = s.connection()
        assert [i.id for i in readout.incidents(conn, readout.tables(conn), limit=10, include_resolved=False)] == [d.id, c.id]
        assert [i.id for i in readout.incidents(conn, readout.tables(conn), limit=3, include_resolved=True)] == [d.id, c.id, b.id]
        recent = incidents.open_or_resolved_since(s, t0 + timedelta(hours=1))
        assert [i.id for i in recent] == [b.id, c.id, d.id], "a recently resolved one is still looked at"
        assert a.id not in {i.id for i in recent}


def test_timeline_entries_in_order_with_author_and_data(store: Store, t0: datetime) -> None:
    with store.session() as s:
        inc = incidents.save(s, new_incident("login", t0))
        iid = int(inc.id or 0)
        first = incidents.add_update(s, iid, at=t0, status="investigating", kind="auto", message="opened",
                                     data={"action": "opened"})
        incidents.add_update(s, iid, at=t0, status="identified", kind="manual", message="vendor says 令牌过期",
                             author="alice", data={"action": "update"})
        assert first.id is not None, "the id is known before commit: the notice cites it"
        s.commit()
    with store.session() as s:
        entries = incidents.timeline(s, iid)
    assert [(e.kind, e.status, e.author, e.message, e.data) for e in entries] == [
        ("auto", "investigating", None, "opened", {"action": "opened"}),
        ("manual", "identified", "alice", "vendor says 令牌过期", {"action": "update"}),
    ]


def test_component_status_history_one_row_per_transition(store: Store, t0: datetime) -> None:
    steps = [
        ({"login": "operational", "query": "operational"}, ["login", "query"]),
        ({"login": "operational", "query": None}, []),  # nothing reporting: left as it was
        ({"login": "major_outage", "query": "operational"}, ["login"]),
        ({"login": "major_outage"}, []),
        ({"login": "operational"}, ["login"]),
    ]
    for i, (statuses, changed) in enumerate(steps):
        with store.session() as s:
            assert incidents.write_component_statuses(s, statuses, t0 + timedelta(minutes=i)) == changed
            s.commit()
    with store.session() as s:
        current = incidents.component_statuses(s)
        history = s.exec(select(ComponentStatusChange).order_by(sa.column("id"))).all()
    assert {c: (r.status, r.since) for c, r in current.items()} == {
        "login": ("operational", t0 + timedelta(minutes=4)), "query": ("operational", t0)}
    assert [(h.component, h.status) for h in history] == [
        ("login", "operational"), ("query", "operational"), ("login", "major_outage"), ("login", "operational")]


def test_nothing_is_written_until_the_caller_commits(store: Store, t0: datetime) -> None:
    with store.session() as s:
        incidents.save(s, new_incident("login", t0))
        incidents.write_component_statuses(s, {"login": "major_outage"}, t0)
        s.rollback()
    with store.session() as s:
        assert incidents.open_incidents(s) == [] and incidents.component_statuses(s) == {}


def test_deciding_lock_serialises_two_controllers(pg_store: Store) -> None:
    """Held by one deciding transaction until it ends; another cannot take it meanwhile."""
    with pg_store.session() as s:
        incidents.lock_deciding(s)
        with pg_store.engine.connect() as other:
            taken = other.execute(sa.text("select pg_try_advisory_xact_lock(:k)"), {"k": DECIDING_LOCK}).scalar()
            assert taken is False
            other.rollback()
        s.commit()
    with pg_store.engine.connect() as other:
        assert other.execute(sa.text("select pg_try_advisory_xact_lock(:k)"), {"k": DECIDING_LOCK}).scalar() is True


def test_deciding_lock_is_a_no_op_on_sqlite(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    store.migrate()
    with store.session() as s:
        incidents.lock_deciding(s)
        s.commit()
    store.close()


def test_locked_reads_keep_a_cli_change_out_of_a_decision(pg_store: Store, t0: datetime) -> None:
    """Open incidents read for deciding stay locked until the decision commits."""
    with pg_store.session() as s:
        iid = int(incidents.save(s, new_incident("login", t0)).id or 0)
        s.commit()
    with pg_store.session() as deciding:
        incidents.open_incidents(deciding, lock=True)
        with pg_store.session() as cli:
            cli.connection().execute(sa.text("SET LOCAL lock_timeout = '50ms'"))
            with pytest.raises(sa.exc.OperationalError, match="lock"):
                incidents.get(cli, iid, lock=True)
        deciding.commit()
    with pg_store.session() as cli:
        assert incidents.get(cli, iid, lock=True) is not None
