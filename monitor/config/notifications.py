"""Config sections of the notifiers: `channels:`, `routes:`, `escalation:`, `announcements:`,
`notifications:`.

A channel is a name, one or more Apprise URLs and who reads it (audience, language, filters,
escalation tier). A new channel kind is an Apprise URL, never code. URLs are checked with
Apprise at load (asking only the plugin each scheme names: monitor/config/apprise_urls.py);
errors name `channels[i].urls[j]` and never echo the URL (it may hold a token).
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from monitor.config.apprise_urls import apprise_supports
from monitor.core.addresses import WebUrl
from monitor.core.durations import Duration
from monitor.core.events import EVENTS, TEST, Severity, event_matches
from monitor.core.text import Language, Strict, Text

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def scheme_of(url: str) -> str:
    m = _SCHEME.match(url.strip())
    return m.group(1).lower() if m else ""


# Validation context key: the config is loaded for a command that only reads the database
# (load_config(allow_unset=True)), which never sends: Apprise (~0.1 s to import, more for
# a scheme it has to search its plugins for) is not asked whether it can use each URL;
# `validate` and `run` still ask (monitor/config/apprise_urls.py).
READ_ONLY = "read_only"


def _check_apprise_url(url: str, info: ValidationInfo) -> str:
    scheme = scheme_of(url)
    if not scheme:
        raise ValueError("not an Apprise URL (expected scheme://..., e.g. json://host/path or mailto://...)")
    try:
        port = urlsplit(url.strip()).port
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        # Apprise takes json://h:99999/x and fails at each delivery; the URL is not echoed.
        raise ValueError(f"the port of this {scheme}:// URL is not a number from 1 to 65535 (value not shown as it may hold a secret)")
    if not (info.context or {}).get(READ_ONLY) and not apprise_supports(url):
        raise ValueError(
            f"Apprise cannot use this {scheme}:// URL (unknown scheme or missing/invalid parts; "
            "value not shown as it may hold a secret)"
        )
    return url


AppriseUrl = Annotated[str, AfterValidator(_check_apprise_url)]


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _clock_time(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        h, m = value.strip().split(":")
        return time(int(h), int(m))
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 22:00 as the sexagesimal integer 1320.
        return time(value // 60 % 24, value % 60)
    return value


ClockTime = Annotated[
    time,
    BeforeValidator(_clock_time),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}$", "description": "HH:MM"}),
]


class QuietHours(Strict):
    """Hours (monitor timezone) when non-paging messages (minor, info) wait; pages still go."""

    start: ClockTime = Field(description="HH:MM when quiet hours begin, e.g. 22:00")
    end: ClockTime = Field(description="HH:MM when they end, e.g. 08:00 (may be on the next day)")


class Channel(Strict):
    """Where messages go: one or more Apprise URLs read by one audience in one language."""

    name: Annotated[str, Field(pattern=_NAME, max_length=64, description="unique; routes name it")]
    urls: Annotated[
        list[AppriseUrl],
        BeforeValidator(_one_or_many),
        Field(min_length=1),
        WithJsonSchema(
            {
                "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
                "description": "one Apprise URL or a list (wecombot://, dingtalk://, feishu://, mailto://, "
                "json://, ...); secrets via ${ENV}",
            }
        ),
    ]
    audience: str = Field(
        "oncall", min_length=1, max_length=64,
        description="oncall, staff, or a department name (departments get staff wording)",
    )
    language: Language | None = Field(None, description="zh-CN or en; default monitor.language")
    components: list[str] = Field(default_factory=list, description="only these components (empty: all)")
    severities: list[Severity] = Field(default_factory=list, description="only these severities (empty: all)")
    quiet_hours: QuietHours | None = None
    tier: int = Field(1, ge=1, le=9, description="escalation tier; tier N hears of an incident once it escalates to N")
    format: Literal["auto", "text", "html", "markdown"] = Field(
        "auto", description="message body format; auto: html for mailto(s)://, markdown for dingtalk:// "
        "feishu:// lark://, text otherwise (wecombot:// included)"
    )
    mentions: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        description="who a group bot message mentions: DingTalk phone numbers, Feishu user ids (or all), "
        "WeCom names (written as @name; Apprise's wecombot cannot ping)",
    )
    timeout: Duration = Field(timedelta(seconds=10), description="longest a single delivery may take")
    concurrency: int = Field(4, ge=1, le=64, description="deliveries in flight to this channel at once")

    @property
    def is_oncall(self) -> bool:
        return self.audience == "oncall"


class Route(Strict):
    """Which events go to which channels. No `routes:` at all means the defaults
    (incident, reminder, escalation, flapping, maintenance and monitor events to on-call;
    announcements and maintenance to staff and department channels)."""

    events: Annotated[list[str], BeforeValidator(_one_or_many), Field(min_length=1)] = Field(
        description="event names or patterns: incident.*, reminder, announcement.published, *"
    )
    channels: Annotated[list[str], BeforeValidator(_one_or_many), Field(min_length=1)] = Field(
        description="channel names"
    )
    components: list[str] = Field(default_factory=list, description="only notices about these components")
    severities: list[Severity] = Field(default_factory=list, description="only these severities")
    group_window: Duration = Field(
        timedelta(0), description="hold an incident's later messages this long so they go out as one (its first message is never held)"
    )

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not any(event_matches(pattern, e) for e in EVENTS):
                raise ValueError(f"{pattern!r} matches no event; events are: {', '.join(EVENTS)}")
            if pattern == TEST:
                raise ValueError("the test event is not routed")
        return value


class EscalationTier(Strict):
    after: Duration = Field(description="unacked this long since the incident was detected")
    tier: int = Field(ge=2, le=9, description="page channels of this tier (and lower)")


class Escalation(Strict):
    """While an incident is open and not acked: remind, then page further tiers."""

    repeat_interval: Duration = Field(timedelta(minutes=30), description="remind on-call this often; 0 turns reminders off")
    tiers: list[EscalationTier] = Field(
        default_factory=lambda: [
            EscalationTier(after=timedelta(minutes=15), tier=2),
            EscalationTier(after=timedelta(minutes=30), tier=3),
        ]
    )

    @model_validator(mode="after")
    def _increasing(self) -> Escalation:
        afters = [t.after for t in self.tiers]
        tiers = [t.tier for t in self.tiers]
        if afters != sorted(afters) or tiers != sorted(tiers) or len(set(tiers)) != len(tiers):
            raise ValueError("escalation tiers must be listed with increasing `after` and `tier`")
        return self


DEFAULT_WORKAROUND: dict[Language, str] = {
    "zh-CN": "请暂时使用纸质发票或手机App开票，系统恢复后补录。",
    "en": "Meanwhile, please use paper invoices or the mobile app and enter them once service is back.",
}
DEFAULT_AFTER_RECOVERY: dict[Language, str] = {
    "zh-CN": "请恢复正常流程，直接在系统中开票。故障期间用纸质发票或手机App开具的票据，请在系统中补录。",
    "en": "Please return to the normal process. Enter any invoices you issued on paper or in the mobile app meanwhile.",
}
DEFAULT_CONTACT: dict[Language, str] = {"zh-CN": "IT服务台 分机 8000", "en": "IT help desk, extension 8000"}


class Announcements(Strict):
    """Staff announcements: plain words, what to do meanwhile, who to call, next update."""

    enabled: bool = True
    delay: Duration = Field(timedelta(minutes=5), description="an outage must last this long before staff hear of it")
    min_impact: Literal["minor", "major", "critical"] = Field("major", description="smallest impact announced")
    components: list[str] | None = Field(None, description="staff-visible components; default: every public one")
    next_update: Duration = Field(timedelta(minutes=30), description="promise the next update this far ahead")
    workaround: Text = Field(default_factory=lambda: dict(DEFAULT_WORKAROUND))
    contact: Text = Field(default_factory=lambda: dict(DEFAULT_CONTACT))
    component_workarounds: dict[str, Text] = Field(default_factory=dict, description="per-component workaround text")
    after_recovery: Text = Field(
        default_factory=lambda: dict(DEFAULT_AFTER_RECOVERY),
        description="told to staff at recovery: go back to the normal process, what to re-enter (补录)",
    )


class Delivery(Strict):
    """How the dispatcher delivers the outbox."""

    templates: str | None = Field(None, description="folder whose templates override the shipped ones")
    poll_interval: Duration = Field(timedelta(seconds=3), description="look at the outbox at least this often")
    workers: int = Field(8, ge=1, le=256, description="threads running Apprise (it is synchronous)")
    retry_initial: Duration = Field(timedelta(seconds=30), description="first retry after this long (then doubling)")
    retry_max: Duration = Field(timedelta(minutes=10), description="longest wait between retries")
    max_age: Duration = Field(timedelta(hours=24), description="give up (mark failed) on a message this old")
    lease: Duration = Field(timedelta(seconds=60), description="a claimed delivery is retried by another dispatcher after this long")
    problem_after: Duration = Field(timedelta(minutes=10), description="a channel failing this long is reported to the others")
    status_page_url: WebUrl | None = Field(None, description="http(s) URL of the status page, linked from staff and on-call messages")
    internal_page_url: WebUrl | None = Field(
        None, description="http(s) URL of the internal page (check detail) linked from on-call messages; "
        "default: status_page_url + internal/"
    )



def cross_check(data: dict[str, Any], src: Any) -> list[Any]:
    """References between sections, checked on the raw data so every one is reported:
    unique channel names, routes naming known channels, known component ids."""
    import difflib

    def items(key: str) -> list[tuple[int, dict[str, Any]]]:
        value = data.get(key)
        return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []

    problems = []
    components = {c.get("id") for _, c in items("components") if isinstance(c.get("id"), str)}
    channels: dict[str, int] = {}
    for i, ch in items("channels"):
        name = ch.get("name")
        if isinstance(name, str):
            if name in channels:
                problems.append(src.problem(("channels", i, "name"), f"duplicate channel name {name!r}"))
            channels.setdefault(name, i)

    def known_components(path: tuple[Any, ...], value: Any) -> None:
        for j, comp in enumerate(value if isinstance(value, list) else []):
            if isinstance(comp, str) and comp not in components:
                hint = difflib.get_close_matches(comp, [c for c in components if isinstance(c, str)], n=1)
                problems.append(src.problem((*path, j), f"unknown component {comp!r}"
                                            + (f" (did you mean {hint[0]!r}?)" if hint else "")))

    for i, ch in items("channels"):
        known_components(("channels", i, "components"), ch.get("components"))
    for i, route in items("routes"):
        names = route.get("channels")
        names = [names] if isinstance(names, str) else names if isinstance(names, list) else []
        for j, name in enumerate(names):
            if isinstance(name, str) and name not in channels:
                hint = difflib.get_close_matches(name, list(channels), n=1)
                msg = f"unknown channel {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else " (declare it under channels:)")
                problems.append(src.problem(("routes", i, "channels", j), msg))
        known_components(("routes", i, "components"), route.get("components"))
    delivery = data.get("notifications")
    folder = delivery.get("templates") if isinstance(delivery, dict) else None
    if isinstance(folder, str) and folder:
        path = Path(folder) if Path(folder).is_absolute() else Path(src.file).parent / folder
        if not path.is_dir():
            problems.append(src.problem(("notifications", "templates"), f"no folder {folder!r} (relative to the config file)"))
    ann = data.get("announcements")
    if isinstance(ann, dict):
        known_components(("announcements", "components"), ann.get("components"))
        cw = ann.get("component_workarounds")
        for comp in cw if isinstance(cw, dict) else {}:
            if comp not in components:
                problems.append(src.problem(("announcements", "component_workarounds", comp), f"unknown component {comp!r}"))
    return problems
