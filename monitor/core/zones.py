"""Time zone names in config: one validated type for every section that takes a zone."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def check_zone(value: str) -> str:
    """Accept an IANA zone name ZoneInfo knows; raise ValueError with a hint otherwise."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like Asia/Shanghai)") from None
    return value


ZoneName = Annotated[str, AfterValidator(check_zone)]
