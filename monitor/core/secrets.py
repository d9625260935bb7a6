"""Secrets: every value that came from `${ENV}` or `${file:...}` is remembered and masked.

The config loader registers each expanded value here. Anything that leaves the process as
text (logs, results written to the store, alerts, the status page, `check` output) passes
through `Redactor.redact`, so a token echoed back in an error body never escapes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
# Values shorter than this are not treated as secrets: masking "1" or "on" everywhere would
# make every message unreadable and protect nothing.
MIN_SECRET_LENGTH = 6


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for s in secrets:
            self.add(s)

    def add(self, secret: str) -> None:
        if len(secret) >= MIN_SECRET_LENGTH and secret not in self._secrets:
            self._secrets.add(secret)
            # Longest first, so a secret that contains another is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __len__(self) -> int:
        return len(self._secrets)

    def redact(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def redact_obj(self, value: Any) -> Any:
        """Redact every string inside nested dicts/lists/tuples (keys included)."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact_obj(k): self.redact_obj(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact_obj(v) for v in value)
        return value


# scheme://user:password@host...: the password is everything up to the first "@", the way
# SQLAlchemy's URL parser reads it (so a "/" or ":" in a password is masked whole).
_URL_PASSWORD = re.compile(r"^(?P<head>[\w+]+://[^:/@]*:)(?P<password>[^@]*)@")
_URL_SCHEME = re.compile(r"^[\w+]+://")


def safe_url(url: str) -> str:
    """A database URL without its password, for messages ("<unparseable database URL>" when it
    is not a URL at all). A pure string function: checks use it without a database library."""
    if not _URL_SCHEME.match(url):
        return "<unparseable database URL>"
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", url, count=1)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the final message of every record."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if len(self.redactor):
            message = record.getMessage()
            record.msg = self.redactor.redact(message)
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.redactor.redact(record.exc_text)
        return True
