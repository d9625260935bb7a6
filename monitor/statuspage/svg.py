"""Geometry for the server-rendered SVGs: the latency chart and the badges.

Only numbers and plain strings are computed here; the markup lives in templates
(latency.svg.j2, badge.svg.j2) so every text passes through Jinja's autoescaping.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.statuspage.model import LatencySeries

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    y_ticks: tuple[tuple[float, str], ...]  # (y, label)
    x_ticks: tuple[tuple[float, str], ...]  # (x, "HH:00")
    p50: tuple[str, ...]  # polyline point lists, one per run of buckets with data
    p95: tuple[str, ...]
    empty: bool


def nice_max(value: float) -> float:
    """A round axis maximum >= value (1, 2, 2.5, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return float(step * exp)
    return float(10 * exp)  # pragma: no cover


def latency_chart(series: LatencySeries, tz: ZoneInfo) -> Chart:
    buckets = series.buckets
    values = [v for b in buckets for v in (b.p50, b.p95) if v is not None]
    top_value = nice_max(max(values, default=0.0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    n = max(len(buckets), 1)

    def x(i: int) -> float:
        return LEFT + plot_w * (i + 0.5) / n

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top_value)

    def runs(attr: str) -> tuple[str, ...]:
        out: list[str] = []
        current: list[str] = []
        for i, b in enumerate(buckets):
            v = getattr(b, attr)
            if v is None:
                if current:
                    out.append(" ".join(current))
                current = []
                continue
            current.append(f"{x(i):.1f},{y(v):.1f}")
        if current:
            out.append(" ".join(current))
        # A single point draws nothing as a polyline; widen it into a short dash.
        return tuple(r if " " in r else _dash(r) for r in out)

    y_ticks = tuple((round(y(top_value * k / 4), 1), _ms(top_value * k / 4)) for k in range(5))
    x_ticks = tuple(
        (round(x(i), 1), _hour(b.start, tz)) for i, b in enumerate(buckets) if i % 3 == 0
    )
    return Chart(WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM, y_ticks, x_ticks, runs("p50"), runs("p95"), not values)


def _dash(point: str) -> str:
    px, py = (float(v) for v in point.split(","))
    return f"{px - 4:.1f},{py:.1f} {px + 4:.1f},{py:.1f}"


def _ms(v: float) -> str:
    return f"{v:g}" if v < 10 else f"{v:.0f}"


def _hour(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%H:00")


# badges -------------------------------------------------------------------------------------
BADGE_COLORS = {
    "operational": "#1a7f37",
    "degraded_performance": "#9a6700",
    "partial_outage": "#bc4c00",
    "major_outage": "#cf222e",
    "under_maintenance": "#0969da",
    "no_data": "#59636e",
}


@dataclass(frozen=True, slots=True)
class Badge:
    label: str
    message: str
    color: str
    label_width: int
    message_width: int

    @property
    def width(self) -> int:
        return self.label_width + self.message_width


def text_width(text: str) -> int:
    """Rough width of 11 px Verdana: 7 px a narrow character, 12 px a wide (CJK) one."""
    return sum(12 if unicodedata.east_asian_width(ch) in "WF" else 7 for ch in text)


def badge(label: str, message: str, color: str) -> Badge:
    return Badge(label, message, color, text_width(label) + 12, text_width(message) + 12)


def uptime_color(percent: float | None) -> str:
    if percent is None:
        return BADGE_COLORS["no_data"]
    if percent >= 99.9:
        return BADGE_COLORS["operational"]
    if percent >= 99.0:
        return BADGE_COLORS["degraded_performance"]
    if percent >= 95.0:
        return BADGE_COLORS["partial_outage"]
    return BADGE_COLORS["major_outage"]
