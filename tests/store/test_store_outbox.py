"""The outbox and delivery attempts (monitor.store.outbox), over SQLite and PostgreSQL:
idempotent enqueue on (key, channel, target), claim by compare-and-set, every attempt kept."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from monitor.store import Store, outbox, readout
from monitor.store.outbox import ATTEMPTS, INTERRUPTED, OUTBOX


def message(key: str, at: datetime, channel: str = "oncall", target: int = 0, **kw: Any) -> dict[str, Any]:
    row = {"key": key, "channel": channel, "target_index": target, "event": "incident.opened", "incident_id": 1,
           "component": "login", "severity": "critical", "audience": "oncall", "language": "zh-CN",
           "title": "登录中断", "body": "body", "body_format": "text", "status": "pending", "attempts": 0,
           "next_attempt_at": at, "created_at": at}
    row.update(kw)
    return row


def enqueue(store: Store, *rows: dict[str, Any]) -> int:
    with store.session() as s:
        added = sum(outbox.insert(s, r) for r in rows)
        s.commit()
    return added


def all_rows(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(OUTBOX).order_by(OUTBOX.c.id))]


def attempts(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(ATTEMPTS).order_by(ATTEMPTS.c.id))]


def test_enqueue_is_idempotent_on_key_channel_and_target(store: Store, t0: datetime) -> None:
    assert enqueue(store, message("incident:1:opened", t0), message("incident:1:opened", t0, target=1),
                   message("incident:1:opened", t0, channel="staff")) == 3
    assert enqueue(store, message("incident:1:opened", t0, title="again")) == 0
    with store.session() as s:  # a duplicate inside a bigger transaction does not abort it
        assert outbox.insert(s, message("incident:1:opened", t0)) == 0
        assert outbox.insert(s, message("incident:1:reminder:1", t0)) == 1
        s.commit()
    assert [(r["key"], r["channel"], r["target_index"], r["title"]) for r in all_rows(store)] == [
        ("incident:1:opened", "oncall", 0, "登录中断"), ("incident:1:opened", "oncall", 1, "登录中断"),
        ("incident:1:opened", "staff", 0, "登录中断"), ("incident:1:reminder:1", "oncall", 0, "登录中断")]


def test_enqueue_never_commits_on_its_own(store: Store, t0: datetime) -> None:
    with store.session() as s:
        outbox.insert(s, message("incident:1:opened", t0))
        s.rollback()
    assert all_rows(store) == []


def test_what_was_told_about_an_incident(store: Store, t0: datetime) -> None:
    enqueue(store, message("incident:1:opened", t0), message("incident:1:opened", t0, channel="staff", target=2),
            message("incident:1:acked", t0, event="incident.acked", channel="sms"),
            message("incident:2:opened", t0, incident_id=2, channel="mail"))
    with store.session() as s:
        assert outbox.told_targets(s, 1) == {("oncall", 0), ("staff", 2)}, "only down events count as told"
        assert sorted(outbox.keys_for_incident(s, 1)) == [
            ("incident:1:acked", "incident.acked"), ("incident:1:opened", "incident.opened")]


def test_due_targets_wait_for_their_time_and_skip_leased_rows(store: Store, t0: datetime) -> None:
    enqueue(store, message("a", t0 + timedelta(seconds=30), target=0), message("b", t0 - timedelta(seconds=5), target=1),
            message("c", t0, target=2), message("d", t0 - timedelta(minutes=1), target=3, status="sent"))
    assert outbox.due_targets(store.engine, t0) == [("oncall", 1), ("oncall", 2)], "longest waiting first"
    assert outbox.due_targets(store.engine, t0, ("oncall", 2)) == [("oncall", 2)]
    outbox.claim(store.engine, [("oncall", 1)], t0, "node-a", t0 + timedelta(minutes=1))
    assert outbox.due_targets(store.engine, t0) == [("oncall", 2)]
    assert outbox.due_targets(store.engine, t0 + timedelta(minutes=2)) == [("oncall", 1), ("oncall", 2), ("oncall", 0)]


def test_next_due_is_the_first_pending_message_not_due_yet(store: Store, t0: datetime) -> None:
    assert outbox.next_due(store.engine, t0) is None
    enqueue(store, message("due", t0 - timedelta(seconds=5), target=0), message("sent", t0 + timedelta(seconds=5), target=1,
            status="sent"), message("held", t0 + timedelta(seconds=30), target=2),
            message("later", t0 + timedelta(minutes=5), target=3))
    assert outbox.next_due(store.engine, t0) == t0 + timedelta(seconds=30), "not what is due already, nor what was sent"
    assert outbox.next_due(store.engine, t0 + timedelta(seconds=30)) == t0 + timedelta(minutes=5)
    assert outbox.next_due(store.engine, t0 + timedelta(minutes=5)) is None


def test_claim_is_compare_and_set_on_the_lease(store: Store, t0: datetime) -> None:
    enqueue(store, message("m1", t0), message("m2", t0))
    lease = t0 + timedelta(minutes=1)
    first = outbox.claim(store.engine, [("oncall", 0)], t0, "node-a", lease)
    assert [r["key"] for r in first.rows] == ["m1"], "one message per target per claim"
    assert [r["claimed_by"] for r in first.rows] == ["node-a"]
    second = outbox.claim(store.engine, [("oncall", 0)], t0, "node-b", lease)
    assert second.rows == [], "a target whose oldest message is leased is busy: nothing behind it overtakes"
    assert outbox.due_targets(store.engine, t0) == []
    later = outbox.claim(store.engine, [("oncall", 0)], lease + timedelta(seconds=1), "node-c", lease + timedelta(minutes=1))
    assert [r["key"] for r in later.rows] == ["m1"], "after the lease ran out another may take it over"
    with store.engine.begin() as conn:
        assert outbox.mark_sent(conn, [later.rows[0]["id"]], "node-c", lease) == 1
    nxt = outbox.claim(store.engine, [("oncall", 0)], lease, "node-b", lease + timedelta(minutes=1))
    assert [r["key"] for r in nxt.rows] == ["m2"], "then the next one, in order"


def test_concurrent_claimants_never_share_a_row(store: Store, t0: datetime) -> None:
    targets = [("oncall", i) for i in range(12)]
    enqueue(store, *(message(f"m{i}", t0, target=i) for i in range(12)))
    lease = t0 + timedelta(minutes=5)
    with ThreadPoolExecutor(max_workers=4) as pool:
        claims = list(pool.map(lambda n: outbox.claim(store.engine, targets, t0, f"node-{n}", lease), range(4)))
    won = [r["key"] for c in claims for r in c.rows]
    assert sorted(won) == sorted(f"m{i}" for i in range(12)) and len(won) == len(set(won))
    assert len(attempts(store)) == 12


def test_claim_takes_the_incidents_grouped_messages_together(store: Store, t0: datetime) -> None:
    group = t0 + timedelta(seconds=10)
    enqueue(store, message("incident:1:opened", t0, group_until=group),
            message("incident:1:symptom", t0 + timedelta(seconds=5), group_until=group),
            message("incident:2:opened", t0 + timedelta(seconds=6), incident_id=2, group_until=group),
            message("incident:1:plain", t0 + timedelta(seconds=7)))
    claim = outbox.claim(store.engine, [("oncall", 0)], t0 + timedelta(seconds=10), "node-a", t0 + timedelta(minutes=1))
    assert [r["key"] for r in claim.rows] == ["incident:1:opened", "incident:1:symptom"]
    assert set(claim.attempt_of) == {r["id"] for r in claim.rows}


def test_attempts_record_every_try_and_a_takeover_marks_the_lost_one(store: Store, t0: datetime) -> None:
    enqueue(store, message("m1", t0))
    lease = t0 + timedelta(minutes=1)
    first = outbox.claim(store.engine, [("oncall", 0)], t0, "node-a", lease)
    assert [a["ok"] for a in attempts(store)] == [None], "in flight"
    # node-a died mid-delivery; after its lease node-b takes over
    second = outbox.claim(store.engine, [("oncall", 0)], lease + timedelta(seconds=1), "node-b", lease + timedelta(minutes=1))
    assert second.interrupted == 1
    [row] = second.rows
    with store.engine.begin() as conn:
        assert outbox.mark_sent(conn, [row["id"]], "node-a", lease) == 0, "node-a no longer holds it"
        assert outbox.mark_sent(conn, [row["id"]], "node-b", lease + timedelta(seconds=2)) == 1
        outbox.finish_attempts(conn, list(second.attempt_of.values()), ok=True, error=None, duration_ms=12.5)
    assert [(a["ok"], a["error"], a["duration_ms"]) for a in attempts(store)] == [
        (False, INTERRUPTED, None), (True, None, 12.5)]
    [sent] = all_rows(store)
    assert (sent["status"], sent["attempts"], sent["claimed_by"], sent["sent_at"]) == (
        "sent", 1, None, lease + timedelta(seconds=2))
    assert first.rows[0]["id"] == sent["id"]


def test_a_failed_delivery_is_retried_later_or_given_up(store: Store, t0: datetime) -> None:
    enqueue(store, message("m1", t0, target=0), message("m2", t0, target=1))
    claim = outbox.claim(store.engine, [("oncall", 0), ("oncall", 1)], t0, "node-a", t0 + timedelta(minutes=1))
    ids = {r["key"]: r["id"] for r in claim.rows}
    with store.engine.begin() as conn:
        outbox.mark_failed(conn, ids["m1"], "node-a", attempts=1, error="HTTP 502", retry_at=t0 + timedelta(seconds=30))
        outbox.mark_failed(conn, ids["m2"], "node-a", attempts=1, error="bad URL", retry_at=None)
        outbox.mark_failed(conn, ids["m1"], "node-z", attempts=9, error="not mine", retry_at=None)
    rows = {r["key"]: r for r in all_rows(store)}
    assert (rows["m1"]["status"], rows["m1"]["attempts"], rows["m1"]["next_attempt_at"], rows["m1"]["claimed_by"]) == (
        "pending", 1, t0 + timedelta(seconds=30), None)
    assert (rows["m2"]["status"], rows["m2"]["last_error"]) == ("failed", "bad URL")
    assert outbox.due_targets(store.engine, t0 + timedelta(seconds=29)) == []
    assert outbox.due_targets(store.engine, t0 + timedelta(seconds=30)) == [("oncall", 0)]


def test_oldest_failing_message_of_a_channel(store: Store, t0: datetime) -> None:
    enqueue(store, message("ok", t0 - timedelta(hours=2), attempts=0),
            message("problem", t0 - timedelta(hours=3), attempts=4, event="monitor.problem"),
            message("gave-up", t0 - timedelta(hours=2), attempts=5, status="failed", target=1),
            message("retrying", t0 - timedelta(hours=1), attempts=2, target=2),
            message("elsewhere", t0 - timedelta(hours=9), attempts=2, channel="staff"))
    by_key = {r["key"]: r["id"] for r in all_rows(store)}
    with store.engine.connect() as conn:
        assert outbox.oldest_failing(conn, "oncall") == (by_key["retrying"], t0 - timedelta(hours=1)), "pending first"
        assert outbox.oldest_failing(conn, "nobody") is None


def test_orphaned_targets_fail_and_the_cli_lists_and_retries(store: Store, t0: datetime) -> None:
    enqueue(store, message("m1", t0, channel="gone"), message("m2", t0, channel="gone", status="sent"),
            message("m3", t0))
    assert outbox.fail_pending(store.engine, ("gone", 0), "channel is no longer configured", t0) == 1
    with store.engine.connect() as conn:
        assert [r["key"] for r in readout.outbox(conn, readout.tables(conn), limit=10, include_sent=False)] == ["m3", "m1"]
        assert [r["key"] for r in readout.outbox(conn, readout.tables(conn), limit=2, include_sent=True)] == ["m3", "m2"]
    ids = {r["key"]: r["id"] for r in all_rows(store)}
    assert outbox.retry(store.engine, [ids["m1"], ids["m2"], 999], t0 + timedelta(hours=1)) == 1, "sent stays sent"
    again = {r["key"]: r for r in all_rows(store)}["m1"]
    assert (again["status"], again["next_attempt_at"]) == ("pending", t0 + timedelta(hours=1))
