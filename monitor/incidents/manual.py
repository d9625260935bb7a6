"""What people do by hand: ack an incident, post an update, change its status.

Each action records who (the OS user) and when in the timeline, and its notice goes into the
outbox in the same transaction. Functions work in the caller's session and do not commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from monitor.core.errors import ManualError
from monitor.core.events import (
    INCIDENT_ACKED,
    INCIDENT_RESOLVED,
    INCIDENT_STATUSES,
    INCIDENT_UPDATED,
    RESOLVED,
)
from monitor.core.secrets import Redactor
from monitor.incidents.ledger import view_of
from monitor.rulebook import notices
from monitor.store import incidents
from monitor.store.incidents import Incident, IncidentUpdate
from notifiers.outbox import enqueue_all

if TYPE_CHECKING:
    from monitor.config import Config


def _locked(session: Session, incident_id: int) -> Incident:
    row = incidents.get(session, incident_id, lock=True)
    if row is None:
        raise ManualError(f"no incident {incident_id}")
    return row


def ack(session: Session, incident_id: int, *, who: str, now: datetime, config: Config) -> tuple[Incident, bool]:
    """Acknowledge an incident (stops reminders and escalation). Returns (row, newly acked)."""
    row = _locked(session, incident_id)
    if row.resolved_at is not None:
        raise ManualError(f"incident {incident_id} is already resolved")
    if row.acked_at is not None:
        return row, False
    row.acked_at, row.acked_by, row.updated_at = now, who, now
    incidents.save(session, row)
    entry = incidents.add_update(
        session, incident_id, at=now, status=row.status, kind="manual", message="acknowledged",
        author=who, data={"action": "ack"},
    )
    assert entry.id is not None
    notice = notices.manual(INCIDENT_ACKED, view_of(row), incident_id, entry.id, now, "acknowledged", who)
    enqueue_all(session, [notice], config)
    return row, True


def update(
    session: Session,
    incident_id: int,
    *,
    status: str | None,
    message: str,
    who: str,
    now: datetime,
    config: Config,
) -> IncidentUpdate:
    """Post an update, optionally changing the status. Resolving by hand closes the incident;
    the engine leaves it closed until its checks have recovered once."""
    if status is not None and status not in INCIDENT_STATUSES:
        raise ManualError(f"status must be one of {', '.join(INCIDENT_STATUSES)}")
    if not message.strip() and status is None:
        raise ManualError("say something: --message, --status or both")
    row = _locked(session, incident_id)
    if row.resolved_at is not None and status not in (None, RESOLVED):
        raise ManualError(f"incident {incident_id} is resolved; a new failure opens a new incident")
    message = Redactor(config.secrets).redact(message.strip())
    changed = status is not None and status != row.status
    if changed:
        assert status is not None
        row.status = status
        row.data = {**(row.data or {}), "status_at": now.isoformat()}
        if status == RESOLVED:
            row.resolved_at = now
    row.updated_at = now
    incidents.save(session, row)
    entry = incidents.add_update(
        session, incident_id, at=now, status=row.status, kind="manual", message=message,
        author=who, data={"action": "update", "status_changed": changed},
    )
    assert entry.id is not None
    if row.resolved_at is None or (changed and status == RESOLVED):
        event = INCIDENT_RESOLVED if changed and status == RESOLVED else INCIDENT_UPDATED
        notice = notices.manual(event, view_of(row), incident_id, entry.id, now, message, who)
        enqueue_all(session, [notice], config)
    return entry
