"""Silences: hold alerts for a check or a component for a while, with a reason.

Unlike maintenance, a silence changes nothing people see: incidents still open and the page
still shows the truth; only notices wait (an incident still open when the silence ends is
announced then). The rows are `monitor.store.maintenance`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import Session

from monitor.store import maintenance as rows
from monitor.store.maintenance import Silence


def add_silence(
    session: Session, *, target: str, target_kind: str, duration: timedelta, reason: str, who: str, now: datetime
) -> Silence:
    if target_kind not in ("check", "component"):
        raise ValueError("a silence targets a check or a component")
    if duration <= timedelta(0):
        raise ValueError("a silence needs a duration longer than zero")
    return rows.add_silence(session, Silence(
        target=target,
        target_kind=target_kind,
        reason=reason,
        created_by=who,
        created_at=now,
        starts_at=now,
        ends_at=now + duration,
    ))


def silenced(silences: Iterable[Silence]) -> tuple[frozenset[str], frozenset[str]]:
    """(silenced check names, silenced component ids)."""
    checks: set[str] = set()
    comps: set[str] = set()
    for s in silences:
        (checks if s.target_kind == "check" else comps).add(s.target)
    return frozenset(checks), frozenset(comps)
