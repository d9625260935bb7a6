"""Writing to the outbox: `enqueue` renders a notice for every routed target and adds one row
per target to the caller's session, without committing.

Rows go in through `monitor.store.outbox.insert` (ON CONFLICT DO NOTHING on (key, channel,
target_index)), so a second enqueue of the same key (a retry, a restart, a second
controller) adds nothing and never aborts the caller's transaction. Text is rendered and
redacted here, once: the dispatcher sends exactly what was decided, and the database never
holds a secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from jinja2 import Environment
from sqlmodel import Session

from monitor.core.events import CLOSING_EVENTS, PAGING_SEVERITIES, Notice, is_paging
from monitor.core.secrets import Redactor
from monitor.rulebook.quiet_hours import release_time
from monitor.store import outbox
from notifiers.render import Message, make_environment, render
from notifiers.routing import body_format, targets_for

if TYPE_CHECKING:
    from monitor.config import Config

_ENV_CACHE: list[tuple[Any, Environment]] = []


def environment_for(config: Config) -> Environment:
    """One compiled template environment per config object (templates compile once)."""
    for cfg, env in _ENV_CACHE:
        if cfg is config:
            return env
    env = make_environment(config)
    _ENV_CACHE.insert(0, (config, env))
    del _ENV_CACHE[4:]
    return env


def enqueue(
    session: Session, notice: Notice, config: Config, *, now: datetime | None = None,
    sent: Mapping[tuple[str, int], datetime] | None = None,
) -> int:
    """Add one outbox row per routed target; return how many rows were added.

    Does not commit: the caller commits with the change that caused the notice and then
    publishes "outbox_added" on the bus. Idempotent on (notice.key, channel, target).
    `sent` names targets that already received this notice directly while the database
    refused writes (notifiers/direct.py): their rows are stored as sent, never sent again.
    """
    sent = sent or {}
    now = now or notice.at
    also: set[tuple[str, int]] = set()
    if notice.event in CLOSING_EVENTS and notice.incident_id is not None:
        also = outbox.told_targets(session, notice.incident_id)
    targets = targets_for(notice, config, also)
    if not targets:
        return 0
    # A grouping window holds what follows an incident's first message to a target, never the
    # first one itself, nor its first page (a minor incident that becomes major): those go out
    # at once; later events of the incident wait and go out as one.
    told: set[tuple[str, int]] = set()
    if notice.incident_id is not None and any(t.group_window for t in targets):
        told = outbox.incident_targets(session, notice.incident_id,
                                       PAGING_SEVERITIES if is_paging(notice.severity) else None)
    env = environment_for(config)
    redactor = Redactor(config.secrets)
    zone = config.monitor.tz
    rendered: dict[tuple[str, str, str], Message] = {}
    added = 0
    for target in targets:
        channel = target.channel
        language = channel.language or config.monitor.language
        fmt = body_format(channel, target.url)
        cache_key = (channel.audience, language, fmt)
        if cache_key not in rendered:
            rendered[cache_key] = render(env, notice, config, audience=channel.audience, language=language, body_format=fmt)
        msg = rendered[cache_key]
        window = target.group_window if (channel.name, target.index) in told else timedelta(0)
        due = max(release_time(channel, notice, now, zone), now + window)
        sent_at = sent.get((channel.name, target.index))
        added += outbox.insert(
            session,
            {
                "key": notice.key[:200],
                "channel": channel.name,
                "target_index": target.index,
                "event": notice.event,
                "incident_id": notice.incident_id,
                "component": notice.component,
                "severity": notice.severity,
                "audience": channel.audience,
                "language": language,
                "title": redactor.redact(msg.title),
                "body": redactor.redact(msg.body),
                "body_format": msg.body_format,
                "status": "pending" if sent_at is None else "sent",
                "attempts": 0 if sent_at is None else 1,
                "sent_at": sent_at,
                "next_attempt_at": due,
                "created_at": now,
                "group_until": (now + window) if target.group_window and notice.incident_id is not None else None,
            },
        )
    return added


def enqueue_all(session: Session, notices: Iterable[Notice], config: Config) -> int:
    """`enqueue` every notice into the caller's transaction; return rows added."""
    return sum(enqueue(session, n, config) for n in notices)
