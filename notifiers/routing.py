"""Which channel targets hear of a notice (pure: config + notice in, targets out; when they
may hear it is `monitor.rulebook.quiet_hours`).

With no `routes:` configured, on-call channels get incident, reminder, escalation, flapping,
maintenance and monitor events, and staff/department channels get announcements and
maintenance. A channel's own filters (components, severities, tier) apply on top of routes.
Tiers: a notice reaches channels whose tier is at most `notice.tier` (1 unless escalated).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from monitor.config.notifications import Channel, scheme_of
from monitor.core.events import Notice, event_matches
from monitor.rulebook.announcements import staff_component_visible
from notifiers.channelstyle import style_of

if TYPE_CHECKING:
    from monitor.config import Config

DEFAULT_ONCALL_EVENTS = ("incident.*", "reminder", "escalation", "check.flapping", "monitor.problem", "maintenance.*", "slo.burn")
DEFAULT_STAFF_EVENTS = ("announcement.*", "maintenance.*")


@dataclass(frozen=True)
class Target:
    """One Apprise URL of one channel, as routed for one notice."""

    channel: Channel
    index: int
    group_window: timedelta

    @property
    def url(self) -> str:
        return self.channel.urls[self.index]


def _staff_may_hear(notice: Notice, config: Config) -> bool:
    """Staff hear of maintenance only when it touches a component they can see (a window on
    a private component, our own network, say, is on-call's business)."""
    if not notice.event.startswith("maintenance."):
        return True
    ids = list(notice.data.get("components") or ())
    if not ids:
        return True  # everything
    public = {c.id: c.public for c in config.components}
    return any(staff_component_visible(i, public.get(i, False), config.announcements) for i in ids)


def _channel_accepts(channel: Channel, notice: Notice, config: Config) -> bool:
    if channel.name in (notice.data.get("exclude_channels") or ()):
        return False
    if not channel.is_oncall and not _staff_may_hear(notice, config):
        return False
    if channel.components and notice.component is not None and notice.component not in channel.components:
        return False
    if channel.severities and notice.severity not in channel.severities:
        return False
    return channel.tier <= notice.tier


def routed_channels(notice: Notice, config: Config) -> dict[str, timedelta]:
    """Channel name -> grouping window, for every channel routed to this notice."""
    by_name = {c.name: c for c in config.channels}
    chosen: dict[str, timedelta] = {}
    if config.routes:
        for route in config.routes:
            if not any(event_matches(p, notice.event) for p in route.events):
                continue
            if route.components and notice.component not in route.components:
                continue
            if route.severities and notice.severity not in route.severities:
                continue
            for name in route.channels:
                if name in by_name:
                    chosen[name] = max(chosen.get(name, timedelta(0)), route.group_window)
    else:
        for channel in config.channels:
            patterns = DEFAULT_ONCALL_EVENTS if channel.is_oncall else DEFAULT_STAFF_EVENTS
            if any(event_matches(p, notice.event) for p in patterns):
                chosen[channel.name] = timedelta(0)
    return {n: w for n, w in chosen.items() if _channel_accepts(by_name[n], notice, config)}


def targets_for(notice: Notice, config: Config, also: set[tuple[str, int]] = frozenset()) -> list[Target]:  # type: ignore[assignment]
    """Every target routed to `notice`, plus the `also` targets (channel, index) that exist.

    `also` carries "everyone who was told it was down" for acked/resolved notices; those
    bypass routes and tiers (they were told, so they hear the end) but not exclusions.
    """
    by_name = {c.name: c for c in config.channels}
    out: dict[tuple[str, int], Target] = {}
    for name, window in routed_channels(notice, config).items():
        channel = by_name[name]
        for i in range(len(channel.urls)):
            out[(name, i)] = Target(channel, i, window)
    excluded = set(notice.data.get("exclude_channels") or ())
    for name, i in sorted(also):
        told = by_name.get(name)
        if told is None or i >= len(told.urls) or name in excluded or (name, i) in out:
            continue
        out[(name, i)] = Target(told, i, timedelta(0))
    return list(out.values())


def body_format(channel: Channel, url: str) -> str:
    """auto: html for e-mail, markdown for the group bots that render it (DingTalk, Feishu),
    text otherwise (WeCom's bot through Apprise takes text)."""
    if channel.format != "auto":
        return channel.format
    scheme = scheme_of(url)
    if scheme in ("mailto", "mailtos"):
        return "html"
    style = style_of(scheme)
    return style.body_format if style is not None else "text"

