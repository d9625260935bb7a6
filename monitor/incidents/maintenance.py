"""Maintenance windows at work: what is covered now and planned (the arithmetic is
`monitor.rulebook.maintenance`, the rows `monitor.store.maintenance`), windows added by hand
(checked here), and the mirror of config windows into `maintenance_window`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from monitor.core import cron
from monitor.core.text import text_in
from monitor.rulebook.maintenance import Occurrence, Window, active_in, upcoming
from monitor.store import maintenance as rows
from monitor.store.maintenance import MaintenanceWindow

if TYPE_CHECKING:
    from monitor.config import Config


def active_maintenance(session: Session, now: datetime) -> list[Occurrence]:
    """Occurrences in force at `now`."""
    return active_in(rows.current_windows(session), now)


def planned_maintenance(session: Session, now: datetime, horizon: timedelta) -> list[Occurrence]:
    """Occurrences starting within `horizon` from now, soonest first."""
    return planned_in(rows.current_windows(session), now, horizon)


def planned_in(windows: Sequence[Window], now: datetime, horizon: timedelta) -> list[Occurrence]:
    """Occurrences of `windows` starting within `horizon` from now, soonest first."""
    out = [occ for w in windows for occ in upcoming(w, now, horizon)]
    return sorted(out, key=lambda o: (o.starts_at, o.window_id))


def add_window(
    session: Session,
    *,
    title: str,
    components: Sequence[str],
    starts_at: datetime,
    ends_at: datetime | None,
    now: datetime,
    created_by: str,
    recurrence: str | None = None,
    duration: timedelta | None = None,
    timezone: str = "UTC",
    description: str = "",
    source: str = "cli",
    title_i18n: dict[str, str] | None = None,
    config_key: str | None = None,
) -> MaintenanceWindow:
    if recurrence is not None:
        cron.validate(recurrence)
        if duration is None or duration <= timedelta(0):
            raise ValueError("a recurring window needs a duration longer than zero")
    elif ends_at is None or ends_at <= starts_at:
        raise ValueError("a one-off window needs an end after its start")
    return rows.add_window(session, MaintenanceWindow(
        title=title,
        title_i18n=title_i18n,
        description=description,
        components=list(components),
        starts_at=starts_at,
        ends_at=ends_at,
        recurrence=recurrence,
        duration_s=int(duration.total_seconds()) if duration is not None else None,
        timezone=timezone,
        created_by=created_by,
        created_at=now,
        source=source,
        config_key=config_key,
    ))


def components_text(ids: Sequence[str], config: Config) -> str:
    """Component names for people, in the monitor's language ("everything" for none)."""
    language = config.monitor.language
    if not ids:
        return "全部" if language == "zh-CN" else "everything"
    names = {c.id: c.name for c in config.components}
    return ", ".join(text_in(names[c], language) if c in names else c for c in ids)


def config_key(window: Any) -> str:
    """A stable id for a config window: the hash of its settings."""
    return hashlib.sha1(window.model_dump_json().encode()).hexdigest()[:16]


def mirror_config(session: Session, config: Config, now: datetime) -> list[MaintenanceWindow]:
    """Make the table's config windows match `config.maintenance`; return the rows added.

    Unchanged windows keep their row (and an early end set by hand); removed or edited ones
    are replaced. Runs at start and on every reload.
    """
    wanted = {config_key(w): w for w in config.maintenance}
    existing = rows.config_windows(session)
    rows.delete_windows(session, [row for key, row in existing.items() if key not in wanted])
    added = []
    for key, w in wanted.items():
        if key in existing:
            continue
        start, end, zone = w.bounds(config.monitor.timezone)
        if w.cron is not None and start is None:
            assert w.duration is not None
            start = now - w.duration  # cover an occurrence already under way
        assert start is not None
        added.append(
            add_window(
                session,
                title=text_in(w.title, config.monitor.language),
                title_i18n={str(k): v for k, v in w.title.items()} if isinstance(w.title, dict) else None,
                description=text_in(w.description, config.monitor.language),
                components=w.components,
                starts_at=start,
                ends_at=end,
                now=now,
                created_by="config",
                recurrence=w.cron,
                duration=w.duration,
                timezone=zone,
                source="config",
                config_key=key,
            )
        )
    return added
