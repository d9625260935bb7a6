"""The dispatcher: claims due outbox rows and delivers them through Apprise.

One pass claims the oldest due message of every target (channel, URL index) that has a free
slot in its channel, in one transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, a
compare-and-set UPDATE on SQLite; fenced by leadership), and starts a task per target that
sends in the bounded Apprise worker pool, records the outcome and the attempt in the same
worker thread, then claims that target's next due message. Two dispatchers on one PostgreSQL never send a row twice: only one claim wins it,
and a deposed controller's claim is refused (monitor.store.leadership).
A slow or failing channel only ever occupies its own slots (`concurrency`) and threads.

Failures are retried with exponential backoff and jitter until `max_age`, then marked failed.
A channel whose oldest undelivered message has failed for `problem_after` is reported to the
other channels as a monitor.problem notice (once per failing streak, by idempotency key).
Delivery is at-least-once at one point only: a crash after the remote accepted a message and
before the row was marked sent re-sends it after the lease; the `X-Invoicewatch-Key` header
lets receivers that can dedupe do so. The SQL of claiming and recording is
`monitor.store.outbox`'s.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.core.clock import Clock
from monitor.core.errors import Deposed
from monitor.core.events import MONITOR_PROBLEM, Notice
from monitor.core.secrets import Redactor
from monitor.rulebook.delivery import late_by
from monitor.store import outbox
from monitor.store.leadership import SOLE, Leader
from monitor.store.outbox import TargetKey
from notifiers.crashpoints import crashpoint
from notifiers.outbox import enqueue, environment_for
from notifiers.render import render_block
from notifiers.sender import SendOutcome, notify_type, send, url_secrets

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.config.notifications import Channel
    from monitor.store import Store

log = logging.getLogger(__name__)
_SEPARATOR = {"text": "\n\n──────────\n\n", "markdown": "\n\n---\n\n", "html": "\n<hr>\n"}


@dataclass(frozen=True)
class Claimed:
    """Rows claimed together (one message: a group of one incident's events to one target)."""

    token: str
    rows: list[dict[str, Any]]
    attempt_ids: list[int]

    @property
    def ids(self) -> list[int]:
        return [r["id"] for r in self.rows]


def backoff(attempts: int, initial: timedelta, cap: timedelta, rng: random.Random) -> timedelta:
    """Exponential backoff with 'equal jitter': between half and all of min(cap, initial*2^n)."""
    base = min(cap.total_seconds(), initial.total_seconds() * (2 ** max(0, attempts - 1)))
    return timedelta(seconds=base * (0.5 + 0.5 * rng.random()))


def combine(rows: list[dict[str, Any]], notes: Mapping[int, str] | None = None) -> tuple[str, str]:
    """Title and body of grouped rows: the newest title, every body in order, each after its
    note (by row id: the late-delivery line) when it has one."""
    rows = sorted(rows, key=lambda r: (r["created_at"], r["id"]))
    notes = notes or {}
    fmt = rows[0]["body_format"]
    bodies = [_with_note(r["body"], notes.get(r["id"]), fmt) for r in rows]
    if len(rows) == 1:
        return rows[0]["title"], bodies[0]
    sep = _SEPARATOR.get(fmt, "\n\n")
    title = rows[-1]["title"] + (f" (+{len(rows) - 1})" if len(rows) > 1 else "")
    return title, sep.join(bodies)


def _with_note(body: str, note: str | None, body_format: str) -> str:
    if not note:
        return body
    if body_format == "html":
        return f"<p>{html.escape(note)}</p>\n{body}"
    return f"{note}\n\n{body}"


class Dispatcher:
    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        clock: Clock,
        redactor: Redactor | None = None,
        rng: random.Random | None = None,
        node: str | None = None,
        on_enqueued: Callable[[], None] | None = None,
        leader: Leader = SOLE,
    ) -> None:
        """`leader`: claims are fenced by it (a deposed controller's claim is refused in the
        claiming transaction, so it cannot start a delivery the new leader also starts)."""
        self.store = store
        self.leader = leader
        self.config = config
        self.clock = clock
        self.redactor = redactor or Redactor(config.secrets)
        self.rng = rng or random.Random()
        self.node = node or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.on_enqueued = on_enqueued
        self._pool = ThreadPoolExecutor(max_workers=config.notifications.workers, thread_name_prefix="apprise")
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._busy: set[TargetKey] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._deferred = False  # a pass left due targets waiting for a channel slot
        self.sent = 0
        self.failed_attempts = 0

    def on_config(self, config: Config) -> None:
        self.config = config
        for secret in config.secrets:
            self.redactor.add(secret)

    def _channel(self, name: str) -> Channel | None:
        for c in self.config.channels:
            if c.name == name:
                return c
        return None

    def _sem(self, channel: Channel) -> asyncio.Semaphore:
        sem = self._sems.get(channel.name)
        if sem is None:
            sem = self._sems[channel.name] = asyncio.Semaphore(channel.concurrency)
        return sem

    # passes --------------------------------------------------------------------------------
    async def run_due(self, *, wait: bool = True) -> int:
        """Start delivering what is due now; with `wait`, keep going (a channel's further
        targets start as its slots free up) until nothing due is left undelivered, then
        return. Returns the number of targets started."""
        total = await self._pass()
        while wait and self._tasks:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)
            total += await self._pass()
        return total

    async def _pass(self) -> int:
        """Claim the first due message of every target that can start now (one transaction)
        and start one task per target to deliver it and whatever else is due there.

        A channel gets at most `concurrency` targets in flight, so a claimed message never
        waits for a slot while its lease runs out; targets left over start when a slot
        frees (the finishing task wakes the service for another pass). Only the leader
        claims; a claim that finds this node deposed raises Deposed."""
        if not self.leader.is_leader:
            return 0
        now = self.clock.now()
        due = await asyncio.to_thread(self._due_targets, now)
        chosen: list[TargetKey] = []
        orphans: list[TargetKey] = []
        free: dict[str, int] = {}
        for target in due:
            if target in self._busy:
                continue
            channel = self._channel(target[0])
            if channel is None:
                orphans.append(target)
                continue
            if target[0] not in free:
                free[target[0]] = channel.concurrency - sum(1 for b in self._busy if b[0] == target[0])
            if free[target[0]] > 0:
                free[target[0]] -= 1
                chosen.append(target)
            else:
                self._deferred = True
        for target in orphans:
            await asyncio.to_thread(self._fail_orphans, target, "channel is no longer configured")
        claims = await asyncio.to_thread(self._claim, chosen, now) if chosen else {}
        for target, claimed in claims.items():
            self._busy.add(target)
            task = asyncio.create_task(self._work_target(target, claimed), name=f"deliver {target[0]}[{target[1]}]")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(claims)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for deliveries in flight (used at stop and by tests)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def close(self, grace: float = 5.0) -> None:
        await self.drain(grace)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _due_targets(self, now: datetime, only: TargetKey | None = None) -> list[TargetKey]:
        return outbox.due_targets(self.store.engine, now, only)

    def next_due(self, now: datetime) -> datetime | None:
        """When the next message that is not due yet comes due (the service wakes for it)."""
        return outbox.next_due(self.store.engine, now)

    # one target ----------------------------------------------------------------------------
    async def _work_target(self, target: TargetKey, first: Claimed) -> None:
        """Deliver `first`, then this target's other due messages one at a time, in order,
        until none is due or one fails (its backoff then orders the rest)."""
        claimed: Claimed | None = first
        try:
            channel = self._channel(target[0])
            if channel is None:
                return  # config reloaded meanwhile; the lease lapses and the next pass decides
            async with self._sem(channel):
                for _ in range(200):  # bounded: a flood is finished by the next pass
                    if claimed is None:
                        if not self.leader.is_leader:
                            return  # deposed: what is left is the new leader's
                        now = self.clock.now()
                        if not await asyncio.to_thread(self._due_targets, now, target):
                            return
                        claimed = (await asyncio.to_thread(self._claim, [target], now)).get(target)
                        if claimed is None:
                            return
                    crashpoint("dispatch.claimed")
                    ok = await self._deliver(channel, target, claimed)
                    claimed = None
                    if not ok:
                        return
        except Deposed as exc:
            log.info("stopped delivering to %s[%d]: %s", *target, exc)
        except Exception:
            log.exception("delivering to %s[%d] failed unexpectedly", *target)
        finally:
            self._busy.discard(target)
            if self._deferred and self.on_enqueued is not None:
                self._deferred = False
                self.on_enqueued()  # a slot is free: look again now, not at the next poll

    def _claim(self, targets: list[TargetKey], now: datetime) -> dict[TargetKey, Claimed]:
        """Claim the oldest due message of each target (and, when its route groups, the
        incident's other pending messages there) by compare-and-set, in one transaction.
        Returns what this dispatcher won; another may have won the rest."""
        timeouts = [c.timeout for c in self.config.channels if c.name in {t[0] for t in targets}]
        lease_until = now + max([self.config.notifications.lease, *(t * 2 for t in timeouts)])
        token = f"{self.node}:{uuid.uuid4().hex[:8]}"
        won = outbox.claim(self.store.engine, targets, now, token, lease_until, fence=self.leader.fence, node=self.node)
        if won.interrupted:
            log.warning("re-sending %d message(s) whose earlier delivery was interrupted: %s",
                        won.interrupted, [r["id"] for r in won.rows])
        out: dict[TargetKey, Claimed] = {}
        for r in won.rows:
            target = (r["channel"], int(r["target_index"]))
            claimed = out.setdefault(target, Claimed(token, [], []))
            claimed.rows.append(r)
            claimed.attempt_ids.append(won.attempt_of[r["id"]])
        return out

    async def _deliver(self, channel: Channel, target: TargetKey, claimed: Claimed) -> bool:
        """Send one claimed message and record the outcome, both in one Apprise worker thread:
        no event-loop hop between "the receiver accepted it" and "it is recorded as sent"."""
        crashpoint("dispatch.before_send")
        loop = asyncio.get_running_loop()
        ok, problem = await loop.run_in_executor(self._pool, self._send_and_record, channel, target, claimed)
        if ok:
            self.sent += 1
            crashpoint("dispatch.after_record")
        else:
            self.failed_attempts += 1
            crashpoint("dispatch.after_fail_record")
        if problem and self.on_enqueued:
            self.on_enqueued()
        return ok

    def _send_and_record(self, channel: Channel, target: TargetKey, claimed: Claimed) -> tuple[bool, bool]:
        rows = claimed.rows
        title, body = combine(rows, self._late_notes(rows, self.clock.now()))
        lead = min(rows, key=lambda r: (r["created_at"], r["id"]))
        url = channel.urls[target[1]] if target[1] < len(channel.urls) else None
        if url is None:
            outcome = SendOutcome(False, "target no longer configured (channel has fewer URLs)", 0.0, True)
        else:
            outcome = send(
                url, title=title, body=body, body_format=lead["body_format"],
                kind=notify_type(lead["event"], lead["severity"]),
                timeout=channel.timeout.total_seconds(), key=",".join(sorted(r["key"] for r in rows)),
                mentions=tuple(channel.mentions),
            )
            crashpoint("dispatch.after_send")
        error = outcome.error
        fields = {"channel": target[0], "target": target[1], "events": [r["event"] for r in rows],
                  "incident": lead["incident_id"], "outbox_ids": claimed.ids, "attempt": lead["attempts"] + 1}
        if error:
            error = self.redactor.redact(Redactor(url_secrets(url) if url else []).redact(error))
        if not outcome.ok:
            log.warning("delivery of %s to %s[%d] failed (attempt %d): %s", lead["event"], target[0], target[1],
                        lead["attempts"] + 1, error, extra={"event": "message.failed", "fields": {**fields, "error": error}})
        else:
            log.info("delivered %s to %s[%d] in %.0f ms%s", lead["event"], target[0], target[1], outcome.duration_ms,
                     f" (incident {lead['incident_id']})" if lead["incident_id"] is not None else "",
                     extra={"event": "message.delivered", "fields": fields})
        return outcome.ok, self._record(channel, claimed, outcome, error, self.clock.now())

    def _late_notes(self, rows: list[dict[str, Any]], now: datetime) -> dict[int, str]:
        """The "sent late: decided at ..." line of each row that goes out late."""
        notes: dict[int, str] = {}
        env = environment_for(self.config)
        for r in rows:
            late = late_by(r["created_at"], now, r["group_until"])
            if late is None:
                continue
            ctx = {"decided_at": r["created_at"], "sent_at": now, "late_by": late}
            lang = r["language"] if r["language"] in ("zh-CN", "en") else "en"
            notes[r["id"]] = render_block(env, f"{lang}/late.txt.j2", "note", ctx)
        return notes

    def _record(self, channel: Channel, claimed: Claimed, outcome: SendOutcome, error: str | None, now: datetime) -> bool:
        """Write the outcome on the rows and their attempts; True if a problem notice was queued."""
        settings = self.config.notifications
        problem = False
        with self.store.session() as session:
            conn = session.connection()
            if outcome.ok:
                done = outbox.mark_sent(conn, claimed.ids, claimed.token, now)
                if done < len(claimed.rows):
                    log.warning("lease on %s ran out during delivery; another dispatcher may send it again", claimed.ids)
            else:
                for r in claimed.rows:
                    attempts = r["attempts"] + 1
                    give_up = outcome.permanent or now - r["created_at"] >= settings.max_age
                    retry_at = None if give_up else now + backoff(attempts, settings.retry_initial, settings.retry_max, self.rng)
                    outbox.mark_failed(conn, r["id"], claimed.token, attempts=attempts, error=error, retry_at=retry_at)
                problem = self._maybe_report(session, channel, error, now)
            outbox.finish_attempts(conn, claimed.attempt_ids, ok=outcome.ok, error=error, duration_ms=outcome.duration_ms)
            session.commit()
        return problem

    def _maybe_report(self, session: Any, channel: Channel, error: str | None, now: datetime) -> bool:
        """Queue a monitor.problem (to the other channels) once a channel has failed for long."""
        oldest = outbox.oldest_failing(session.connection(), channel.name)
        if oldest is None:
            return False
        oldest_id, failing_since = oldest
        if now - failing_since < self.config.notifications.problem_after:
            return False
        notice = Notice(
            event=MONITOR_PROBLEM,
            key=f"channel:{channel.name}:failing:{oldest_id}",
            at=now,
            severity="major",
            title=f"notification channel {channel.name} keeps failing",
            data={"problem": "channel", "channel": channel.name, "failing_since": failing_since.isoformat(),
                  "detail": error or "", "exclude_channels": [channel.name]},
        )
        return enqueue(session, notice, self.config, now=now) > 0

    def _fail_orphans(self, target: TargetKey, reason: str) -> None:
        outbox.fail_pending(self.store.engine, target, reason, self.clock.now())
