"""Nodes and the intake: each node numbers its results in its own sequence, the leader reads
them by (node, number) once each, and no result committed late slips past the reader."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from monitor.core.clock import FakeClock
from monitor.core.results import ConditionResult, Result, Status, StepResult
from monitor.store import Store, intake, nodes, results
from monitor.store.nodes import NodeInfo, NodePresence

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def at(check: str, location: str, seconds: int, status: Status = Status.DOWN) -> Result:
    return Result(check, status, T0 + timedelta(seconds=seconds), 3.0, f"{location} {seconds}", location=location,
                  conditions=[ConditionResult("[STATUS] == 200", False, 503)],
                  steps=[StepResult("登录", Status.DOWN, 3.0, "refused")])


def read(store: Store, cursors: dict[str, int], **kw: object) -> tuple[dict[str, int], list[Result]]:
    with store.session() as s:
        return intake.read_new(s, cursors, nodes.heads(nodes.listing(s.connection())), **kw)  # type: ignore[arg-type]


def test_each_node_numbers_its_results_and_they_are_read_once_in_order(store: Store) -> None:
    store.write_results([at("a", "sh", 0), at("a", "sh", 1)], node="sh-1")
    store.write_results([at("a", "bj", 2)], node="bj-1")
    store.write_results([at("b", "sh", 3)], node="sh-1")
    assert [(r.node, r.seq) for r in store.results(newest_first=False)] == [
        ("sh-1", 1), ("sh-1", 2), ("bj-1", 1), ("sh-1", 3)]
    cursors, seen = read(store, {}, skip=("bj-1",))
    assert [r.message for r in seen] == ["sh 0", "sh 1", "sh 3"], "a node never read before: from its first result"
    assert cursors == {"sh-1": 3}, "the skipped node (our own) keeps no cursor"
    again = seen[0]
    assert (again.check, again.location, again.status, again.started_at) == ("a", "sh", Status.DOWN, T0)
    assert again.conditions == [ConditionResult("[STATUS] == 200", False, 503)]
    assert [(st.name, st.status, st.message) for st in again.steps] == [("登录", Status.DOWN, "refused")]
    assert read(store, cursors, skip=("bj-1",)) == (cursors, []), "nothing twice"
    store.write_results([at("b", "sh", 4), at("b", "sh", 5), at("b", "sh", 6)], node="sh-1")
    cursors, seen = read(store, cursors, batch=2)
    assert [r.message for r in seen] == ["bj 2", "sh 4", "sh 5"], "bounded per node and read"
    cursors, seen = read(store, cursors, batch=2)
    assert [r.message for r in seen] == ["sh 6"]
    with store.engine.connect() as conn:
        [bj, sh] = nodes.listing(conn)
    assert (bj.name, bj.seq, bj.results, bj.last_result_at) == ("bj-1", 1, 1, T0 + timedelta(seconds=2))
    assert (sh.name, sh.seq, sh.results, sh.last_result_at) == ("sh-1", 6, 6, T0 + timedelta(seconds=6))


def test_a_refused_result_leaves_a_gap_the_reader_steps_over(store: Store) -> None:
    bad = at("a", "sh", 1)
    bad.started_at = bad.started_at.replace(tzinfo=None)  # a buggy check's naive time: refused as data
    rejected = store.write_results([at("a", "sh", 0), bad, at("a", "sh", 2)], node="sh-1")
    assert [r.message for r, _ in rejected] == ["sh 1"]
    cursors, seen = read(store, {})
    assert [r.message for r in seen] == ["sh 0", "sh 2"] and cursors == {"sh-1": 3}


def test_rows_written_without_a_node_are_not_intake(store: Store) -> None:
    store.write_results([at("a", "sh", 0)])  # the store alone, as the first releases wrote
    assert read(store, {}) == ({}, [])


def test_cursors_are_saved_with_the_states(store: Store) -> None:
    with store.session() as s:
        intake.save_cursors(s, {"sh-1": 4, "bj-1": 9})
        s.commit()
    with store.session() as s:
        intake.save_cursors(s, {"sh-1": 7})
        s.commit()
    with store.session() as s:
        assert intake.load_cursors(s) == {"sh-1": 7, "bj-1": 9}


async def test_presence_registers_reports_and_says_goodbye(store: Store, clock: FakeClock) -> None:
    info = NodeInfo("sh-1", "probe", "sh", "host-a", 4242, "0.1.0")
    presence = NodePresence(store.engine, info, clock=clock, every=0.05, silent_after=timedelta(minutes=1))
    await presence.start()
    started = clock.now()
    clock.advance(30)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while presence.reports == 0:
        assert loop.time() < deadline, "no report within 10 s"
        await asyncio.sleep(0.02)
    with store.engine.connect() as conn:
        [row] = nodes.listing(conn)
    assert (row.role, row.location, row.host, row.pid, row.started_at) == ("probe", "sh", "host-a", 4242, started)
    assert row.seen_at == started + timedelta(seconds=30) and row.stopped_at is None
    clock.advance(5)
    await presence.stop()
    with store.engine.connect() as conn:
        [row] = nodes.listing(conn)
    assert row.stopped_at == started + timedelta(seconds=35)


# PostgreSQL: commits from several processes at once -------------------------------------------
def _begin_write(engine: sa.Engine, node: str, result: Result) -> sa.Connection:
    """A node's write transaction, left open (the test decides when it commits)."""
    conn = engine.connect()
    conn.begin()
    row = results.row_of(result)
    first = nodes.allocate(conn, node, 1, result.started_at)
    conn.execute(sa.insert(results.RESULTS), [{**row, "node": node, "seq": first}])
    nodes.notify(conn, node, first)
    return conn


