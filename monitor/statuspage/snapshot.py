"""Build the status page's view model from the database: `build_snapshot(store, config, now)`.

This is where "public" is decided: only components with `public: true` appear; an incident
appears when the evaluator marked it public and its component is not configured private;
incident titles and automatic updates are *templated* (component + impact / status, see
catalog.py), and only updates a person wrote (`kind: manual`) are shown as written. Raw
check messages, evidence, check names and URLs never enter the Snapshot.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from monitor.config import Config
from monitor.config.models import Component
from monitor.core.spec import CheckSpec
from monitor.core.text import LANGUAGES, Text
from monitor.incidents.maintenance import planned_in
from monitor.rulebook.components import affected_components, enough_data
from monitor.rulebook.maintenance import Occurrence, active_in
from monitor.rulebook.topology import component_of
from monitor.statuspage import history
from monitor.statuspage.history import HistoryMemo
from monitor.statuspage.incident_views import IncidentMemo, name_of, names_of, public_affects, read_incidents
from monitor.statuspage.model import (
    INDICATOR,
    NO_DATA,
    SEVERITY,
    AffectedView,
    AnnouncementView,
    ComponentView,
    DayBar,
    IncidentView,
    LatencyBucket,
    LatencySeries,
    MaintenanceView,
    Overall,
    PageInfo,
    Snapshot,
)
from monitor.statuspage.uptime import Tally, to_us
from monitor.store import Store, pages

HISTORY_DAYS = 90
RECENT_DAYS = 7  # resolved incidents listed on the main page
_WINDOW_SPAN = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}


def day_starts(now: datetime, tz: ZoneInfo, days: int = HISTORY_DAYS) -> list[tuple[date, datetime]]:
    """The last `days` local dates (oldest first, today last) with their local midnight in UTC."""
    today = now.astimezone(tz).date()
    out = []
    for back in range(days - 1, -1, -1):
        d = today - timedelta(days=back)
        out.append((d, datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(now.tzinfo)))
    return out


@dataclass
class PageMemo:
    """What one page's renders keep for the next (PageService holds one; a snapshot without
    it reads and works out everything): the rolled days and hours (history.HistoryMemo), the
    incidents by version (incident_views.IncidentMemo), and the day bars and components'
    leading days of the last snapshot (_BarMemo). Nothing of it is module state, so two
    pages of two configurations in one process never see each other's."""

    history: HistoryMemo = field(default_factory=HistoryMemo)
    incidents: IncidentMemo = field(default_factory=IncidentMemo)
    bars: _Kept = field(default_factory=lambda: ({}, {}, {}))


