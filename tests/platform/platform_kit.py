"""Helpers for the platform tests (a unique module name, importable from the test files)."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from checks import run_check
from checks.client import HttpClientFactory
from checks.platform.registry import PlatformRegistry
from monitor.config import Config, load_config
from monitor.core.clock import FakeClock
from monitor.core.results import Result
from monitor.core.secrets import Redactor
from tests.simulator.simulator_kit import settings

ADMIN_KEY, ADMIN_SECRET = "sim-admin", "sim-admin-secret"
SALES_KEY, SALES_SECRET = "sim-sales", "sim-sales-secret"

# Short history and delays keep the simulator small and fast; the simulator tests use the same.
sim_settings = settings



class SimHandle:
    """The running simulator: its object (for state assertions) and its admin API over HTTP."""

    def __init__(self, sim: Any, url: str) -> None:
        self.sim = sim
        self.url = url
        self.admin = httpx.AsyncClient(base_url=url, timeout=5.0, trust_env=False)

    async def fault(self, name: str, for_: str | None = None, **params: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "params": params}
        if for_:
            body["for"] = for_
        r = await self.admin.post("/_admin/faults", json=body)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    async def clear(self) -> None:
        r = await self.admin.delete("/_admin/faults")
        assert r.status_code == 200, r.text

    async def state(self) -> dict[str, Any]:
        r = await self.admin.get("/_admin/state")
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        await self.admin.aclose()


class Env:
    """A loaded config plus the context checks run in (the registry included)."""

    def __init__(self, config: Config, clock: FakeClock, http: HttpClientFactory, ctx: Any) -> None:
        self.config = config
        self.clock = clock
        self.http = http
        self.ctx = ctx

    @classmethod
    def load(cls, text: str, *, clock: FakeClock, tmp_path: Path, env: dict[str, str], database: bool) -> Env:
        from monitor.runtime import make_context

        text = textwrap.dedent(text)
        if database and "database:" not in text:
            text = f"monitor:\n  database: sqlite:///{tmp_path}/iw.db\n" + text
        path = tmp_path / "config.yaml"
        path.write_text(text, encoding="utf-8")
        config = load_config(path, env=env)
        http = HttpClientFactory()
        ctx = make_context(config, clock, http, Redactor(config.secrets))
        e = cls(config, clock, http, ctx)
        e.registry.sleep = e.fake_sleep
        return e

    @property
    def registry(self) -> PlatformRegistry:
        return self.ctx.services["platforms"]  # type: ignore[no-any-return]

    async def fake_sleep(self, seconds: float) -> None:
        """Waiting in a check moves the shared clock: the simulator sees the time pass."""
        self.clock.advance(seconds)
        await asyncio.sleep(0)

    async def run(self, name: str) -> Result:
        return await run_check(self.config.check(name), self.ctx)

    async def aclose(self) -> None:
        from monitor.runtime import close_context

        await close_context(self.ctx)  # the HTTP clients, the registry (and its ledger), SQL engines


def platform_yaml(url: str, *, name: str = "sim", profile: str = "simulator", key: str = ADMIN_KEY,
                  secret: str = ADMIN_SECRET, extra: str = "", prefix: str = "", timeout: str = "2s") -> str:  # fmt: skip
    """A `platforms:` section for the simulator in one of its modes."""
    base = url + prefix
    return (
        f"platforms:\n  {name}:\n    profile: {profile}\n    base_url: {base}\n    timeout: {timeout}\n"
        f"    credentials: {{appKey: {key}, appSecret: {secret}}}\n" + textwrap.indent(textwrap.dedent(extra), "    ")
    )


def ledger_rows(env: Env) -> list[dict[str, Any]]:
    """The canary ledger's rows, read with plain SQL (what an operator would see)."""
    engine = sa.create_engine(env.config.monitor.database)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM platform_canary ORDER BY id"))]
    engine.dispose()
    return rows


async def until(predicate: Any, what: str, timeout: float = 30.0) -> Any:
    """Poll the async `predicate` until it returns something true (bounded); that value."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.03)
    raise AssertionError(f"timed out waiting for {what}")
