"""The canary ledger as the canary code sees it: every canary invoice we asked for, until it is
voided or red-flushed.

Why durable: a crash between "issue" and "void" would otherwise leave a real tax document
behind. A row is written *before* the submit (with our own order number, which the platform
accepts only once), filled in as the canary progresses, and closed when cleanup succeeds.
At start (and before each new canary) every open row of the platform is cleaned up.
The same rows count canaries per day, so the daily cap survives restarts.

Checks know nothing of storage: this is only the contract. The composition root puts an
implementation into `ctx.services[SERVICE_KEY]` (monitor.store.canaries.SqlCanaryLedger, in
the monitor's database) and the platform registry hands it to the canary code. A row's
`state` is one of submitting, pending, issued (open: something may exist on the platform)
or cleaned, nothing (closed; nothing: the platform never made an invoice).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

SERVICE_KEY = "canaries"


class CanaryEntry(Protocol):
    """One open canary, as the sweep and `invoicewatch canaries` read it."""

    @property
    def id(self) -> int | None: ...

    @property
    def check(self) -> str:
        """The check that issued it: each check sweeps only its own canaries."""

    @property
    def order_no(self) -> str: ...

    @property
    def serial(self) -> str | None: ...

    @property
    def number(self) -> str | None: ...

    @property
    def state(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def updated_at(self) -> datetime:
        """The last attempt: with `attempts`, when the next one is due."""

    @property
    def attempts(self) -> int: ...

    @property
    def last_error(self) -> str | None:
        """Why it is still open, in words."""

    @property
    def variables(self) -> dict[str, Any] | None:
        """The canary's content and every variable extracted since (serial, invoice id ...)."""


class CanaryLedger(Protocol):
    async def prepare(self) -> None:
        """Open the ledger now (otherwise done lazily on first use)."""

    async def open(self, platform: str, check: str, order_no: str, variables: dict[str, Any], now: datetime) -> int:
        """Record a canary about to be submitted (state "submitting"); returns its id."""

    async def update(self, row_id: int, now: datetime, **values: Any) -> None:
        """Set fields of one canary: serial, number, state, cleaned_at, attempts, last_error, variables."""

    async def unfinished(self, platform: str) -> Sequence[CanaryEntry]:
        """The platform's open canaries (submitting, pending, issued), oldest first."""

    async def count_since(self, platform: str, check: str, since: datetime) -> int:
        """Canaries a check asked for since `since`, open or not (the daily cap)."""

    async def close(self) -> None: ...
