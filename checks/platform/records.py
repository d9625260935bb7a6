"""Invoice records as the checks see them: the profile's `fields:` applied to raw JSON.

Platforms write times every which way: "2026-03-02 09:00:00" (China time, no zone),
"20260302090000", ISO 8601 with an offset, epoch seconds or milliseconds (0 meaning "not
yet"). `parse_time` reads them all; a naive time is in the platform's zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from checks.platform.jsonpath import compile_path
from checks.platform.models import Fields, Statuses

DIGITAL_NUMBER = re.compile(r"^\d{20}$")  # 数电 (fully digital) invoice numbers
_COMPACT = {14: "%Y%m%d%H%M%S", 12: "%Y%m%d%H%M", 8: "%Y%m%d"}

_ABSENT = object()


def parse_time(value: Any, tz: tzinfo) -> datetime | None:
    """A platform's time value as aware UTC, or None when absent, empty, zero or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(UTC)
    if isinstance(value, int | float):
        if value <= 0:
            return None
        seconds = value / 1000 if value > 1e11 else value  # epoch ms vs s
        return datetime.fromtimestamp(seconds, UTC)
    text = str(value).strip()
    if not text:
        return None
    if text.isdigit():
        if len(text) in _COMPACT:
            try:
                return datetime.strptime(text, _COMPACT[len(text)]).replace(tzinfo=tz).astimezone(UTC)
            except ValueError:
                return None
        return parse_time(int(text), tz)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("/", "-"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def blank(value: Any) -> bool:
    """Absent, null, or empty text: all three mean the field is missing."""
    return value is _ABSENT or value is None or (isinstance(value, str) and not value.strip())


@dataclass
class Record:
    raw: Any
    values: dict[str, Any] = field(default_factory=dict)  # field name -> raw value (_ABSENT if absent)

    def get(self, name: str) -> Any:
        value = self.values.get(name, _ABSENT)
        return None if value is _ABSENT else value

    def has(self, name: str) -> bool:
        return not blank(self.values.get(name, _ABSENT))

    @property
    def number(self) -> str | None:
        """The invoice number, or the 数电 number when the platform keeps it apart."""
        for name in ("number", "digital_number"):
            if self.has(name):
                return str(self.get(name)).strip()
        return None

    @property
    def is_digital(self) -> bool:
        """A 数电 invoice: its number (wherever kept) is 20 digits."""
        return any(self.has(n) and DIGITAL_NUMBER.match(str(self.get(n)).strip()) for n in ("number", "digital_number"))

    def missing(self, required: list[str]) -> list[str]:
        """Required fields this record lacks, 数电-aware.

        A 数电 invoice has no invoice code, so an empty `code` is fine when the number is a
        20-digit 数电 number; `number` counts as present when the 数电 number is. Without any
        number we cannot tell whether a code was due, so only the number is reported.
        """
        out = []
        for name in required:
            if name == "code" and not self.has("code") and (self.is_digital or self.number is None):
                continue
            if name == "number" and self.number is not None:
                continue
            if not self.has(name):
                out.append(name)
        return out

    def label(self, index: int) -> str:
        """How to name this record in evidence: its number, else its serial, else its place."""
        if self.number:
            return self.number
        if self.has("serial"):
            return f"serial {self.get('serial')}"
        return f"record #{index + 1}"


def extract(raw: Any, fields: Fields) -> Record:
    rec = Record(raw=raw)
    for name, path in fields.model_dump().items():
        if path is None:
            continue
        if isinstance(path, list):
            parts = [_value_at(p, raw) for p in path]
            rec.values[name] = "/".join("" if blank(v) else str(v) for v in parts)
        else:
            rec.values[name] = _value_at(path, raw)
    return rec


def _value_at(path: str, raw: Any) -> Any:
    matches = compile_path(path).find(raw)
    return matches[0].value if matches else _ABSENT


def status_name(rec: Record, statuses: Statuses) -> str | None:
    return statuses.name_of(rec.get("status"))


def newest(records: list[Record], name: str, tz: tzinfo) -> datetime | None:
    times = [t for t in (parse_time(r.get(name), tz) for r in records) if t is not None]
    return max(times, default=None)
