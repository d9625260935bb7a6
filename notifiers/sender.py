"""One delivery through Apprise to one URL, as a plain synchronous function (run in a worker
thread: Apprise is synchronous).

Apprise 2.x returns an `AppriseResult` with one `NotifyResult` per service, each with its
attempts and captured log lines; we send to one URL at a time, so the first result is ours,
and its warning/error lines are the error text (redacted by the caller). The idempotency key
rides along as an `X-Invoicewatch-Key` header on services that take custom headers (json://,
form://, xml://, mailto://), so a receiver can drop the duplicate a crash between "delivered"
and "recorded" can cause. Keys name checks and nodes ("check:登录:flapping:..."), and an HTTP
header value is Latin-1 text without control characters: the value is percent-encoded (UTF-8,
RFC 3986) wherever it is not printable ASCII, and the space and `%` too, so
`urllib.parse.unquote` gives the key back; a plain ASCII key ("incident:7:opened") is sent as
it is.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import apprise

from monitor.config.notifications import scheme_of
from notifiers.channelstyle import fit, mention_line, style_of, to_markdown, with_mentions

KEY_HEADER = "X-Invoicewatch-Key"
# Kept as they are in the header value: printable ASCII but the space and "%" (the rest is percent-encoded).
_KEY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%" and not chr(c).isalnum())

_TYPES = {
    "critical": apprise.NotifyType.FAILURE,
    "major": apprise.NotifyType.FAILURE,
    "minor": apprise.NotifyType.WARNING,
    "info": apprise.NotifyType.INFO,
}
_GOOD_NEWS = ("incident.resolved", "announcement.closed", "maintenance.ended", "incident.acked")


@dataclass(frozen=True)
class SendOutcome:
    ok: bool
    error: str | None
    duration_ms: float
    permanent: bool = False  # retrying cannot help (the URL cannot be used at all)


def key_header(key: str) -> str:
    """The `X-Invoicewatch-Key` header value of an idempotency key (see the module's note)."""
    return quote(key, safe=_KEY_SAFE)


def notify_type(event: str, severity: str) -> apprise.NotifyType:
    if event in _GOOD_NEWS:
        return apprise.NotifyType.SUCCESS
    return _TYPES.get(severity, apprise.NotifyType.INFO)


def url_secrets(url: str) -> list[str]:
    """Parts of a URL to mask in error text: the whole URL, its password, its path tokens."""
    out = [url]
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    if parts.password:
        out.append(parts.password)
    out.extend(seg for seg in parts.path.split("/") if len(seg) >= 16)  # webhook tokens
    return out


def shape(url: str, title: str, body: str, body_format: str, mentions: tuple[str, ...] = ()) -> tuple[str, str]:
    """(url, body) as a group bot needs them (notifiers/channelstyle.py): markdown where the
    channel renders it, the mentions, the length limit. Other URLs pass unchanged."""
    style = style_of(scheme_of(url))
    if style is None:
        return url, body
    if body_format == "markdown":
        body = to_markdown(body, style)
    return with_mentions(url, style, mentions), fit(title, body, style, mention_line(style, mentions, body_format))


def send(
    url: str, *, title: str, body: str, body_format: str, kind: apprise.NotifyType, timeout: float, key: str = "",
    mentions: tuple[str, ...] = (),
) -> SendOutcome:
    """Deliver one message to one Apprise URL; never raises."""
    started = time.perf_counter()
    url, body = shape(url, title, body, body_format, mentions)
    try:
        service = apprise.Apprise.instantiate(url)
        if service is None:
            return SendOutcome(False, "Apprise cannot use this URL (unsupported or invalid)", _ms(started), True)
        headers = getattr(service, "headers", None)
        if key and isinstance(headers, dict):
            headers[KEY_HEADER] = key_header(key)
        ap = apprise.Apprise()
        ap.add(service)
        result = ap.notify(
            body=body or title, title=title, notify_type=kind, body_format=body_format,
            timeout=timeout, log_level=logging.WARNING,
        )
    except Exception as exc:  # a plugin bug must not kill the dispatcher
        return SendOutcome(False, f"{type(exc).__name__}: {exc}", _ms(started))
    services = list(result.results)
    if services and all(bool(r) for r in services):
        return SendOutcome(True, None, _ms(started))
    lines: list[str] = []
    for r in services:
        for entry in r.logs():
            if entry.level in ("WARNING", "ERROR", "CRITICAL") and entry.message not in lines:
                lines.append(entry.message)
        if not lines:
            lines.append(f"{r.name}: {r.status.name}")
    for entry in result.call_logs():
        if entry.level in ("ERROR", "CRITICAL") and entry.message not in lines:
            lines.append(entry.message)
    error = "; ".join(lines) or f"delivery failed ({result.status.name})"
    return SendOutcome(False, error[:2000], _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
