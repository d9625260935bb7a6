"""The seed's bulk rollups (Seed.rolled_history, what bench/statuspage_render.py seeds 1,000
components x 92 days with) are the rows the monitor's own roll-up makes of the same history."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from monitor.store import Store, rollups
from tests.statuspage.statuspage_seed import Seed

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
STATUSES = ["major_outage", "partial_outage", "degraded_performance", "under_maintenance"]


def history(rng: random.Random) -> list[dict[str, Any]]:
    """Four components over 5 days: spells of minutes to hours, two changes within one hour,
    times to the microsecond."""
    start = NOW - timedelta(days=5, minutes=17)
    rows = []
    for i in range(4):
        t = start + timedelta(minutes=i)
        rows.append({"component": f"c{i}", "at": t, "status": "operational"})
        for _ in range(6):
            t += timedelta(minutes=rng.randrange(5, 900), microseconds=rng.randrange(1_000_000))
            rows.append({"component": f"c{i}", "at": t, "status": rng.choice(STATUSES)})
            t += timedelta(minutes=rng.randrange(1, 50), seconds=rng.randrange(60))
            rows.append({"component": f"c{i}", "at": t, "status": "operational"})
    return rows


def rollup_rows(store: Store) -> tuple[list[Any], list[Any]]:
    with store.engine.connect() as conn:
        table = rollups.COMPONENT_ROLLUPS
        rows = conn.execute(sa.select(table).order_by(table.c.grain, table.c.start, table.c.component)).all()
        marks = conn.execute(sa.select(rollups.MARKS).order_by(rollups.MARKS.c.name)).all()
    return [tuple(r) for r in rows], [tuple(m) for m in marks]


def test_bulk_rollups_are_the_roll_ups_rows(tmp_path: Path) -> None:
    rows = history(random.Random(3))
    current = [{"component": f"c{i}", "status": "operational", "since": NOW, "updated_at": NOW} for i in range(4)]
    rolled, bulk = Store(f"sqlite:///{tmp_path / 'rolled.db'}"), Store(f"sqlite:///{tmp_path / 'bulk.db'}")
    for store in (rolled, bulk):
        Seed(store).bulk_history(rows, current)
    rolled.roll_up(NOW, components={}, tz=TZ)
    upto = rollups.local_midnight(NOW - timedelta(days=1), TZ)
    hours, days = Seed(bulk).rolled_history(rows, upto, TZ)
    assert hours > 24 * 3 and days >= 4 * 3
    bulk.roll_up(NOW, components={}, tz=TZ)  # the roll-up goes on from the bulk rows' marks
    assert rollup_rows(bulk) == rollup_rows(rolled)
    for store in (rolled, bulk):
        store.close()
