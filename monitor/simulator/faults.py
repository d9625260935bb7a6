"""Faults the simulator can be told to suffer, set and cleared at run time.

A fault is a name from `CATALOG` plus validated parameters, an optional expiry and an
optional `flap` period, all measured on the simulator's clock. Handlers ask `active(name, op)`
at the moment they answer; nothing runs in the background, so a FakeClock drives everything.
Random draws come from one seeded RNG; record-level damage (`fields_dropped`,
`scope_shrink`) uses a stable hash of (seed, serial number) so the same invoice is always the
damaged one, as a bad row in a real database would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.core.clock import Clock
from monitor.core.durations import parse_duration
from monitor.simulator.model import OPERATIONS

FIELDS: tuple[str, ...] = (
    "invoiceNo", "invoiceCode", "invoiceDate", "totalAmount", "taxAmount",
    "buyerName", "buyerTaxNo", "status", "updateTime",
)  # fmt: skip


def _seconds(value: Any) -> float:
    """Seconds as a number, numeric text ("0.2") or duration text ("250ms", "10m")."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    return parse_duration(value).total_seconds()


def _rate(value: Any) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError("must be between 0 and 1")
    return rate


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _status(value: Any) -> int:
    code = int(value)
    if not 400 <= code <= 599:
        raise ValueError("must be an HTTP error status (400-599)")
    return code


def _names(allowed: tuple[str, ...]) -> Callable[[Any], list[str]]:
    def parse(value: Any) -> list[str]:
        items = value if isinstance(value, list) else str(value).split(",")
        names = [str(v).strip() for v in items if str(v).strip()]
        unknown = [n for n in names if n not in allowed]
        if unknown or not names:
            raise ValueError(f"unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(allowed)}")
        return names

    return parse


