"""Leadership on a real PostgreSQL, two contenders in one process: one leader at a time, a
standby takes over when the leader leaves, is cut off or hangs, and a deposed leader's writes
are refused (and stopped on its own clock before the successor acts)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.core.errors import Deposed
from monitor.store import Store, readout
from monitor.store.leadership import Leadership
from tests.selfwatch.selfwatch_kit import until

LEASE = 2.0  # the shortest allowed: every wait below is bounded by a few leases, never by it


@pytest.fixture
async def contenders(pg_store: Store) -> AsyncIterator[Callable[[str], Any]]:
    made: list[Leadership] = []

    async def make(node: str) -> Leadership:
        lead = Leadership(pg_store.url, node, lease=LEASE, application_name=f"iwtest {node} leadership")
        await lead.start()
        made.append(lead)
        return lead

    yield make
    for lead in made:
        await lead.stop()


def fenced_write(store: Store, lead: Leadership) -> None:
    with store.engine.begin() as conn:
        lead.fence(conn)


def term(store: Store) -> int:
    with store.engine.connect() as conn:
        row = readout.lease(conn)
    return 0 if row is None else row.term


def terminate(store: Store, application_name: str) -> int:
    with store.engine.connect() as conn:
        return len(conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
            {"n": application_name}).all())


async def test_a_lone_controller_leads_at_once_and_its_writes_pass(pg_store: Store, contenders: Any) -> None:
    a = await contenders("a")
    assert a.is_leader and a.term == 1 == term(pg_store)
    fenced_write(pg_store, a)


async def test_one_leader_at_a_time_and_a_clean_stop_hands_over_at_once(pg_store: Store, contenders: Any) -> None:
    a = await contenders("a")
    b = await contenders("b")
    assert a.is_leader and not b.is_leader
    with pytest.raises(Deposed):
        fenced_write(pg_store, b)
    await a.stop()
    await until(lambda: b.is_leader, 3 * LEASE, "b to lead")
    assert b.term == 2 == term(pg_store)
    with pytest.raises(Deposed):
        fenced_write(pg_store, a)


async def test_a_cut_connection_hands_leadership_to_the_standby(pg_store: Store, contenders: Any) -> None:
    a = await contenders("a")
    b = await contenders("b")
    assert terminate(pg_store, "iwtest a leadership") == 1
    await until(lambda: b.is_leader, 5 * LEASE, "b to lead")
    assert not a.is_leader and a.term is None, "a noticed and stepped down"
    with pytest.raises(Deposed):
        fenced_write(pg_store, a)
    fenced_write(pg_store, b)
    assert term(pg_store) == 2
    assert b.is_leader


async def test_a_leader_that_lost_its_connection_stands_back_a_lease_before_contending_again(
    pg_store: Store, contenders: Any
) -> None:
    """Alone, with the lock free at once: without the stand-back it would take a new term at
    its next poll (lease/5). A busy machine only makes the gap longer, never shorter."""
    a = await contenders("a")
    assert a.term == 1
    assert terminate(pg_store, "iwtest a leadership") == 1
    await until(lambda: a.term is None, 5 * LEASE, "a to step down")
    lost_at = time.monotonic()
    await until(lambda: a.term is not None, 5 * LEASE, "a to contend again")
    assert time.monotonic() - lost_at >= 0.9 * LEASE - a.poll, "a stood back for about a lease"
    assert a.term == 2


async def test_a_hung_leader_is_deposed_and_has_stopped_before_the_successor_acts(
    pg_store: Store, contenders: Any
) -> None:
    a = await contenders("a")
    assert a._task is not None
    a._task.cancel()  # a hangs: it keeps its connection (and the lock) but renews no more
    await asyncio.gather(a._task, return_exceptions=True)
    b = await contenders("b")
    started = time.monotonic()
    await until(lambda: b.is_leader, 5 * LEASE, "b to lead")
    assert time.monotonic() - started >= LEASE / 2, "not before a's lease could have run out"
    assert not a.is_leader, "a stopped acting on its own clock before b started"
    with pytest.raises(Deposed):
        fenced_write(pg_store, a)


async def test_a_successor_waits_for_the_deposed_leaders_last_write_to_commit(
    pg_store: Store, contenders: Any
) -> None:
    a = await contenders("a")
    last = pg_store.engine.connect()
    last.begin()
    a.fence(last)  # a's transaction is under way, holding the lease row FOR KEY SHARE
    try:
        b = await contenders("b")
        terminate(pg_store, "iwtest a leadership")
        await until(lambda: waiting_on_a_lock(pg_store, "iwtest b leadership"), 5 * LEASE, "b's term bump to wait on a lock")
        assert term(pg_store) == 1
        last.commit()  # a's last write commits under term 1 ...
    finally:
        last.close()
    await until(lambda: b.is_leader, 5 * LEASE, "b to lead")
    assert term(pg_store) == 2  # ... and only then does term 2 begin


def waiting_on_a_lock(store: Store, application_name: str) -> bool:
    with store.engine.connect() as conn:
        return bool(conn.execute(sa.text(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = :n AND wait_event_type = 'Lock'"),
            {"n": application_name}).first())
