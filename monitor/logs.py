"""Logging set-up: one line per record, text for people or JSON for machines, secrets masked.

    configure(level, redactor, fmt="text" | "json", stream=sys.stderr)

Events that matter (a check going down or up, an incident opened / updated / resolved, a
message delivered or failed, the config reloaded) are logged once each, at INFO or above,
with `extra={"event": "incident.opened", "fields": {...}}`: the text format shows the
sentence (on a terminal as `19:08:58 down     check 登录 is down ...`, the word and colour
naming the event; elsewhere, for journald and files, with the full time, level and logger),
the JSON format one object per line

    {"ts": "2026-03-02T01:00:00.123Z", "level": "INFO", "logger": "monitor.incidents.service",
     "event": "incident.opened", "message": "incident 3 opened: ...", "fields": {"incident": 3}}

(`event` is null and `fields` empty for other lines; a traceback goes into "exc").

Secrets: the handler masks every registered secret in the message, the traceback and the
fields before formatting, whichever format. Noise: Apprise's own lines ("Notifying 1
service(s).", and its warnings, which the delivery-failed line repeats with the target) are
dropped unless the level is DEBUG; APScheduler's per-run lines and httpx's request lines are
raised to WARNING.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import IO, Any

from monitor.core.secrets import RedactingFilter, Redactor

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_BELOW_WARNING = ("apscheduler", "httpx", "alembic")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside strings are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "event": getattr(record, "event", None),
            "message": record.getMessage(),
            "fields": getattr(record, "fields", None) or {},
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            obj["exc"] = record.exc_text
        return json.dumps(obj, ensure_ascii=False, default=str)


# On a terminal: the word shown for an event (or a level) and its ANSI colour.
_EVENT_WORDS: dict[str, tuple[str, str]] = {
    "check.down": ("down", "1;31"),
    "check.degraded": ("degraded", "33"),
    "check.up": ("up", "32"),
    "check.unknown": ("unknown", "35"),
    "check.maintenance": ("maint", "34"),
    "incident.opened": ("incident", "1;31"),
    "incident.resolved": ("resolved", "32"),
    "message.delivered": ("sent", "36"),
    "message.failed": ("not sent", "1;31"),
    "config.reloaded": ("config", "36"),
    "config.reload_failed": ("config", "1;31"),
}
_LEVEL_WORDS = {"DEBUG": ("debug", "2"), "INFO": ("", ""), "WARNING": ("warning", "33"), "ERROR": ("error", "1;31"),
                "CRITICAL": ("critical", "1;31")}


class TerminalFormatter(logging.Formatter):
    """One line per record for a person at a terminal: local time, a word naming the event
    (down, up, incident, resolved, sent, ...) or the level, and the sentence; coloured
    unless `colour` is off (NO_COLOR). The logger's name is left out: the sentence says it."""

    def __init__(self, colour: bool = True) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event", None) or ""
        word, code = _EVENT_WORDS.get(event) or (
            ("incident", "33") if event.startswith("incident.") else _LEVEL_WORDS.get(record.levelname, ("", ""))
        )
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        head = f"{word:<8}" if word or code else " " * 8
        if self.colour and code:
            head = f"\x1b[{code}m{head}\x1b[0m"
        line = f"{when} {head} {record.getMessage()}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


def text_formatter(stream: IO[str]) -> logging.Formatter:
    """The text format for `stream`: TerminalFormatter on a terminal, else TEXT_FORMAT."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        return TerminalFormatter(colour=os.environ.get("NO_COLOR", "") == "")
    return logging.Formatter(TEXT_FORMAT)


class _Redacting(RedactingFilter):
    """RedactingFilter that masks the structured fields too."""

    def filter(self, record: logging.LogRecord) -> bool:
        super().filter(record)
        fields = getattr(record, "fields", None)
        if fields and len(self.redactor):
            record.fields = self.redactor.redact_obj(fields)
        return True


class _QuietApprise(logging.Filter):
    """Drop Apprise's records below ERROR unless we log at DEBUG.

    Not done with the "apprise" logger's level: Apprise collects each delivery's warnings
    (the error text we record and show) through that logger, so it must stay enabled."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "apprise" or record.name.startswith("apprise."):
            return self.level <= logging.DEBUG or record.levelno >= logging.ERROR
        return True


def configure(
    level: str | int = "INFO", redactor: Redactor | None = None, fmt: str = "text", stream: IO[str] | None = None
) -> logging.Handler:
    """Replace the root logger's handlers with one that writes `fmt` lines to `stream`."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    numeric = logging.getLevelName(level) if isinstance(level, str) else level
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if fmt == "json" else text_formatter(out))
    handler.addFilter(_QuietApprise(numeric))
    if redactor is not None:
        handler.addFilter(_Redacting(redactor))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in QUIET_BELOW_WARNING:
        logging.getLogger(name).setLevel(logging.WARNING)
    # Apprise must create its WARNING records even when we log at ERROR (see _QuietApprise).
    logging.getLogger("apprise").setLevel(min(numeric, logging.WARNING))
    return handler