def _choice(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if str(value) not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return str(value)

    return parse


@dataclass(frozen=True)
class Param:
    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str


@dataclass(frozen=True)
class FaultSpec:
    name: str
    help: str
    params: tuple[Param, ...] = ()


_ENDPOINT = Param("endpoint", _names(OPERATIONS), None, "operations affected (default all): " + ", ".join(OPERATIONS))
_FLAP = Param("flap", _seconds, None, "broken for this long, healthy for this long, repeating")

CATALOG: dict[str, FaultSpec] = {
    spec.name: spec
    for spec in (
        FaultSpec("login_refused", "token calls answer bad credentials for every user",
                  (Param("revoke", _bool, True, "reject existing tokens too"),)),
        FaultSpec("token_down", "the token operation answers an HTTP error or resets the connection",
                  (Param("status", _status, 503, "HTTP status"), Param("reset", _bool, False, "reset the connection instead"))),
        FaultSpec("quota_exhausted", "token calls answer quota exhausted"),
        FaultSpec("tax_logged_out", "tax bureau logged out: certification says so; issue, void, red-flush fail"),
        FaultSpec("latency", "real delay before answering",
                  (Param("seconds", _seconds, 1.0, "added delay"), Param("jitter", _seconds, 0.0, "± uniform jitter"), _ENDPOINT)),
        FaultSpec("hang", "accept and answer nothing; close the connection after `seconds` (capped by hang_cap)",
                  (Param("seconds", _seconds, None, "how long to hold (default hang_cap)"), _ENDPOINT,
                   Param("after", _bool, False, "do the operation first, then hold its answer (the outcome is unknown to the caller)"))),
        FaultSpec("error_rate", "a share of requests answer an HTTP error or a connection reset",
                  (Param("rate", _rate, 1.0, "share of requests"), Param("status", _status, 500, "HTTP status"),
                   Param("reset", _bool, False, "reset the connection instead"), _ENDPOINT,
                   Param("after", _bool, False, "with reset: do the operation first, then cut the connection"))),
        FaultSpec("busy", "a share of requests answer 'system busy' inside HTTP 200",
                  (Param("rate", _rate, 1.0, "share of requests"), _ENDPOINT)),
        FaultSpec("issue_rejected", "issuance is refused at submit",
                  (Param("message", str, "购方税号校验失败", "the refusal text"),)),
        FaultSpec("issue_failed", "submitted issuances end failed (or sealing_failed)",
                  (Param("rate", _rate, 1.0, "share of submissions"),
                   Param("status", _choice("failed", "sealing_failed"), "failed", "final status"),
                   Param("message", str, "", "failCause (default depends on status)"))),
        FaultSpec("issue_stuck", "submitted issuances stay issuing forever"),
        FaultSpec("sync_lag", "list queries see an invoice only `seconds` after its invoiceDate",
                  (Param("seconds", _seconds, 600.0, "lag"),)),
        FaultSpec("sync_frozen", "list queries see nothing issued after the fault was set",
                  (Param("api_visible", _bool, False,
                         "invoices issued through this API (canaries) still show: only the business stream stops"),)),
        FaultSpec("fields_dropped", "a share of records lose fields in list and get answers",
                  (Param("rate", _rate, 0.2, "share of records"),
                   Param("fields", _names(FIELDS), ["invoiceNo", "invoiceDate", "totalAmount"], "native field names"),
                   Param("how", _choice("mixed", "absent", "null", "empty"), "mixed", "how a field is lost"))),
        FaultSpec("scope_shrink", "a scoped user silently sees fewer invoices",
                  (Param("rate", _rate, 0.5, "share of invoices hidden"),
                   Param("user", str, None, "appKey (default every user with limited departments)"))),
        FaultSpec("flapping", "alternate healthy / HTTP error every `seconds`, starting broken",
                  (Param("seconds", _seconds, 60.0, "length of each phase"), Param("status", _status, 503, "HTTP status"),
                   _ENDPOINT)),
    )
}  # fmt: skip


@dataclass
class Fault:
    name: str
    params: dict[str, Any]
    set_at: datetime
    expires_at: datetime | None = None
    flap: float | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def broken_phase(self, now: datetime) -> bool:
        """False while a flapping fault is in its healthy half."""
        period = self.flap if self.flap is not None else (self.params["seconds"] if self.name == "flapping" else None)
        if not period:
            return True
        return int((now - self.set_at).total_seconds() // period) % 2 == 0

    def targets(self, op: str | None) -> bool:
        endpoints = self.params.get("endpoint")
        return endpoints is None or op in endpoints

    def describe(self, now: datetime) -> dict[str, Any]:
        params = {k: v for k, v in self.params.items() if v is not None}
        if self.flap is not None:
            params["flap"] = self.flap
        return {
            "name": self.name,
            "params": params,
            "set_at": self.set_at.isoformat().replace("+00:00", "Z"),
            "expires_at": self.expires_at.isoformat().replace("+00:00", "Z") if self.expires_at else None,
            "active": self.broken_phase(now),
        }


def parse_params(name: str, given: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
    """Validate one fault's parameters; ValueError naming the fault and key on bad input."""
    spec = CATALOG.get(name)
    if spec is None:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(CATALOG)}")
    known = {p.name: p for p in spec.params}
    params: dict[str, Any] = {p.name: p.default for p in spec.params}
    flap: float | None = None
    for key, value in given.items():
        if key == "flap":
            parser: Callable[[Any], Any] = _seconds
        elif key in known:
            parser = known[key].parse
        else:
            allowed = ", ".join([*known, "flap"])
            raise ValueError(f"fault {name}: unknown parameter {key!r} (allowed: {allowed})")
        if value is None:
            continue
        try:
            parsed = parser(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"fault {name}: {key}={value!r}: {exc}") from None
        if key == "flap":
            if parsed <= 0:
                raise ValueError(f"fault {name}: flap must be longer than zero")
            flap = parsed
        else:
            params[key] = parsed
    return params, flap


@dataclass
class Faults:
    """The faults in force. One of each name at a time; setting it again replaces it."""

    clock: Clock
    seed: int
    _faults: dict[str, Fault] = field(default_factory=dict)
    _release: asyncio.Event | None = None
    held: int = 0  # requests a `hang` fault is holding right now

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}:faults")

    def set(self, name: str, params: dict[str, Any] | None = None, duration: Any = None) -> Fault:
        values, flap = parse_params(name, params or {})
        now = self.clock.now()
        expires = None
        if duration is not None:
            try:
                span = parse_duration(duration)
            except ValueError as exc:
                raise ValueError(f"fault {name}: for={duration!r}: {exc}") from None
            if span <= timedelta(0):
                raise ValueError(f"fault {name}: for must be longer than zero")
            expires = now + span
        fault = Fault(name, values, now, expires, flap)
        self._faults[name] = fault
        if name == "hang":
            self.release_hangs()  # requests hung under the old settings are let go
        return fault

    def clear(self, name: str | None = None) -> list[str]:
        """Clear one fault (KeyError if not set) or all; let go of requests held by `hang`."""
        if name is None:
            cleared = sorted(self._faults)
            self._faults.clear()
        else:
            del self._faults[name]
            cleared = [name]
        self.release_hangs()
        return cleared

    def all(self) -> list[Fault]:
        now = self.clock.now()
        for name in [n for n, f in self._faults.items() if f.expired(now)]:
            del self._faults[name]
        return sorted(self._faults.values(), key=lambda f: f.name)

    def active(self, name: str, op: str | None = None) -> Fault | None:
        """The fault if it is set, unexpired, in its broken phase and aimed at `op`."""
        fault = self._faults.get(name)
        if fault is None:
            return None
        now = self.clock.now()
        if fault.expired(now):
            del self._faults[name]
            return None
        if not fault.broken_phase(now) or not fault.targets(op):
            return None
        return fault

    def chance(self, rate: float) -> bool:
        return rate >= 1.0 or (rate > 0.0 and self.rng.random() < rate)

    def uniform(self, low: float, high: float) -> float:
        return self.rng.uniform(low, high)

    def stable_fraction(self, *parts: object) -> float:
        """A number in [0, 1) fixed by (seed, parts): the same record is always picked."""
        digest = hashlib.sha256(":".join([str(self.seed), *map(str, parts)]).encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    # `hang` holds requests on this event; clearing faults or shutting down sets it.
    def release_event(self) -> asyncio.Event:
        if self._release is None:
            self._release = asyncio.Event()
        return self._release

    def release_hangs(self) -> None:
        if self._release is not None:
            self._release.set()
            self._release = None


def catalog_json() -> dict[str, Any]:
    return {
        spec.name: {
            "help": spec.help,
            "params": {p.name: {"default": p.default, "help": p.help} for p in (*spec.params, _FLAP)},
        }
        for spec in CATALOG.values()
    }


__all__ = ["CATALOG", "FIELDS", "Fault", "FaultSpec", "Faults", "catalog_json", "parse_params"]
