"""Results and check states (monitor.store.results) and the batched writer, over SQLite and
PostgreSQL (the `db_url` fixture runs each test on both).

Failures are made with the real database: the results table is renamed away under a running
writer and renamed back, which fails writes the same way on both engines.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.core.errors import StoreError
from monitor.core.results import ConditionResult, Result, Status, StepResult
from monitor.store import ResultWriter, Store, results
from monitor.store.results import CheckStateRow

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def result(check: str = "登录", at: datetime = T0, status: Status = Status.UP, **kw: Any) -> Result:
    return Result(check=check, status=status, started_at=at, latency_ms=kw.pop("latency_ms", 12.5), **kw)


def rename_results_table(store: Store, old: str, new: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text(f'ALTER TABLE "{old}" RENAME TO "{new}"'))


# --- results --------------------------------------------------------------------------------


def test_result_round_trips_with_aware_utc_json_and_unicode(store: Store) -> None:
    shanghai = timezone(timedelta(hours=8))
    r = result(
        "开票 issuance ✓",
        at=datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=shanghai),
        status=Status.DEGRADED,
        message="慢: 查询 took 1.8s",
        phases={"dns": 0.5, "connect": 1.25, "total": 1800.0},
        values={"http_status": 200, "missing_fields": ["购方名称"], "nested": {"a": [1, None, True]}},
        conditions=[ConditionResult("[STATUS] == 200", True, 200)],
        steps=[StepResult("登录", Status.UP, 3.0, "ok", values={"token_requests": 1})],
    )
    r.location = "bj-idc"
    store.write_results([r])
    (row,) = store.results()
    assert row.ts == datetime(2026, 3, 2, 1, 30, 15, 123456, tzinfo=UTC)
    assert row.ts.tzinfo is not None and row.ts.utcoffset() == timedelta(0)
    assert (row.check, row.location, row.status, row.latency_ms) == ("开票 issuance ✓", "bj-idc", "degraded", 12.5)
    assert row.message == "慢: 查询 took 1.8s"
    assert row.phases == {"dns": 0.5, "connect": 1.25, "total": 1800.0}
    assert row.values == {"http_status": 200, "missing_fields": ["购方名称"], "nested": {"a": [1, None, True]}}
    assert row.detail is not None
    assert row.detail["conditions"] == [{"condition": "[STATUS] == 200", "ok": True, "actual": 200, "error": None}]
    assert row.detail["steps"][0]["name"] == "登录"


def test_the_writer_stores_what_sqlalchemys_core_insert_stores(store: Store) -> None:
    """The writer hands the driver plain tuples; every column must hold exactly what the
    Core insert of `row_of` holds (the same text for ts on SQLite, the same JSON)."""
    shanghai = timezone(timedelta(hours=8))
    kinds = [
        result(at=datetime(2026, 3, 2, 9, 30, 15, tzinfo=shanghai), message="nul \x00 here",
               phases={"dns": 0.5, "total": 1800.0}, values={"n": math.nan, "d": Decimal("1.5")},
               conditions=[ConditionResult("[STATUS] == 200", True, 200), ConditionResult("[BODY].ok == true", True, True),
                           ConditionResult("[BODY].n == 1", False, 1.0, None), ConditionResult("[BODY].l == x", False, [1, "二"]),
                           ConditionResult("[BODY].nan > 1", False, math.nan, "not a number")]),
        result(at=T0.replace(microsecond=999999), status=Status.DOWN, message="x" * 5000,
               steps=[StepResult("登录", Status.DOWN, 3.0, "refused", {"connect": 1.0},
                                 [ConditionResult("[STATUS] == 200", False, 503)], {"token_requests": 1})]),
        result(at=T0),
    ]
    assert not store.write_results(kinds)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE check_result SET \"check\" = 'writer'"))
        conn.execute(sa.insert(results.RESULTS), [{**results.row_of(r), "check": "core"} for r in kinds])
        rows = conn.execute(sa.text(
            "SELECT \"check\", CAST(ts AS TEXT), location, status, latency_ms, message, CAST(phases AS TEXT), "
            "CAST(\"values\" AS TEXT), CAST(detail AS TEXT), node, seq FROM check_result ORDER BY id")).all()
    assert len(rows) == 6
    writer, core = [tuple(r[1:]) for r in rows[:3]], [tuple(r[1:]) for r in rows[3:]]
    assert writer == core
    assert rows[0][8] is not None and rows[2][8] is None  # evidence kept, none to keep


def test_empty_json_columns_are_null(store: Store) -> None:
    store.write_results([result()])
    (row,) = store.results()
    assert (row.phases, row.values, row.detail) == (None, None, None)


def test_a_result_the_database_refuses_is_set_aside_alone(store: Store) -> None:
    """A naive time (a check's bug) is refused by the column type; the rest of the batch is kept."""
    naive = result("buggy", at=datetime(2026, 3, 2, 1, 0))
    rejected = store.write_results([result("a"), naive, result("b")])
    assert [(r.check, "naive datetime" in why) for r, why in rejected] == [("buggy", True)]
    assert sorted(r.check for r in store.results()) == ["a", "b"]
    assert store.state("buggy") is None


def test_values_json_cannot_encode_do_not_poison_the_batch(store: Store) -> None:
    """An sql check's Decimal, a datetime, NaN, a NUL byte: stored readably, not refused."""
    odd = result(
        "sql",
        values={"amount": Decimal("12.30"), "at": T0, "ratio": math.nan, "inf": math.inf, "raw": b"\x00\xff"},
        message="body: a\x00b",
    )
    store.write_results([odd, result("other")])
    rows = {r.check: r for r in store.results()}
    assert set(rows) == {"sql", "other"}
    assert rows["sql"].values == {"amount": "12.30", "at": "2026-03-02 01:00:00+00:00", "ratio": None, "inf": None,
                                  "raw": "b'\\x00\\xff'"}
    assert rows["sql"].message == "body: a\ufffdb"


def test_results_filter_by_check_location_and_time(store: Store) -> None:
    rows = []
    for i in range(6):
        r = result("a" if i % 2 else "b", at=T0 + timedelta(minutes=i))
        r.location = "x" if i < 3 else "y"
        rows.append(r)
    store.write_results(rows)
    assert [r.ts.minute for r in store.results("a")] == [5, 3, 1]
    assert [r.ts.minute for r in store.results("a", newest_first=False)] == [1, 3, 5]
    assert [r.ts.minute for r in store.results(location="x")] == [2, 1, 0]
    assert [r.ts.minute for r in store.results(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4))] == [3, 2]
    assert len(store.results(limit=2)) == 2
    assert store.count_results() == 6 and store.count_results("a") == 3


