"""Quiet hours: when a channel's non-paging messages may go out. Paging messages (critical,
major) ignore quiet hours; the rest wait until the channel's quiet hours end."""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo

from monitor.config.notifications import Channel, QuietHours
from monitor.core.events import Notice, is_paging


def in_quiet_hours(quiet: QuietHours, local: time) -> bool:
    if quiet.start == quiet.end:
        return False
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end  # spans midnight


def release_time(channel: Channel, notice: Notice, now: datetime, zone: tzinfo) -> datetime:
    """When a message may go: now, or the end of the channel's quiet hours for non-paging ones."""
    quiet = channel.quiet_hours
    if quiet is None or is_paging(notice.severity):
        return now
    local = now.astimezone(zone)
    if not in_quiet_hours(quiet, local.time().replace(tzinfo=None)):
        return now
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(now.tzinfo)

