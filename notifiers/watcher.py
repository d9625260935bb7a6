"""The watcher: looks at open incidents and announcements and queues what is due now
(reminders, escalations, acked/resolved safety nets, announcement publish/update/close, the
"next update is due" reminder). The decisions are the rulebook's pure functions; this module
reads rows through monitor.store, applies the decisions and commits, one incident per
transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor.core.clock import Clock
from monitor.core.events import DOWN_EVENTS
from monitor.rulebook.announcements import announcement_action
from monitor.rulebook.paging import IncidentView, closing_notices, paging_notices
from monitor.store import announcements, incidents, outbox
from monitor.store.incidents import Incident
from notifiers import announce
from notifiers.crashpoints import crashpoint
from notifiers.outbox import enqueue

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.store import Store

log = logging.getLogger(__name__)

# How long after resolution an incident is still looked at (to send "resolved", close its
# announcement) if the monitor was down when it was resolved.
RESOLVED_HORIZON = timedelta(days=1)


def view_of(row: Incident) -> IncidentView:
    """An incident row as the paging and announcement rules read it."""
    return IncidentView(
        id=int(row.id or 0),
        component=row.component or "",
        impact=row.impact or "major",
        title=row.title or "",
        status=row.status or "investigating",
        detected_at=row.detected_at or row.started_at,
        acked_at=row.acked_at,
        resolved_at=row.resolved_at,
        started_at=row.started_at,
        acked_by=row.acked_by,
        public=bool(row.public),
        data=dict(row.data or {}),
    )


class Watcher:
    def __init__(self, store: Store, config: Config, *, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock

    def tick(self) -> tuple[bool, bool]:
        """Queue everything due now. Returns (anything queued, any announcement changed)."""
        now = self.clock.now()
        with self.store.session() as session:
            views = [view_of(r) for r in incidents.open_or_resolved_since(session, now - RESOLVED_HORIZON)]
        queued = changed = False
        for view in views:
            q, c = self._incident(view, now)
            queued, changed = queued or q, changed or c
        queued = self._manual_announcements(now, {v.id for v in views}) or queued
        return queued, changed

    def _incident(self, view: IncidentView, now: datetime) -> tuple[bool, bool]:
        with self.store.session() as session:
            rows = outbox.keys_for_incident(session, view.id)
            sent = {k for k, _ in rows}
            told = any(e in DOWN_EVENTS for _, e in rows)
            notices = paging_notices(view, sent, now, self.config.escalation)
            notices += closing_notices(view, sent, told, now)
            added = sum(enqueue(session, n, self.config, now=now) for n in notices)
            row = announcements.for_incident(session, view.id)
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
            for row in announcements.update_due(session, now):
                if row.incident_id is not None and row.incident_id in seen:
                    continue
                kind = announcement_action(None, announce.view_of(row), now, self.config.announcements)
                if kind == "remind":
                    added += announce.remind_due(session, self.config, row, now)
            if added:
                session.commit()
        return added > 0