def test_prune_deletes_old_results_in_chunks(store: Store) -> None:
    store.write_results([result(at=T0 - timedelta(days=40, minutes=i)) for i in range(23)])
    store.write_results([result(at=T0 - timedelta(days=1, minutes=i)) for i in range(4)])
    assert store.prune_results(T0 - timedelta(days=35), chunk=5) == 23
    assert store.count_results() == 4
    assert store.prune_results(T0 - timedelta(days=35), chunk=5) == 0


# --- check_state --------------------------------------------------------------------------------


def test_writing_results_upserts_the_last_columns_only(store: Store) -> None:
    store.write_results([result("a", at=T0, latency_ms=10.0, message="first")])
    state = store.state("a")
    assert state is not None
    assert (state.status, state.since, state.last_status, state.last_latency_ms) == ("up", T0, "up", 10.0)
    # The evaluator owns status/since/data; results must not overwrite them.
    store.save_states([CheckStateRow(check="a", location="", status="down", since=T0, data={"fails": 3},
                                     last_result_at=state.last_result_at, last_status="up", last_message="first")])
    later = T0 + timedelta(seconds=30)
    store.write_results([result("a", at=later, status=Status.DOWN, latency_ms=None, message="refused")])
    state = store.state("a")
    assert state is not None
    assert (state.status, state.since, state.data) == ("down", T0, {"fails": 3})
    assert (state.last_result_at, state.last_status, state.last_latency_ms, state.last_message) == (
        later, "down", None, "refused")


def test_state_keeps_the_newest_result_whatever_the_write_order(store: Store) -> None:
    newest, older = T0 + timedelta(seconds=60), T0
    store.write_results([result("a", at=newest, message="new"), result("a", at=older, message="old in same batch")])
    store.write_results([result("a", at=older - timedelta(seconds=5), message="late re-check")])
    state = store.state("a")
    assert state is not None
    assert (state.last_result_at, state.last_message) == (newest, "new")


def test_state_is_per_location(store: Store) -> None:
    a, b = result("a"), result("a", status=Status.DOWN)
    a.location, b.location = "bj", "sh"
    store.write_results([a, b])
    assert [(s.location, s.last_status) for s in store.states()] == [("bj", "up"), ("sh", "down")]


# --- the batched writer ----------------------------------------------------------------------------


