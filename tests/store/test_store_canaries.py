"""The canary ledger (monitor.store.canaries): what checks get as ctx.services["canaries"],
over SQLite and PostgreSQL, on a database nobody has migrated yet (as under `invoicewatch
check`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from checks.platform.ledger import CanaryLedger
from monitor.store.canaries import CANARIES, SqlCanaryLedger


@pytest.fixture
async def ledger(db_url: str) -> AsyncIterator[SqlCanaryLedger]:
    led = SqlCanaryLedger(db_url)
    yield led
    await led.close()


def as_protocol(ledger: CanaryLedger) -> CanaryLedger:
    """Checks type their ledger as the Protocol; the store's class must satisfy it (mypy)."""
    return ledger


async def test_ledger_migrates_a_fresh_database_itself(ledger: SqlCanaryLedger) -> None:
    await as_protocol(ledger).prepare()
    assert await ledger.unfinished("sim") == []
    await ledger.prepare()  # twice: nothing changes


async def test_a_canary_goes_from_submitting_to_cleaned(ledger: SqlCanaryLedger, t0: datetime) -> None:
    row_id = await ledger.open("sim", "canary", "IWCANARY20260302A1", {"buyer": "测试", "order_no": "IWCANARY20260302A1"}, t0)
    [open_] = await ledger.unfinished("sim")
    assert (open_.id, open_.order_no, open_.serial, open_.attempts, open_.variables) == (
        row_id, "IWCANARY20260302A1", None, 0, {"buyer": "测试", "order_no": "IWCANARY20260302A1"})
    await ledger.update(row_id, t0 + timedelta(seconds=1), serial="S-1", state="pending")
    await ledger.update(row_id, t0 + timedelta(seconds=9), state="issued", number="0123456789012345678", attempts=1,
                        last_error="void refused")
    [issued] = await ledger.unfinished("sim")
    assert (issued.serial, issued.number, issued.state, issued.attempts, issued.updated_at) == (
        "S-1", "0123456789012345678", "issued", 1, t0 + timedelta(seconds=9))
    await ledger.update(row_id, t0 + timedelta(seconds=20), state="cleaned", cleaned_at=t0 + timedelta(seconds=20))
    assert await ledger.unfinished("sim") == []


async def test_unfinished_is_per_platform_oldest_first_open_states_only(ledger: SqlCanaryLedger, t0: datetime) -> None:
    ids = [await ledger.open(p, "canary", f"O{i}", {}, t0 + timedelta(seconds=i)) for i, p in enumerate(["a", "b", "a", "a"])]
    await ledger.update(ids[2], t0, state="nothing")
    await ledger.update(ids[3], t0, state="issued")
    assert [r.id for r in await ledger.unfinished("a")] == [ids[0], ids[3]]
    assert [r.id for r in await ledger.unfinished("b")] == [ids[1]]


async def test_count_since_counts_every_canary_of_the_check(ledger: SqlCanaryLedger, t0: datetime) -> None:
    for i in range(3):
        row = await ledger.open("sim", "canary", f"O{i}", {}, t0 + timedelta(hours=i))
        await ledger.update(row, t0, state="cleaned")
    await ledger.open("sim", "other-check", "X", {}, t0)
    await ledger.open("elsewhere", "canary", "Y", {}, t0)
    assert await ledger.count_since("sim", "canary", t0) == 3, "closed ones count: the cap is per day"
    assert await ledger.count_since("sim", "canary", t0 + timedelta(minutes=30)) == 2


async def test_closed_ledger_reopens_on_next_use_and_rows_survive(ledger: SqlCanaryLedger, db_url: str, t0: datetime) -> None:
    await ledger.open("sim", "canary", "O1", {}, t0)
    await ledger.close()
    assert [r.order_no for r in await ledger.unfinished("sim")] == ["O1"]
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(CANARIES)).scalar_one() == 1
    engine.dispose()
