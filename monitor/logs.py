"""Logging set-up: one line per record, text for people or JSON for machines, secrets masked.

    configure(level, redactor, fmt="text" | "json", stream=sys.stderr)

Events that matter (a check going down or up, an incident opened / updated / resolved, a
message delivered or failed, the config reloaded) are logged once each, at INFO or above,
with `extra={"event": "incident.opened", "fields": {...}}`: the text format shows the
sentence, the JSON format one object per line

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
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
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
