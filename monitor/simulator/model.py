"""What the simulated platform is made of: invoices, failure kinds, China-time text.

Every API shape (native, nuonuo, baiwang) talks about the same `Invoice` objects and raises
the same `SimError` kinds; each shape only renders them with its own field names and codes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")

# The operations a fault may target, the same in every mode.
OPERATIONS: tuple[str, ...] = ("token", "list", "get", "issue", "void", "red_flush", "certification")

INVOICE_TYPES: tuple[str, ...] = ("数电普票", "数电专票", "电子普票")
DIGITAL_TYPES: frozenset[str] = frozenset({"数电普票", "数电专票"})


class Kind(StrEnum):
    """Why an operation failed, independent of how a mode spells it."""

    BAD_CREDENTIALS = "bad_credentials"
    TOKEN_INVALID = "token_invalid"
    QUOTA = "quota"
    FORBIDDEN = "forbidden"
    TAX_LOGGED_OUT = "tax_logged_out"
    BAD_PARAM = "bad_param"
    NOT_FOUND = "not_found"
    BAD_STATE = "bad_state"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    BUSY = "busy"
    # gateway-level, signed modes only
    BAD_SIGNATURE = "bad_signature"
    BAD_TIMESTAMP = "bad_timestamp"
    UNKNOWN_METHOD = "unknown_method"


class SimError(Exception):
    """An operation refused: `kind` says why, `message` says it in the platform's words."""

    def __init__(self, kind: Kind, message: str, result: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.result = result


class Status(StrEnum):
    ISSUING = "issuing"
    ISSUED = "issued"
    FAILED = "failed"
    SEALING_FAILED = "sealing_failed"
    VOIDED = "voided"
    RED_FLUSHED = "red_flushed"


@dataclass(slots=True)
class Invoice:
    """One invoice, or an issuance job that has not become one yet (status issuing)."""

    serial_no: str
    order_no: str
    invoice_type: str
    department: str
    buyer_name: str
    buyer_tax_no: str
    total: float  # 价税合计, tax included; negative for a red invoice
    tax: float
    status: Status
    updated_at: datetime
    issued_at: datetime | None = None  # invoiceDate; None until issued
    invoice_code: str = ""
    invoice_no: str = ""
    fail_cause: str = ""
    red_flag: bool = False
    original_serial: str = ""
    remark: str = ""
    # issuance jobs only: when the planned outcome shows, and what it is
    ready_at: datetime | None = None
    outcome: Status | None = None
    planned_cause: str = ""

    @property
    def digital(self) -> bool:
        return self.invoice_type in DIGITAL_TYPES


def china_text(when: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Aware UTC -> China-time text, the way the platforms print dates."""
    return when.astimezone(CHINA).strftime(fmt) if when is not None else ""


def epoch_ms(when: datetime | None) -> int:
    return int(when.timestamp() * 1000) if when is not None else 0


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?$")


def parse_time(text: str, name: str, *, end_of_day: bool = False) -> datetime:
    """A query bound as callers write it: a date, China-time text, ISO 8601, or epoch seconds."""
    value = str(text).strip()
    try:
        if value.isdigit():
            number = int(value)
            return datetime.fromtimestamp(number / 1000 if number > 10**11 else number, UTC)
        if _DATE.match(value):
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=CHINA)
            return (day + timedelta(days=1, microseconds=-1) if end_of_day else day).astimezone(UTC)
        if _LOCAL.match(value):
            return datetime.fromisoformat(value.replace(" ", "T")).replace(tzinfo=CHINA).astimezone(UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise SimError(Kind.BAD_PARAM, f"参数错误: {name}={text!r} 不是有效时间")
    return parsed.astimezone(UTC)


def apply_damage(record: dict[str, object], damage: dict[str, str], field_map: dict[str, tuple[str, ...]]) -> None:
    """Make a rendered record lose fields the way `fields_dropped` says (native names mapped)."""
    for native, how in damage.items():
        for name in field_map.get(native, (native,)):
            if how == "absent":
                record.pop(name, None)
            elif how == "null":
                record[name] = None
            else:
                record[name] = ""
