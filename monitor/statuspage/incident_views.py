"""The public incidents of the page, read incrementally: `read_incidents(conn, have, since,
configured, memo)`.

An incident's view is what its row and its timeline say, with the configured components'
names and publicity: templated titles (see catalog.py), only the updates worth showing
staff, no private component named. With an `IncidentMemo` (the page's PageService holds one)
a render reads every incident's version first (pages.incident_versions: the row as stored
and its timeline's length and last entry, a few ms for 2,000 incidents) and reads, converts
and builds views again only for the incidents whose version changed, or all of them when the
configured components did; an incident gone from the window (resolved before `since`, or
pruned) is dropped. What the page shows is the same as a read of everything (the tests
compare them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa

from monitor.config.models import Component
from monitor.core.text import LANGUAGES, Text, names_in, text_in
from monitor.statuspage.model import IncidentView, UpdateView
from monitor.store import pages

_OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass
class IncidentMemo:
    """The last render's incidents: id -> (version, record, public view or None)."""

    components: Sequence[Component] | None = None  # the configuration the views were built with
    kept: dict[int, tuple[tuple[Any, ...], pages.IncidentRecord, IncidentView | None]] = field(default_factory=dict)
    read: int = 0  # incidents read and converted by the last render (the rest were kept)


def read_incidents(
    conn: sa.Connection, have: set[str], since: datetime, components: Sequence[Component],
    memo: IncidentMemo | None = None,
) -> list[tuple[pages.IncidentRecord, IncidentView | None]]:
    """Open incidents and those resolved at or after `since`, newest first (as
    pages.incidents), each with its public view (None: not shown on the public page)."""
    configured = {c.id: c for c in components}
    if memo is None:
        return [(r, view_of(r, configured) if is_public(r, configured) else None)
                for r in pages.incidents(conn, have, since)]
    versions = pages.incident_versions(conn, have, since)
    same_config = memo.components is components
    kept = {i: found for i, found in memo.kept.items() if versions.get(i) == found[0]}
    wanted = {i for i in versions if i not in kept}
    # Most of them new (the first render): one read of all, not lists of ids.
    fresh = [r for r in pages.incidents(conn, have, since, None if 2 * len(wanted) > len(versions) else list(wanted))
             if r.id in wanted]
    for r in fresh:
        kept[r.id] = (versions[r.id], r, None)
    if not same_config:
        kept = {i: (version, r, None) for i, (version, r, _) in kept.items()}
    out = {}
    for i, (version, r, view) in kept.items():
        if view is None and is_public(r, configured):
            view = view_of(r, configured)
        out[i] = (version, r, view)
    memo.components, memo.kept, memo.read = components, out, len(fresh)
    ordered = sorted(out.values(), key=lambda v: (v[1].started_at or v[1].detected_at or _OLDEST, v[1].id),
                     reverse=True)
    return [(r, view) for _, r, view in ordered]


def is_public(r: pages.IncidentRecord, configured: dict[str, Component]) -> bool:
    comps = [configured.get(c) for c in _affects(r)]
    return r.public and any(comp is None or comp.public for comp in comps)


def _affects(r: pages.IncidentRecord) -> tuple[str, ...]:
    """The components an incident is about: a platform incident names several."""
    return tuple((r.data or {}).get("affected") or ()) or (r.component,)


def name_of(cid: str, configured: dict[str, Component]) -> Text:
    comp = configured.get(cid)
    return comp.name if comp is not None else cid


def names_of(cids: tuple[str, ...], configured: dict[str, Component]) -> Text:
    """One component's name, or several joined per language (a platform incident)."""
    if len(cids) == 1:
        return name_of(cids[0], configured)
    return cast(Text, {lang: names_in([text_in(name_of(c, configured), lang) for c in cids], lang)
                       for lang in LANGUAGES})


def public_updates(updates: Sequence[Any]) -> list[Any]:
    """Updates worth showing staff: every manual one, and an automatic one only when it moves
    the status (its public text is templated from the status alone, so the rest — a symptom
    joining, evidence refreshed — would repeat the same sentence)."""
    keep_ids: set[int] = set()
    last_status: str | None = None
    for u in sorted(updates, key=lambda u: (u.at, u.id)):
        if (u.data or {}).get("action") == "ack":
            continue  # an ack tells on-call someone is on it; it is not news for the public
        if u.kind == "manual" or u.status != last_status:
            keep_ids.add(u.id)
            last_status = u.status
    return [u for u in updates if u.id in keep_ids]


def view_of(r: pages.IncidentRecord, configured: dict[str, Component]) -> IncidentView:
    """The public view of one incident; its `key` digests its repr (what it shows)."""
    updates = tuple(
        UpdateView(u.id, u.at, u.status, u.message if u.kind == "manual" and u.message.strip() else None)
        for u in public_updates(r.updates)
    )
    last = max((u.at for u in r.updates), default=None)
    view = IncidentView(
        id=r.id, component=r.component, component_name=names_of(public_affects(r, configured), configured),
        status=r.status, impact=r.impact, started_at=r.started_at, detected_at=r.detected_at,
        resolved_at=r.resolved_at, updated_at=last or r.resolved_at or r.detected_at or r.started_at, updates=updates,
        components=public_affects(r, configured),
    )
    return replace(view, key=hashlib.sha256(repr(view).encode()).hexdigest())


def public_affects(r: pages.IncidentRecord, configured: dict[str, Component]) -> tuple[str, ...]:
    """What the public page names of what an incident affects: no private component."""
    shown = tuple(c for c in _affects(r) if (comp := configured.get(c)) is None or comp.public)
    return shown or (r.component,)
