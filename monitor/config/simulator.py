"""The `simulator:` config section: the bundled invoice platform `invoicewatch run` can start.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from monitor.core.durations import Duration
from monitor.core.text import Strict

Mode = Literal["native", "nuonuo", "baiwang"]
MODES: tuple[Mode, ...] = ("native", "nuonuo", "baiwang")
Scope = Literal["query", "issue", "void", "certification"]
SCOPES: tuple[Scope, ...] = ("query", "issue", "void", "certification")
DEPARTMENTS: tuple[str, ...] = ("sales", "service", "online")


class SimUser(Strict):
    """One appKey/appSecret pair: what it may do and which departments' invoices it sees."""


    app_key: str = Field(min_length=1, max_length=64)
    app_secret: str = Field(min_length=1)
    scopes: list[Scope] = Field(default_factory=lambda: list(SCOPES))
    departments: list[str] = Field(default_factory=lambda: ["*"], description='["*"] sees every department')

    @property
    def all_departments(self) -> bool:
        return "*" in self.departments

    def sees(self, department: str) -> bool:
        return self.all_departments or department in self.departments


DEFAULT_USERS: tuple[SimUser, ...] = (
    SimUser(app_key="sim-admin", app_secret="sim-admin-secret"),
    SimUser(app_key="sim-sales", app_secret="sim-sales-secret", scopes=["query", "certification"], departments=["sales"]),
)


class SimulatorSection(Strict):
    """The bundled e-invoice platform simulator (see monitor/simulator/API.md)."""


    enabled: bool = Field(default=False, description="start the simulator inside `invoicewatch run`")
    listen: str = Field(default="127.0.0.1", description="loopback address only: the admin API has no other guard")
    port: int = Field(default=8900, ge=0, le=65535, description="0 picks a free port")
    modes: list[Mode] = Field(default_factory=lambda: list(MODES), description="API shapes served")
    seed: int = Field(default=42, description="same seed, same invoices and the same fault draws")
    token_lifetime: Duration = Field(default=timedelta(hours=2), description="how long an access token lives")
    token_quota: int = Field(default=50, ge=1, description="new tokens per appKey per quota window")
    token_quota_window: Duration = Field(default=timedelta(days=30), description="sliding window of the token quota")
    invoice_interval: Duration = Field(default=timedelta(seconds=60), description="one new invoice per interval")
    history: Duration = Field(default=timedelta(days=3), description="invoices already there at start")
    issue_delay: Duration = Field(default=timedelta(seconds=5), description="issuing -> final status")
    hang_cap: Duration = Field(default=timedelta(seconds=30), description="longest a `hang` fault holds a request")
    signature_max_skew: Duration = Field(default=
        timedelta(minutes=10), description="signed requests' timestamp tolerance (0 turns the check off)"
    )
    admin_token: str | None = Field(default=None, description="when set, /_admin needs header X-Admin-Token")
    seller_name: str = "北京示例电子发票有限公司"
    seller_tax_no: str = "91110000600000000X"
    users: list[SimUser] = Field(default_factory=list, description="empty: the two default users")

    @field_validator("listen")
    @classmethod
    def _loopback(cls, value: str) -> str:
        try:
            ok = ipaddress.ip_address(value).is_loopback
        except ValueError:
            ok = value == "localhost"
        if not ok:
            raise ValueError(f"{value!r} is not a loopback address; the simulator binds 127.0.0.1 only")
        return value

    @field_validator("invoice_interval", "issue_delay")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("must be longer than zero")
        return value

    @field_validator("users")
    @classmethod
    def _unique_keys(cls, users: list[SimUser]) -> list[SimUser]:
        seen: set[str] = set()
        for user in users:
            if user.app_key in seen:
                raise ValueError(f"app_key {user.app_key!r} appears twice")
            seen.add(user.app_key)
        return users

    @property
    def effective_users(self) -> tuple[SimUser, ...]:
        return tuple(self.users) or DEFAULT_USERS
