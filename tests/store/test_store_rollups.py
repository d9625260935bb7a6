"""Rollups, retention and the space they give back (monitor.store.rollups, retention), over
SQLite and PostgreSQL, with a moved clock: raw results past retention are gone and the
rollups answer the same uptime the raw results did."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from monitor.core import sketch
from monitor.core.clock import FakeClock
from monitor.core.results import ConditionResult, Result, Status
from monitor.store import Store, retention, rollups
from monitor.store.incidents import CHANGES, INCIDENTS, UPDATES
from monitor.store.outbox import ATTEMPTS, OUTBOX
from monitor.store.results import RESULTS

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # local midnight, 2 March in Shanghai
COMPONENTS = {"登录": "login", "查询": "query"}


def probe(check: str, at: datetime, status: Status, latency: float) -> Result:
    return Result(check=check, status=status, started_at=at, latency_ms=latency, location="local",
                  conditions=[ConditionResult("[STATUS] == 200", status is Status.UP, 200)])


def write_days(store: Store, days: int, every: timedelta = timedelta(minutes=5), seed: int = 7) -> list[Result]:
    rng = random.Random(seed)
    out = []
    t = START
    while t < START + timedelta(days=days):
        for check in COMPONENTS:
            status = Status.DOWN if rng.random() < 0.05 else (Status.DEGRADED if rng.random() < 0.05 else Status.UP)
            out.append(probe(check, t, status, 50 + rng.random() * 400))
        t += every
    for i in range(0, len(out), 2000):
        store.write_results(out[i : i + 2000])
    return out


def uptime(counts: list[tuple[int, int]]) -> float:
    """(up, count) pairs -> up / count."""
    up = sum(u for u, _ in counts)
    return up / sum(n for _, n in counts)


def test_sketch_quantiles_are_within_two_percent_and_merge() -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(5, 1) for _ in range(5000)]
    a, b = sketch.of(values[:2500]), sketch.of(values[2500:])
    merged = sketch.merge(dict(a), b)
    assert merged == sketch.of(values)
    ordered = sorted(values)
    for q in (0.5, 0.95, 0.99):
        exact = ordered[max(1, int(q * len(ordered) + 0.999999)) - 1]
        got = sketch.quantile(merged, q)
        assert got is not None and abs(got - exact) / exact <= sketch.ALPHA
    assert sketch.unpack(sketch.pack(merged)) == merged
    assert sketch.quantile({}, 0.5) is None


def test_raw_results_past_retention_are_gone_and_rollups_answer_the_same_uptime(store: Store) -> None:
    written = write_days(store, 20)
    clock = FakeClock(START + timedelta(days=20, minutes=10))
    with store.engine.connect() as conn:
        raw = {
            check: uptime([(int(r.status == "up"), 1) for r in conn.execute(
                sa.select(RESULTS.c.status).where(RESULTS.c.check == check))])
            for check in COMPONENTS
        }
    since = START + timedelta(days=3)
    with store.session() as s:
        slo_before = sorted((ts.replace(minute=0, second=0, microsecond=0), st) for ts, st, _ in
                            rollups.outcomes(s, list(COMPONENTS), since))
    stats = store.roll_up(clock.now(), components=COMPONENTS, tz=SHANGHAI)
    assert stats.hours == 20 * 24 and stats.days == 20 and stats.results == len(written)

    deleted = store.prune_history(clock.now(), retention.Policy(results=timedelta(days=14)))
    cutoff = clock.now() - timedelta(days=14)
    passing_cutoff = rollups.hour_floor(clock.now() - timedelta(days=1))
    with store.engine.connect() as conn:
        oldest = conn.execute(sa.select(sa.func.min(RESULTS.c.ts))).scalar()
        assert oldest is not None and oldest >= cutoff
        kept = list(conn.execute(sa.select(RESULTS.c.ts, RESULTS.c.status, RESULTS.c.detail)))
    # Before the passing cutoff only failures and changes (with their evidence) are left.
    assert kept and all(status != "up" or detail is not None for ts, status, detail in kept if ts < passing_cutoff)
    assert all(ts >= cutoff for ts, _, _ in kept)
    assert any(status != "up" for ts, status, _ in kept if ts < passing_cutoff)
    assert deleted["check_result"] == len(written) - len(kept)
    with store.engine.connect() as conn:
        for check in COMPONENTS:
            days = list(rollups.check_buckets(conn, "d", START, checks=[check]))
            hours = list(rollups.check_buckets(conn, "h", START, checks=[check]))
            assert len(days) == 20
            assert uptime([(d.up, d.count) for d in days]) == raw[check]
            assert uptime([(h.up, h.count) for h in hours]) == raw[check]
            assert sum(d.count for d in days) == sum(1 for r in written if r.check == check)
        comp = list(rollups.component_buckets(conn, "d", START, components=["login"], with_sketch=True))
        assert sum(c.count for c in comp) == sum(1 for r in written if r.check == "登录")
        assert sum(c.failures for c in comp) == sum(1 for r in written if r.check == "登录" and r.status is Status.DOWN)
    # What SLO series are refilled from: per hour, the same outcomes, from rollups where raw is gone.
    with store.session() as s:
        slo_after = sorted((ts.replace(minute=0, second=0, microsecond=0), st) for ts, st, _ in
                           rollups.outcomes(s, list(COMPONENTS), since))
    assert slo_after == slo_before


def test_a_day_sketch_is_the_sum_of_its_hours_and_its_p95_is_close(store: Store) -> None:
    written = write_days(store, 2, every=timedelta(minutes=1))
    store.roll_up(START + timedelta(days=2, minutes=5), components=COMPONENTS, tz=SHANGHAI)
    with store.engine.connect() as conn:
        (day, _) = list(rollups.check_buckets(conn, "d", START, checks=["查询"]))
        hours = [h for h in rollups.check_buckets(conn, "h", START, START + timedelta(days=1), checks=["查询"])]
    assert len(hours) == 24
    summed: sketch.Sketch = {}
    for h in hours:
        sketch.merge(summed, sketch.unpack(h.sketch))
    assert sketch.unpack(day.sketch) == summed
    latencies = sorted(r.latency_ms or 0 for r in written if r.check == "查询" and r.started_at < START + timedelta(days=1))
    exact = latencies[int(0.95 * len(latencies)) - 1]
    p95 = sketch.quantile(summed, 0.95)
    assert p95 is not None and abs(p95 - exact) / exact <= 0.03
    # Seconds per status cover the day (every result holds until the next, 1 min later).
    assert abs(sum(day.seconds.values()) - 86400) < 1


def test_an_hour_not_rolled_yet_is_never_pruned(store: Store) -> None:
    write_days(store, 1)
    # Nothing rolled: a prune with a tiny retention keeps every raw result.
    deleted = store.prune_history(START + timedelta(days=30), retention.Policy(results=timedelta(hours=1)))
    assert deleted["check_result"] == 0
    assert store.count_results() > 0


def test_rolling_twice_changes_nothing_and_a_late_hour_is_rolled_once_it_settles(store: Store) -> None:
    write_days(store, 1)
    now = START + timedelta(days=1, minutes=1)  # the last hour closed a minute ago: not settled
    first = store.roll_up(now, components=COMPONENTS, tz=SHANGHAI)
    assert first.hours == 23 and first.days == 0
    again = store.roll_up(now, components=COMPONENTS, tz=SHANGHAI)
    assert again.hours == 0
    later = store.roll_up(now + rollups.SETTLE, components=COMPONENTS, tz=SHANGHAI)
    assert (later.hours, later.days) == (1, 1)


def test_component_seconds_come_from_the_status_history(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.insert(CHANGES), [
            {"component": "login", "at": START - timedelta(days=3), "status": "operational"},
            {"component": "login", "at": START + timedelta(hours=2, minutes=30), "status": "major_outage"},
            {"component": "login", "at": START + timedelta(hours=3), "status": "operational"},
        ])
    store.write_results([probe("登录", START, Status.UP, 10.0)])
    store.roll_up(START + timedelta(days=1, minutes=5), components=COMPONENTS, tz=SHANGHAI)
    with store.engine.connect() as conn:
        (day,) = list(rollups.component_buckets(conn, "d", START, components=["login"]))
    assert day.seconds["major_outage"] == 1800
    assert day.seconds["operational"] == 86400 - 1800


def test_every_history_table_is_bounded(store: Store) -> None:
    now = START + timedelta(days=500)
    old, recent = now - timedelta(days=450), now - timedelta(days=1)
    with store.engine.begin() as conn:
        for at, status in ((old, "sent"), (old, "pending"), (recent, "sent")):
            oid = conn.execute(sa.insert(OUTBOX).values(
                key=f"k{at}{status}", channel="oncall", target_index=0, event="incident.opened", audience="oncall",
                language="zh-CN", status=status, next_attempt_at=at, created_at=at)).inserted_primary_key[0]
            conn.execute(sa.insert(ATTEMPTS).values(outbox_id=oid, at=at, ok=status == "sent"))
        ids = []
        for resolved in (old, now - timedelta(days=120), None):
            iid = conn.execute(sa.insert(INCIDENTS).values(
                component="login", title="t", status="resolved" if resolved else "investigating", impact="major",
                started_at=(resolved or recent) - timedelta(hours=1), detected_at=(resolved or recent) - timedelta(hours=1),
                resolved_at=resolved, public=True)).inserted_primary_key[0]
            ids.append(iid)
            for k in range(4):
                conn.execute(sa.insert(UPDATES).values(incident_id=iid, at=(resolved or recent) - timedelta(minutes=50 - k),
                                                       status="investigating", kind="auto"))
        conn.execute(sa.insert(CHANGES), [
            {"component": "login", "at": old, "status": "major_outage"},
            {"component": "login", "at": old + timedelta(hours=1), "status": "operational"},
            {"component": "login", "at": recent, "status": "degraded_performance"},
        ])
    deleted = store.prune_history(now, retention.Policy())
    with store.engine.connect() as conn:
        assert sorted(conn.execute(sa.select(OUTBOX.c.status)).scalars()) == ["pending", "sent"]
        assert conn.execute(sa.select(sa.func.count()).select_from(ATTEMPTS)).scalar() == 2
        assert sorted(conn.execute(sa.select(INCIDENTS.c.id)).scalars()) == sorted(ids[1:])
        per = dict(conn.execute(sa.select(UPDATES.c.incident_id, sa.func.count()).group_by(UPDATES.c.incident_id)).all())
        assert per == {ids[1]: 2, ids[2]: 4}  # long resolved: first and last; open: all
        kept = list(conn.execute(sa.select(CHANGES.c.status).order_by(CHANGES.c.at)).scalars())
        assert kept == ["operational", "degraded_performance"]  # the seed before the cutoff, then the rest
    assert deleted["outbox"] == 1 and deleted["incident"] == 1


def test_passing_probes_like_the_one_before_keep_no_evidence(store: Store) -> None:
    at = START
    seq = [Status.UP, Status.UP, Status.DOWN, Status.DOWN, Status.UP, Status.UP]
    store.write_results([probe("登录", at + timedelta(minutes=i), s, 10.0) for i, s in enumerate(seq)])
    rows = store.results("登录", newest_first=False)
    assert [r.detail is not None for r in rows] == [True, False, True, True, True, False]
    assert all(r.latency_ms == 10.0 for r in rows)


def test_sqlite_gives_pruned_space_back(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "old.db"
    raw = sa.create_engine(f"sqlite:///{path}")
    with raw.begin() as conn:  # a database from before auto_vacuum: NONE, with some bulk
        conn.exec_driver_sql("CREATE TABLE filler (x TEXT)")
        conn.exec_driver_sql("INSERT INTO filler VALUES (zeroblob(100000))")
    raw.dispose()
    store = Store(f"sqlite:///{path}")
    assert retention.auto_vacuum_mode(store.engine) == 0
    store.migrate()
    assert retention.auto_vacuum_mode(store.engine) == 2
    write_days(store, 3, every=timedelta(minutes=1))
    store.roll_up(START + timedelta(days=3, minutes=5), components=COMPONENTS, tz=SHANGHAI)
    before = retention.database_bytes(store.engine)
    deleted = store.prune_history(START + timedelta(days=3, minutes=5), retention.Policy(results=timedelta(hours=2)))
    assert deleted["pages_reclaimed"] > 100
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA freelist_count").scalar_one() == 0  # every free page given back
    assert retention.database_bytes(store.engine) < before
    store.close()


def test_a_check_that_learns_from_its_results_keeps_its_passing_ones(store: Store) -> None:
    write_days(store, 8)
    now = START + timedelta(days=8, minutes=10)
    store.roll_up(now, components=COMPONENTS, tz=SHANGHAI)
    store.prune_history(now, retention.Policy(keep_passing={"查询": timedelta(days=5)}))
    with store.engine.connect() as conn:
        oldest = dict(conn.execute(sa.select(RESULTS.c.check, sa.func.min(RESULTS.c.ts)).where(
            RESULTS.c.status == "up", RESULTS.c.detail.is_(None)).group_by(RESULTS.c.check)).all())
    assert oldest["查询"] < now - timedelta(days=4)  # what freshness learns from (learn.days)
    assert oldest["登录"] >= rollups.hour_floor(now - timedelta(days=1))
