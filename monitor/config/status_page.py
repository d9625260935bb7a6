"""The `status_page:` section of the config file.

Nothing here imports the renderer: the config loader must stay importable without Jinja2 or
the database.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from monitor.core.addresses import Host, web_url_problem
from monitor.core.durations import Duration
from monitor.core.text import Language, Strict, Text

LOOPBACK_NAMES = ("localhost",)
_DEFAULT_TITLE: dict[Language, str] = {"zh-CN": "电子发票服务状态", "en": "E-invoice service status"}


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`: addresses nobody else can reach."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class StatusPageSection(Strict):
    """The public status page and the built-in HTTP server that serves it."""

    enabled: bool = Field(True, description="render the page and run the built-in server")
    listen: Host = Field("127.0.0.1", description="address the built-in server binds (an IP address or host name)")
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port")
    output_dir: str = Field("var/status", description="where the static page is written")
    title: Text = Field(
        default_factory=lambda: _DEFAULT_TITLE.copy(),
        description="heading of the page, one string or one per language",
    )
    description: Text = Field("", description="one line under the heading (who to call, what this page covers)")
    refresh: Duration = Field(timedelta(seconds=60), description="regenerate at least this often")
    debounce: Duration = Field(
        timedelta(seconds=2), description="after a status change, wait this long for more before regenerating"
    )
    components_per_page: int = Field(
        50, ge=1, le=10000, description="component cards on one page; more components go on components-2.html, "
        "... (those not operational first, so the first page shows every problem)"
    )
    latency_components: list[str] = Field(
        default_factory=lambda: ["query"],
        description="public components that get a p50/p95 latency chart (24 h); unknown ids are ignored",
    )
    maintenance_horizon: Duration = Field(
        timedelta(days=14), description="planned maintenance is listed this far ahead"
    )
    internal: Literal["auto", "on", "off"] = Field(
        "auto",
        description="check-level page at /internal/: auto = only when listen is a loopback address "
        "and the request is not forwarded by a proxy; on = always (protect it in your proxy); off = never",
    )
    public_url: str | None = Field(
        None, description="absolute URL the page is published at; used for links in the Atom feed"
    )
    header_timeout: Duration = Field(
        timedelta(seconds=5),
        description="the built-in server closes a connection whose request headers have not all arrived "
        "this long after it opened (or after its previous response): slow-loris clients are cut off",
    )
    body_timeout: Duration = Field(
        timedelta(seconds=10), description="a request body must arrive within this long (408 otherwise)"
    )
    max_connections_per_client: int = Field(
        64, ge=0, le=100000,
        description="open connections one client address may hold; more are answered 503 and closed "
        "(0 = no cap; behind a reverse proxy every client is the proxy, so raise it or set 0)",
    )

    @field_validator("refresh", "debounce", "header_timeout", "body_timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    @field_validator("public_url")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = web_url_problem(value)
        if problem:
            raise ValueError(f"{problem}; it must be the absolute URL of the page, e.g. https://status.example.com/")
        return value if value.endswith("/") else value + "/"

    @property
    def internal_enabled(self) -> bool:
        """Whether /internal/ may be served at all (the request check comes on top in auto mode)."""
        if self.internal == "auto":
            return is_loopback(self.listen)
        return self.internal == "on"
