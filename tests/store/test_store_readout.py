"""The read-only commands' Core reads (monitor.store.readout), over SQLite and PostgreSQL: the
clauses name real columns with their real types, and each read returns what the ORM reads of
the same rows."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from monitor.core.results import Result, Status
from monitor.store import Store, incidents, leadership, maintenance, nodes, readout, results
from monitor.store.engine import open_engine
from monitor.store.incidents import Incident
from monitor.store.maintenance import Silence
from monitor.store.schema import metadata
from tests.store.test_store_incidents import new_incident

# The records built from a whole clause: their fields are its columns, in its order.
WHOLE = [(readout.StateRecord, readout.STATES), (readout.NodeRecord, readout.NODES),
         (readout.LeaseRecord, readout.LEASES)]


@pytest.mark.parametrize("clause", readout.CLAUSES, ids=lambda c: c.name)
def test_each_clause_names_columns_of_its_table_with_their_types(clause: sa.TableClause) -> None:
    table = metadata().tables[clause.name]
    wrong = [(c.name, type(c.type).__name__, type(table.c[c.name].type).__name__ if c.name in table.c else "missing")
             for c in clause.c if c.name not in table.c or type(c.type) is not type(table.c[c.name].type)]
    assert wrong == []


@pytest.mark.parametrize(("record", "clause"), WHOLE, ids=lambda x: getattr(x, "__name__", ""))
def test_whole_row_records_have_the_clause_columns(record: type, clause: sa.TableClause) -> None:
    assert [f.name for f in dataclasses.fields(record)] == [c.name for c in clause.c]


def test_incident_and_silence_records_read_columns_of_their_clauses() -> None:
    incident = {f.name for f in dataclasses.fields(readout.IncidentRecord)} - {"updates"}
    assert incident <= set(readout.INCIDENTS.c.keys())
    assert {f.name for f in dataclasses.fields(readout.SilenceRecord)} <= set(readout.SILENCES.c.keys())


def test_reading_imports_no_orm() -> None:
    """What makes the read-only commands fast: the readout and the engine come without sqlmodel
    and the ORM classes (a fresh interpreter, so this suite's imports do not count)."""
    code = ("import sys, monitor.store.readout, monitor.store.engine; "
            "print(sorted(m for m in sys.modules if m.startswith(('sqlmodel', 'sqlalchemy.orm', 'monitor.store.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['monitor.store.engine', 'monitor.store.readout', 'monitor.store.types']"


def test_a_database_without_tables_reads_as_empty(db_url: str, t0: datetime) -> None:
    engine = open_engine(db_url, application_name="invoicewatch test")
    try:
        with engine.connect() as conn:
            ov = readout.overview(conn, t0)
    finally:
        engine.dispose()
    assert ov.empty and ov.states == [] and ov.incidents == [] and ov.nodes == [] and ov.lease is None


def _seed(store: Store, t0: datetime) -> dict[str, int]:
    store.write_results([Result("logon", Status.DOWN, t0, 43.5, "E1001 登录失败", location="bj"),
                         Result("search", Status.UP, t0, 120.0, "ok", location="sh")])
    with store.session() as s:
        results.save_decided(s, [
            {"check": "logon", "location": "bj", "status": "down", "since": t0 - timedelta(minutes=5),
             "data": {"v": 1, "locations": {"bj": {"runs": [3, 0, 0, 0]}}}},
            {"check": "logon", "location": "", "status": "down", "since": t0 - timedelta(minutes=4), "data": None},
        ])
        ids = {
            "resolved": incidents.save(s, new_incident("login", t0 - timedelta(hours=2), resolved_at=t0 - timedelta(hours=1),
                                                       status="resolved")).id,
            "open": incidents.save(s, new_incident("login", t0 - timedelta(minutes=5), acked_at=t0, acked_by="alice",
                                                   root_check="logon", data={"checks": ["logon"], "symptoms": ["search"]})).id,
            "newer": incidents.save(s, new_incident("query", t0 - timedelta(minutes=1), public=False)).id,
        }
        for target, start, end, ended in [("logon", -10, 60, None), ("query", 10, 60, None), ("sync", -10, 0, None),
                                          ("data", -10, 60, -5)]:
            maintenance.add_silence(s, Silence(
                target=target, target_kind="check", reason=f"why {target}", created_by="bob", created_at=t0,
                starts_at=t0 + timedelta(minutes=start), ends_at=t0 + timedelta(minutes=end),
                ended_at=None if ended is None else t0 + timedelta(minutes=ended)))
        s.commit()
    nodes.register(store.engine, nodes.NodeInfo("sh-1", "probe", "sh", "host-b", 7, "0.1"), t0)
    nodes.register(store.engine, nodes.NodeInfo("bj-1", "all", "bj", "host-a", 42, "0.1"), t0 - timedelta(seconds=5))
    with store.engine.begin() as conn:
        conn.execute(sa.insert(leadership.LEASES).values(name=leadership.NAME, term=3, holder="bj-1 host-a:42",
                                                         holder_pid=99, acquired_at=t0, renewed_at=t0))
    return {k: int(v or 0) for k, v in ids.items()}


def test_the_overview_reads_what_the_orm_reads(store: Store, t0: datetime) -> None:
    ids = _seed(store, t0)
    with store.engine.connect() as conn:
        ov = readout.overview(conn, t0)
    with store.session() as s:
        orm_states = results.states(s)
        orm_open = incidents.open_incidents(s)
        orm_silences = maintenance.active_silences(s, t0)
    assert not ov.empty and {"check_state", "incident", "silence", "monitor_node", "controller_lease"} <= ov.tables
    assert [dataclasses.astuple(r) for r in ov.states] == [
        (r.check, r.location, r.status, r.since, r.last_result_at, r.last_status, r.last_latency_ms, r.last_message, r.data)
        for r in orm_states]
    assert [(r.check, r.location) for r in ov.states] == [("logon", ""), ("logon", "bj"), ("search", "sh")]
    assert ov.states[1].since.tzinfo is not None and ov.states[1].data == {"v": 1, "locations": {"bj": {"runs": [3, 0, 0, 0]}}}
    assert [i.id for i in ov.incidents] == [i.id for i in orm_open] == [ids["open"], ids["newer"]], "open, oldest first"
    [first, newer] = ov.incidents
    assert (first.component, first.root_check, first.acked_by, first.acked_at, first.data, first.public) == (
        "login", "logon", "alice", t0, {"checks": ["logon"], "symptoms": ["search"]}, True)
    assert (first.time_to_detect_s, first.time_to_resolve_s) == (orm_open[0].time_to_detect_s, None) == (20.0, None)
    assert newer.public is False
    assert [(x.id, x.target, x.ends_at, x.created_by, x.reason) for x in ov.silences] == [
        (x.id, x.target, x.ends_at, x.created_by, x.reason) for x in orm_silences]
    assert [x.target for x in ov.silences] == ["logon"], "not yet started, expired and ended ones are not in force"
    assert [(n.name, n.role, n.location, n.host, n.pid, n.seen_at) for n in ov.nodes] == [
        ("bj-1", "all", "bj", "host-a", 42, t0 - timedelta(seconds=5)), ("sh-1", "probe", "sh", "host-b", 7, t0)]
    assert ov.lease is not None and (ov.lease.term, ov.lease.holder, ov.lease.renewed_at) == (3, "bj-1 host-a:42", t0)


def test_incidents_newest_first_with_a_limit_or_all(store: Store, t0: datetime) -> None:
    ids = _seed(store, t0)
    with store.engine.connect() as conn:
        assert [i.id for i in readout.incidents(conn, readout.tables(conn), limit=50, include_resolved=False)] == [ids["newer"], ids["open"]]
        assert [i.id for i in readout.incidents(conn, readout.tables(conn), limit=2, include_resolved=True)] == [ids["newer"], ids["open"]]
        everything = readout.incidents(conn, readout.tables(conn), limit=50, include_resolved=True)
    with store.session() as s:
        orm = {r.id: r for r in s.exec(select(Incident))}
    assert [i.id for i in everything] == [ids["newer"], ids["open"], ids["resolved"]]
    old = everything[-1]
    assert (old.resolved_at, old.time_to_resolve_s) == (orm[old.id].resolved_at, orm[old.id].time_to_resolve_s) == (
        t0 - timedelta(hours=1), 3600.0)