def build_snapshot(store: Store, config: Config, now: datetime, memo: PageMemo | None = None) -> Snapshot:
    """Read everything the page shows, as of `now` (aware UTC); with the `memo` of the same
    page's last snapshot, what has not changed since is not read or worked out again."""
    memo = memo or PageMemo()
    section = config.status_page
    tz = config.monitor.tz
    public = [c for c in config.components if c.public]
    public_ids = {c.id for c in public}
    configured = {c.id: c for c in config.components}
    days = day_starts(now, tz)
    since = min(days[0][1], now - _WINDOW_SPAN["90d"])
    latency_ids = [cid for cid in section.latency_components if cid in public_ids]
    hour0 = _hour_floor(now, tz) - timedelta(hours=23)

    bounds = [to_us(start) for _, start in days] + [to_us(now)]
    with store.engine.connect() as conn:
        have = pages.tables(conn)
        current = pages.current_statuses(conn, have)
        # Bars and uptime from the rollups plus a live tail (monitor/statuspage/history.py).
        tallies = history.component_history(conn, have, [c.id for c in public], bounds, now, memo.history)
        read = read_incidents(conn, have, since, config.components, memo.incidents)
        failing = pages.failing_checks(conn, have)
        announcement_rows = pages.active_announcements(conn, have)
        windows = pages.maintenance_windows(conn, have)
        charts = {
            cid: history.latency_chart(conn, have, cid, [s.name for s in check_specs(config) if s.component == cid], hour0)
            for cid in latency_ids
        }
    active_mw = sorted(active_in(windows, now), key=lambda o: (o.starts_at, o.window_id))
    planned_mw = planned_in(windows, now, section.maintenance_horizon)

    incident_rows = [r for r, _ in read]
    incidents = [view for _, view in read if view is not None]
    touched = _incident_days(incidents, bounds, now)
    specs = check_specs(config)
    affected = affected_components(
        # an incident in monitoring has recovered: what its symptoms still show is their own
        ((r.id, r.component, (r.data or {}).get("symptoms") or ()) for r in incident_rows
         if r.resolved_at is None and r.status != "monitoring"),
        {s.name: component_of(s) for s in specs}, {s.name: s.kind for s in specs}, failing,
    )
    by_names = {r.component: names_of(public_affects(r, configured), configured) for r in incident_rows
                if r.resolved_at is None}
    shared = _BarMemo(len(days), memo.bars)
    impacts = {i.id: i.impact for i in incidents}  # a bar's text names its incidents' impact
    components = tuple(
        _component_view(i, c, current.get(c.id), tallies[c.id], days, touched.get(c.id, {}),
                        _affected_view(affected.get(c.id), configured, by_names), shared, impacts)
        for i, c in enumerate(public)
    )
    memo.bars = shared.kept
    recent_since = now - timedelta(days=RECENT_DAYS)
    return Snapshot(
        page=PageInfo(
            name=config.monitor.name,
            title=section.title,
            description=section.description,
            language=config.monitor.language,
            languages=LANGUAGES,
            timezone=config.monitor.timezone,
            public_url=section.public_url,
            per_page=section.components_per_page,
        ),
        generated_at=now,
        overall=overall(c.status for c in components),
        components=components,
        active_incidents=tuple(i for i in incidents if i.status != "resolved"),
        past_incidents=tuple(i for i in incidents if i.status == "resolved"),
        recent_incidents=tuple(
            i for i in incidents if i.status == "resolved" and (i.resolved_at or i.started_at or now) >= recent_since
        ),
        announcements=tuple(_announcement_view(a, public_ids, configured) for a in announcement_rows),
        maintenance_active=tuple(
            v for m in active_mw if (v := _maintenance_view(m, True, public_ids, configured)) is not None
        ),
        maintenance_planned=tuple(
            v for m in planned_mw if (v := _maintenance_view(m, False, public_ids, configured)) is not None
        ),
        latency=tuple(
            LatencySeries(cid, configured[cid].name, charts[cid]) for cid in latency_ids
        ),
    )


class _BarMemo:
    """One snapshot's day bars without incidents (and their repr), by date and Tally, its
    components' leading days (_Head) and its component views by what each was made from,
    starting from what the last snapshot kept: a bar is a
    function of its date and Tally, and the rolled days' tallies are the same objects from
    render to render (history.HistoryMemo). Within a snapshot, bars are looked up by day
    index and the Tally's identity (history interns them, and every one stays alive in the
    snapshot's histories), which is cheap; the value lookup is only for the first sight of
    each (day, Tally). Each snapshot has its own memo, starting from its page's PageMemo
    (what is kept is swapped in whole)."""

    def __init__(self, days: int, kept: _Kept) -> None:
        self._kept, self._heads, self._views = kept
        self.used: dict[tuple[date, Tally], tuple[DayBar, bytes]] = {}
        self.heads_used: dict[str, _Head] = {}
        self.views_used: dict[str, tuple[tuple[Any, ...], ComponentView]] = {}
        self._by_id: list[dict[int, tuple[DayBar, bytes]]] = [{} for _ in range(days)]

    @property
    def kept(self) -> _Kept:
        """What the next snapshot starts from: what this one used."""
        return self.used, self.heads_used, self.views_used

    def kept_view(self, cid: str) -> tuple[tuple[Any, ...], ComponentView] | None:
        return self._views.get(cid)

    def keep_view(self, cid: str, found: tuple[tuple[Any, ...], ComponentView]) -> None:
        self.views_used[cid] = found

    def kept_head(self, cid: str) -> _Head | None:
        return self._heads.get(cid)

    def keep_head(self, cid: str, head: _Head) -> None:
        self.heads_used[cid] = head

    def bar(self, i: int, day: date, t: Tally) -> tuple[DayBar, bytes]:
        by_id = self._by_id[i]
        made = by_id.get(id(t))
        if made is None:
            key = (day, t)
            made = self.used.get(key) or self._kept.get(key)
            if made is None:
                bar = DayBar(day, t.percent, t.down_minutes, t.level, ())
                made = (bar, repr(bar).encode())
            self.used[key] = by_id[id(t)] = made
        return made