def test_a_result_committed_after_a_newer_one_is_still_read(pg_store: Store) -> None:
    pg_store.write_results([at("a", "bj", 0, Status.UP)], node="bj-1")
    pg_store.write_results([at("a", "sh", 0, Status.UP)], node="sh-1")
    cursors, _ = read(pg_store, {})
    late = _begin_write(pg_store.engine, "bj-1", at("a", "bj", 1))  # its id is drawn first ...
    try:
        pg_store.write_results([at("a", "sh", 2)], node="sh-1")  # ... this newer one commits first
        cursors, seen = read(pg_store, cursors)
        assert [r.message for r in seen] == ["sh 2"]
        late.commit()
    finally:
        late.close()
    ids = {r.message: r.id for r in pg_store.results()}
    assert ids["bj 1"] < ids["sh 2"], "the late row's id is older: a cursor by id would have passed it"
    cursors, seen = read(pg_store, cursors)
    assert [r.message for r in seen] == ["bj 1"], "committed late, still read"


def test_one_nodes_writes_commit_in_the_order_of_their_numbers(pg_store: Store) -> None:
    first = _begin_write(pg_store.engine, "sh-1", at("a", "sh", 0))
    try:
        with pg_store.engine.connect() as conn, conn.begin():
            conn.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                nodes.allocate(conn, "sh-1", 1, T0)  # the second batch waits for the first's commit
        first.commit()
    finally:
        first.close()
    pg_store.write_results([at("a", "sh", 1)], node="sh-1")
    assert [(r.message, r.seq) for r in pg_store.results(newest_first=False)] == [("sh 0", 1), ("sh 1", 2)]


async def test_listeners_hear_a_write_when_it_commits(pg_store: Store) -> None:
    heard = asyncio.Event()
    listener = intake.Listener(pg_store.url, heard.set)
    await listener.start()
    try:
        await asyncio.wait_for(heard.wait(), 10)  # once when listening starts: a sweep
        heard.clear()
        assert listener.connected
        pending = await asyncio.to_thread(_begin_write, pg_store.engine, "sh-1", at("a", "sh", 0))
        try:
            assert listener.received == 0
            await asyncio.to_thread(pending.commit)
        finally:
            await asyncio.to_thread(pending.close)
        await asyncio.wait_for(heard.wait(), 10)
        assert listener.received == 1
    finally:
        await listener.stop()
