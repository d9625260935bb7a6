"""A real monitor process, killed with SIGKILL at a dozen points of a scripted incident and
restarted each time: every target receives each message of the incident exactly once.

The test plays the evaluator (incident rows and their notices written in one transaction) and
runs `python -m monitor run` as a child with INVOICEWATCH_CRASH_AT naming the point where it
must SIGKILL itself (notifiers/crashpoints.py). Between every pair of durable steps of
enqueue -> claim -> send -> record, and of the watcher's decide -> commit, the process dies
at least once. The one window no outbox can close (the receiver accepted, the process died
before recording it) re-sends with the same X-Invoicewatch-Key header, which the receiver
uses to drop the duplicate; the test checks that only that window ever duplicates.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.core.events import Notice
from monitor.store import Store
from monitor.store.outbox import DeliveryAttemptRow, OutboxRow
from notifiers.outbox import enqueue
from tests.notifiers.notify_helpers import JsonSink, create_incident_table, until, write_config

ROOT = Path(__file__).resolve().parents[2]
OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]


class Child:
    """Starts `invoicewatch run` with a crash point and waits for it to die."""

    def __init__(self, config_file: Path, log: Path) -> None:
        self.config_file = config_file
        self.log = log
        self.fired: list[str] = []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, crash_at: str | None) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HOOK_TOKEN": "tok-SECRET-123456"}
        env.pop("INVOICEWATCH_CRASH_AT", None)
        if crash_at:
            env["INVOICEWATCH_CRASH_AT"] = crash_at
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "-c", str(self.config_file), "run", "--log-level", "INFO"],
                env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=str(self.config_file.parent),
            )

    async def crash_at(self, point: str, timeout: float = 60.0) -> None:
        """Run until the child kills itself at `point`; fail if it never gets there."""
        self.start(point)
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.03)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the monitor never reached crash point {point}; see {self.log}")
        assert self.proc.returncode == -signal.SIGKILL, f"exit {self.proc.returncode} at {point}; see {self.log}"
        self.fired.append(point)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.mark.slow
async def test_monitor_killed_at_every_step_of_an_incident_delivers_each_message_exactly_once(
    tmp_path: Path, json_sink: JsonSink
) -> None:
    db = tmp_path / "crash.db"
    config = write_config(tmp_path, f"sqlite:///{db}", f"""
channels:
  - {{name: oncall, urls: ["{json_sink.url('oncall-a')}", "{json_sink.url('oncall-b')}/${{HOOK_TOKEN}}"], timeout: 500ms}}
  - {{name: oncall-en, urls: "{json_sink.url('oncall-en')}", language: en, timeout: 500ms}}
  - {{name: boss, urls: "{json_sink.url('boss')}", tier: 2, timeout: 500ms}}
  - {{name: staff, urls: "{json_sink.url('staff')}", audience: staff, timeout: 500ms}}
escalation:
  repeat_interval: 3s
  tiers: [{{after: 4s, tier: 2}}]
