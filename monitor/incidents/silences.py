"""Silences: hold alerts for a check or a component for a while, with a reason.

Unlike maintenance, a silence changes nothing people see: incidents still open and the page
still shows the truth; only notices wait (an incident still open when the silence ends is
announced then).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import Session, select

from monitor.incidents.tables import Silence


def add_silence(
    session: Session, *, target: str, target_kind: str, duration: timedelta, reason: str, who: str, now: datetime
) -> Silence:
    if target_kind not in ("check", "component"):
        raise ValueError("a silence targets a check or a component")
    if duration <= timedelta(0):
        raise ValueError("a silence needs a duration longer than zero")
    row = Silence(
        target=target,
        target_kind=target_kind,
        reason=reason,
        created_by=who,
        created_at=now,
        starts_at=now,
        ends_at=now + duration,
    )
    session.add(row)
    session.flush()
    return row


def active_silences(session: Session, now: datetime) -> list[Silence]:
    stmt = select(Silence).where(Silence.ends_at > now, Silence.starts_at <= now, Silence.ended_at.is_(None))  # type: ignore[union-attr]
    return list(session.exec(stmt.order_by(Silence.id)))  # type: ignore[arg-type]


def end_silence(session: Session, silence_id: int, now: datetime) -> Silence | None:
    row = session.get(Silence, silence_id)
    if row is not None and row.ended_at is None:
        row.ended_at = now
        session.add(row)
    return row


def silenced(silences: Iterable[Silence]) -> tuple[frozenset[str], frozenset[str]]:
    """(silenced check names, silenced component ids)."""
    checks: set[str] = set()
    comps: set[str] = set()
    for s in silences:
        (checks if s.target_kind == "check" else comps).add(s.target)
    return frozenset(checks), frozenset(comps)