async def wait_for(predicate: Any, seconds: float = 5.0) -> None:
    """Poll a condition every 20 ms; fail after a bounded wait."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_writer_writes_when_a_batch_is_full(store: Store) -> None:
    batches: list[int] = []
    writer = ResultWriter(store, batch_size=5, interval=3600)
    writer.on_written.append(lambda batch: batches.append(len(batch)))
    writer.start()
    for i in range(4):
        writer.add(result(f"c{i}"))
    for _ in range(5):
        await asyncio.sleep(0)  # let the writer task run: it must not write a partial batch
    assert (batches, writer.pending) == ([], 4)
    writer.add(result("c4"))
    await wait_for(lambda: batches)
    assert batches == [5] and store.count_results() == 5
    await writer.close()


async def test_writer_writes_a_partial_batch_after_the_interval(store: Store) -> None:
    written = asyncio.Event()
    writer = ResultWriter(store, batch_size=1000, interval=0.02)
    writer.on_written.append(lambda batch: written.set())
    writer.start()
    writer.add(result())
    await asyncio.wait_for(written.wait(), 5)
    assert (writer.written, writer.pending, store.count_results()) == (1, 0, 1)
    await writer.close()


async def test_writer_close_flushes_everything_in_batches(store: Store) -> None:
    batches: list[int] = []
    writer = ResultWriter(store, batch_size=7, interval=3600)
    writer.on_written.append(lambda batch: batches.append(len(batch)))
    writer.start()
    for i in range(20):
        writer.add(result(at=T0 + timedelta(seconds=i)))
    await writer.close()
    assert sum(batches) == 20 and max(batches) <= 7
    assert store.count_results() == 20 and writer.pending == 0


async def test_concurrent_flushes_write_each_result_once(store: Store) -> None:
    writer = ResultWriter(store, batch_size=10, interval=3600)
    for i in range(55):
        writer.add(result(at=T0 + timedelta(seconds=i)))
    await asyncio.gather(writer.flush(), writer.flush(), writer.flush())
    assert store.count_results() == 55
    assert sorted(r.ts for r in store.results()) == [T0 + timedelta(seconds=i) for i in range(55)]


async def test_writer_keeps_a_failed_batch_and_loses_nothing(store: Store) -> None:
    writer = ResultWriter(store, batch_size=10, interval=3600)
    writer.add(result(at=T0))
    await writer.flush()
    rename_results_table(store, "check_result", "check_result_away")
    for i in range(1, 26):
        writer.add(result(at=T0 + timedelta(seconds=i)))
    with pytest.raises(StoreError):
        await writer.flush()
    assert (writer.pending, writer.failures) == (25, 1)
    assert writer.last_error is not None
    writer.add(result(at=T0 + timedelta(seconds=26)))  # probing goes on meanwhile
    rename_results_table(store, "check_result_away", "check_result")
    await writer.flush()
    assert writer.pending == 0
    assert sorted(r.ts for r in store.results()) == [T0 + timedelta(seconds=i) for i in range(27)]


async def test_running_writer_retries_until_the_database_is_back(store: Store) -> None:
    writer = ResultWriter(store, batch_size=3, interval=0.02)
    writer.start()
    rename_results_table(store, "check_result", "check_result_away")
    for i in range(7):
        writer.add(result(at=T0 + timedelta(seconds=i)))
    await wait_for(lambda: writer.failures >= 1)
    assert writer.written == 0
    rename_results_table(store, "check_result_away", "check_result")
    await writer.close()
    assert store.count_results() == 7 and writer.pending == 0


async def test_a_failing_callback_does_not_stop_the_writer(store: Store) -> None:
    def boom(batch: list[Result]) -> None:
        raise RuntimeError("subscriber bug")

    writer = ResultWriter(store, batch_size=2, interval=3600)
    writer.on_written.append(boom)
    writer.start()
    for i in range(4):
        writer.add(result(at=T0 + timedelta(seconds=i)))
    await wait_for(lambda: writer.written == 4)
    writer.add(result(at=T0 + timedelta(seconds=9)))
    writer.add(result(at=T0 + timedelta(seconds=10)))
    await wait_for(lambda: writer.written == 6)
    await writer.close()
    assert store.count_results() == 6


async def test_a_refused_result_does_not_jam_the_writer(store: Store) -> None:
    writer = ResultWriter(store, batch_size=3, interval=3600)
    for i in range(5):
        writer.add(result(at=T0 + timedelta(seconds=i)))
    writer.add(result("buggy", at=datetime(2026, 3, 2, 1, 0)))
    await writer.flush()
    assert (writer.written, writer.rejected, writer.pending, store.count_results()) == (5, 1, 0, 5)


async def test_full_buffer_drops_the_oldest_and_counts_them(store: Store) -> None:
    writer = ResultWriter(store, batch_size=100, interval=3600, max_buffer=10)
    for i in range(15):
        writer.add(result(at=T0 + timedelta(seconds=i)))
    assert (writer.pending, writer.dropped) == (10, 5)
    await writer.flush()
    assert sorted(r.ts for r in store.results()) == [T0 + timedelta(seconds=i) for i in range(5, 15)]


# --- what the deciding service reads and writes ------------------------------------------------


def test_decided_columns_are_upserted_without_touching_the_latest_result(store: Store) -> None:
    store.write_results([result("a", at=T0, message="first")])
    later = T0 + timedelta(seconds=30)
    with store.session() as s:
        results.save_decided(s, [
            {"check": "a", "location": "", "status": "down", "since": later, "data": {"fails": 3}},
            {"check": "b", "location": "bj", "status": "up", "since": T0, "data": {"fails": 0}},
        ])
        results.save_decided(s, [])  # nothing to save: no statement at all
        s.commit()
    a, b = store.state("a"), store.state("b", "bj")
    assert a is not None and b is not None
    assert (a.status, a.since, a.data, a.last_result_at, a.last_message) == ("down", later, {"fails": 3}, T0, "first")
    assert (b.status, b.data, b.last_result_at) == ("up", {"fails": 0}, None)
    with store.session() as s:
        assert [(r.check, r.location) for r in results.states(s, "bj")] == [("b", "bj")]
        assert [(r.check, r.location) for r in results.states(s)] == [("a", ""), ("b", "bj")]