def check_specs(config: Config) -> list[CheckSpec]:
    """The configured checks as their common base type (the union is built at import time)."""
    return list(config.checks)


def overall(statuses: Iterable[str]) -> Overall:
    """The banner: the worst status among components with data (outage beats maintenance)."""
    known = [s for s in statuses if s in SEVERITY]
    if not known:
        return Overall(NO_DATA, "none")
    worst = max(known, key=SEVERITY.__getitem__)
    return Overall(worst, INDICATOR[worst])


def _component_view(
    position: int,
    comp: Component,
    current: pages.CurrentStatus | None,
    past: history.History,
    days: list[tuple[date, datetime]],
    touched: dict[int, list[int]],
    affected: AffectedView | None = None,
    shared: _BarMemo | None = None,
    impacts: dict[int, str] | None = None,
) -> ComponentView:
    """`shared` holds the bars already made (with their repr), by date and tally: a calm day is
    the same bar for most components (one object, its percent and level worked out once).
    The view's `key` digests its repr (bars included): the card's cache key and its part of
    the page's digest (service.snapshot_digest); it names the impact of the incidents on its
    bars too (their text titles them by impact)."""
    if current is not None:
        status, since, updated = current.status, current.since, current.updated_at
    else:
        status, since, updated = NO_DATA, None, None
    if status not in SEVERITY:
        status = NO_DATA
    memo = shared or _BarMemo(len(days), ({}, {}, {}))
    named = sorted({(iid, (impacts or {}).get(iid, "")) for ids in touched.values() for iid in ids})
    # The leading days still exactly as rolled (history.History.stable) were worked out by
    # an earlier render: their bars, their part of the key and of the windows are kept.
    stable = past.stable
    early = tuple(sorted((i, tuple(ids)) for i, ids in touched.items() if i < stable))
    kept = memo.kept_head(comp.id)
    if (kept is None or kept.rolled is not past.rolled or kept.stable != stable or kept.early != early
            or kept.day0 != days[0][0]):
        bars, texts = _bars(past.days[:stable], 0, days, touched, memo)
        digest = hashlib.sha256(b"".join(texts))
        kept = _Head(past.rolled, stable, early, days[0][0], tuple(bars), digest,
                     history.window_heads(past.days, stable))
    memo.keep_head(comp.id, kept)
    more, texts = _bars(past.days[stable:], stable, days, touched, memo)
    uptime = {
        w: t.percent if enough_data(timedelta(microseconds=t.known), _WINDOW_SPAN[w]) else None
        for w, t in history.windows(past, kept.windows, stable).items()
    }
    # Everything the view is made of, as the last snapshot had it: the same view (its repr
    # and digest not made again). Time moving changes today's tally, not always its bar.
    inputs = (comp, position, status, since, updated, affected, kept, tuple(more), tuple(uptime.items()), tuple(named))
    found = memo.kept_view(comp.id)
    if found is not None and found[0] == inputs:
        memo.keep_view(comp.id, found)
        return found[1]
    fields: dict[str, Any] = dict(
        id=comp.id, name=comp.name, description=comp.description, group=comp.group, position=position,
        status=status, since=since, updated_at=updated, uptime=uptime, affected=affected,
    )
    digest = kept.digest.copy()  # the kept days' bars, then the others, then the rest of the view
    digest.update(b"".join(texts))
    digest.update(repr((ComponentView(**fields, bars=()), named)).encode())
    view = ComponentView(**fields, bars=kept.bars + tuple(more), key=digest.hexdigest())
    memo.keep_view(comp.id, (inputs, view))
    return view


def _bars(
    tallies: Sequence[Tally], offset: int, days: list[tuple[date, datetime]], touched: dict[int, list[int]],
    memo: _BarMemo,
) -> tuple[list[DayBar], list[bytes]]:
    """The bars (and their repr) of days offset, offset + 1, ... with these tallies."""
    bars: list[DayBar] = []
    texts: list[bytes] = []
    for i, t in enumerate(tallies, start=offset):
        ids = touched.get(i)
        if ids:
            bar = DayBar(days[i][0], t.percent, t.down_minutes, t.level, tuple(ids))
            made = (bar, repr(bar).encode())
        else:
            made = memo.bar(i, days[i][0], t)
        bars.append(made[0])
        texts.append(made[1])
    return bars, texts


