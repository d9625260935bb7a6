"""The watcher: looks at open incidents and announcements and queues what is due now
(reminders, escalations, acked/resolved safety nets, announcement publish/update/close, the
"next update is due" reminder). The decisions are notifiers.decide's pure functions; this
module only reads rows, applies the decisions and commits, one incident per transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import select

from monitor.core.clock import Clock
from monitor.core.events import DOWN_EVENTS
from monitor.rulebook.announcements import announcement_action
from monitor.rulebook.paging import IncidentView, closing_notices, paging_notices
from notifiers import announce
from notifiers.crashpoints import crashpoint
from notifiers.incident_source import load_incidents
from notifiers.outbox import enqueue
from notifiers.tables import AnnouncementRow, OutboxRow

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.store import Store

log = logging.getLogger(__name__)
OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]


class Watcher:
    def __init__(self, store: Store, config: Config, *, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock

    def tick(self) -> tuple[bool, bool]:
        """Queue everything due now. Returns (anything queued, any announcement changed)."""
        now = self.clock.now()
        with self.store.engine.connect() as conn:
            incidents = load_incidents(conn, now)
        queued = changed = False
        for view in incidents:
            q, c = self._incident(view, now)
            queued, changed = queued or q, changed or c
        queued = self._manual_announcements(now, {v.id for v in incidents}) or queued
        return queued, changed

    def _incident(self, view: IncidentView, now: datetime) -> tuple[bool, bool]:
        with self.store.session() as session:
            rows = session.connection().execute(
                sa.select(OUTBOX.c.key, OUTBOX.c.event).where(OUTBOX.c.incident_id == view.id).distinct()
            ).all()
            sent = {k for k, _ in rows}
            told = any(e in DOWN_EVENTS for _, e in rows)
            notices = paging_notices(view, sent, now, self.config.escalation)
            notices += closing_notices(view, sent, told, now)
            added = sum(enqueue(session, n, self.config, now=now) for n in notices)
            row = announce.announcement_for_incident(session, view.id)
            kind = announcement_action(view, announce.view_of(row) if row else None, now, self.config.announcements)
            if kind == "remind" and row is not None:
                added += announce.remind_due(session, self.config, row, now)
                kind = None
            elif kind is not None:
                announce.apply_action(session, self.config, kind, view, row, now)
            if not (added or kind):
                return False, False
            crashpoint("watch.before_commit")
            session.commit()
        crashpoint("watch.after_commit")
        log.info("incident %d: queued %s%s", view.id, ", ".join(n.key for n in notices) or "-",
                 f"; announcement {kind}" if kind else "")
        return True, kind is not None

    def _manual_announcements(self, now: datetime, seen: set[int]) -> bool:
        """Announcements not tied to an incident we looked at: remind when an update is due."""
        added = 0
        with self.store.session() as session:
            rows = session.exec(
                select(AnnouncementRow).where(
                    AnnouncementRow.status != "closed", AnnouncementRow.next_update_at <= now  # type: ignore[operator]
                )
            ).all()
            for row in rows:
                if row.incident_id is not None and row.incident_id in seen:
                    continue
                kind = announcement_action(None, announce.view_of(row), now, self.config.announcements)
                if kind == "remind":
                    added += announce.remind_due(session, self.config, row, now)
            if added:
                session.commit()
        return added > 0