announcements: {{delay: 1s, next_update: 1h}}
notifications: {{poll_interval: 200ms, lease: 500ms, retry_initial: 200ms, retry_max: 500ms, problem_after: 1h}}
""")
    store = Store(config.monitor.database)
    store.migrate()
    incidents = create_incident_table(store.engine)
    child = Child(Path(config.file), tmp_path / "monitor.log")

    def evaluator(action: str) -> None:
        """What the evaluator would commit: incident change + notice, one transaction."""
        now = datetime.now(UTC)
        values: dict[str, Any] = {}
        if action == "open":
            with store.session() as s:
                s.connection().execute(sa.insert(incidents).values(
                    id=1, component="issuance", title="开票接口超时", status="investigating", impact="critical",
                    started_at=now, detected_at=now, public=True, data={"check": "开票", "step": "submit"}))
                enqueue(s, Notice(event="incident.opened", key="incident:1:opened", at=now, incident_id=1,
                                  component="issuance", severity="critical", title="开票接口超时",
                                  data={"check": "开票", "step": "submit"}), config)
                s.commit()
            return
        if action == "identify":
            values = {"status": "identified"}
        elif action == "downgrade":
            values = {"impact": "major"}
        elif action == "ack":
            values = {"acked_at": now, "acked_by": "li"}
        elif action == "resolve":
            values = {"status": "resolved", "resolved_at": now}
        with store.session() as s:
            s.connection().execute(sa.update(incidents).where(incidents.c.id == 1).values(**values))
            if action == "identify":
                enqueue(s, Notice(event="incident.updated", key="incident:1:update:1", at=now, incident_id=1,
                                  component="issuance", severity="critical", title="开票接口超时",
                                  data={"status": "identified", "message": "平台方确认故障"}), config)
            if action == "resolve":
                enqueue(s, Notice(event="incident.resolved", key="incident:1:resolved", at=now, incident_id=1,
                                  component="issuance", severity="critical", title="开票接口超时"), config)
            s.commit()

    script: list[tuple[str | None, str]] = [
        ("open", "dispatch.claimed"),
        (None, "dispatch.before_send@2"),
        (None, "dispatch.after_send"),
        (None, "dispatch.after_record"),
        (None, "watch.before_commit"),  # the staff announcement or a reminder, decided, not committed
        (None, "watch.after_commit"),
        ("identify", "dispatch.after_send@2"),
        ("fail-staff", "dispatch.after_fail_record"),
        ("heal-staff", "dispatch.claimed@3"),
        ("ack", "watch.before_commit"),
        ("ack-seen", "watch.after_commit"),
        ("resolve", "watch.before_commit"),  # the announcement's closing, decided, not committed
        (None, "dispatch.after_record@2"),
    ]
    try:
        for action, point in script:
            if action in ("open", "identify", "ack", "resolve"):
                evaluator(action)
            elif action == "fail-staff":  # staff's receiver fails just as their announcement changes
                json_sink.status["/staff"] = 500
                evaluator("downgrade")
            elif action == "heal-staff":
                json_sink.status.clear()
            await child.crash_at(point)
        # A clean run finishes the incident: nothing pending, nothing claimed, all announced.
        child.start(None)

        def settled() -> bool:
            with store.engine.connect() as conn:
                pending = conn.execute(sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.status != "sent")).scalar()
                closed = conn.execute(sa.text("SELECT count(*) FROM announcement WHERE status = 'closed'")).scalar()
                resolved = conn.execute(sa.select(sa.func.count()).select_from(OUTBOX).where(
                    OUTBOX.c.key == "incident:1:resolved", OUTBOX.c.status == "sent")).scalar()
            return pending == 0 and closed == 1 and (resolved or 0) >= 4

        await until(settled, timeout=15, what="the outbox to drain after the last restart")
    finally:
        child.stop()

    # 13 kills at 13 stages of the incident, at 10 distinct code points (point@nth hit).
    assert child.fired == [point for _, point in script] and len(set(child.fired)) >= 10
    path_of = {("oncall", 0): "/oncall-a", ("oncall", 1): "/oncall-b/tok-SECRET-123456",
               ("oncall-en", 0): "/oncall-en", ("boss", 0): "/boss", ("staff", 0): "/staff"}
    attempts_t = DeliveryAttemptRow.__table__  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        rows = list(conn.execute(sa.select(OUTBOX)))
        interrupted = Counter(conn.execute(sa.select(attempts_t.c.outbox_id).where(
            attempts_t.c.error.like("interrupted%"))).scalars())
        unfinished = conn.execute(sa.select(sa.func.count()).select_from(attempts_t).where(attempts_t.c.ok.is_(None))).scalar()
    store.close()
    expected = {(path_of[(r.channel, r.target_index)], r.key): r.id for r in rows}
    raw = Counter((r.path, r.key) for r in json_sink.received)
    # Every decided message arrived, and nothing else did: deduplicated by the key header each
    # target carries, every target saw each message exactly once.
    assert set(raw) == set(expected)
    assert all(r.status == "sent" for r in rows) and unfinished == 0
    # An extra copy only ever comes from a delivery the kill interrupted between the receiver's
    # acceptance and the record of it, and each such attempt is on record as interrupted.
    extra = {k: n - 1 for k, n in raw.items() if n > 1}
    assert all(n <= interrupted[expected[k]] for k, n in extra.items()), (extra, interrupted)
    print(f"\n{len(expected)} messages, {sum(extra.values())} re-sent after interrupted deliveries, "
          f"{sum(interrupted.values())} interrupted attempts, {len(child.fired)} kills")
    # The scripted incident's milestones all arrived, in both languages.
    keys = {k for _, k in expected}
    assert {"incident:1:opened", "incident:1:update:1", "incident:1:acked", "incident:1:resolved",
            "incident:1:escalation:2", "announcement:1:published", "announcement:1:closed"} <= keys
    en = [r.payload["title"] for r in json_sink.at("oncall-en") if r.key == "incident:1:resolved"]
    zh = [r.payload["title"] for r in json_sink.at("oncall-a") if r.key == "incident:1:resolved"]
    assert en[0].startswith("[RESOLVED]") and zh[0].startswith("【已解决】")