@dataclass(frozen=True, slots=True)
class _Head:
    """A component's leading days as an earlier render worked them out (see _component_view)."""

    rolled: tuple[Tally, ...]
    stable: int
    early: tuple[tuple[int, tuple[int, ...]], ...]  # incidents on those days
    day0: date
    bars: tuple[DayBar, ...]
    digest: Any  # hashlib's sha256 over those bars' repr
    windows: dict[int, tuple[int, ...]]


# What a snapshot keeps for the next (PageMemo.bars): bars by (date, Tally), components'
# leading days, and component views with what each was made from.
_Kept = tuple[
    dict[tuple[date, Tally], tuple[DayBar, bytes]], dict[str, "_Head"], dict[str, tuple[tuple[Any, ...], ComponentView]]
]


def _affected_view(a: Any, configured: dict[str, Component], by_names: dict[str, Text]) -> AffectedView | None:
    if a is None:
        return None
    return AffectedView(a.by, by_names.get(a.by) or name_of(a.by, configured), a.measuring)


def _incident_days(incidents: list[IncidentView], bounds: list[int], now: datetime) -> dict[str, dict[int, list[int]]]:
    """component -> day index -> ids of incidents that overlapped that day."""
    out: dict[str, dict[int, list[int]]] = defaultdict(dict)
    last_day = len(bounds) - 2
    for inc in incidents:
        start = inc.started_at or inc.detected_at
        if start is None:
            continue
        a, b = to_us(start), to_us(inc.resolved_at or now)
        if b < bounds[0] or a > bounds[-1]:
            continue
        first = max(bisect_right(bounds, a) - 1, 0)
        last = min(bisect_right(bounds, b) - 1, last_day)
        for d in range(first, last + 1):
            for comp in inc.components or (inc.component,):
                out[comp].setdefault(d, []).append(inc.id)
    return out


def _named(ids: list[str], public_ids: set[str], configured: dict[str, Component]) -> tuple[tuple[str, Text], ...]:
    return tuple((cid, configured[cid].name) for cid in ids if cid in public_ids)


def _announcement_view(
    a: pages.AnnouncementRecord, public_ids: set[str], configured: dict[str, Component]
) -> AnnouncementView:
    return AnnouncementView(
        id=a.id, components=_named(a.components, public_ids, configured), status=a.status, title=a.title,
        body=a.body, next_update_at=a.next_update_at, created_at=a.created_at, updated_at=a.updated_at,
    )


def _maintenance_view(
    m: Occurrence, active: bool, public_ids: set[str], configured: dict[str, Component]
) -> MaintenanceView | None:
    named = _named(list(m.components), public_ids, configured)
    if m.components and not named:
        return None  # only private components: not the public's business
    title = cast(Text, dict(m.title_i18n) if m.title_i18n else m.title)
    return MaintenanceView(m.window_id, title, named, m.starts_at, m.ends_at, active)


def _hour_floor(now: datetime, tz: ZoneInfo) -> datetime:
    local = now.astimezone(tz)
    return local.replace(minute=0, second=0, microsecond=0).astimezone(now.tzinfo)


def latency_buckets(samples: list[tuple[datetime, float]], start: datetime, hours: int = 24) -> tuple[LatencyBucket, ...]:
    """Hourly p50/p95 (linear interpolation between ranks) from `start`, `hours` buckets."""
    per: list[list[float]] = [[] for _ in range(hours)]
    for ts, ms in samples:
        i = int((ts - start).total_seconds() // 3600)
        if 0 <= i < hours:
            per[i].append(ms)
    return tuple(
        LatencyBucket(start + timedelta(hours=i), len(v), percentile(v, 50), percentile(v, 95))
        for i, v in enumerate(per)
    )


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    rank = (len(s) - 1) * p / 100
    lo, hi = math.floor(rank), math.ceil(rank)
    return s[lo] + (s[hi] - s[lo]) * (rank - lo)
