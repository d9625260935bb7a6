"""`invoicewatch platform try NAME` (issue 15.5): each operation once against the real platform,
the masked request, the raw answer, and every mapping with the override to write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.core.clock import SystemClock
from monitor.simulator import Simulator, serve
from tests.platform.platform_kit import ADMIN_SECRET, sim_settings


@pytest.fixture
async def live_sim() -> AsyncIterator[tuple[Any, str]]:
    """The simulator on the wall clock: the command signs with real time, as in production."""
    sim = Simulator(SystemClock(), seed=7, settings=sim_settings(issue_delay=timedelta(seconds=1)))
    runner, url = await serve(sim, port=0)
    try:
        yield sim, url
    finally:
        await runner.cleanup()


async def try_platform(tmp_path: Path, url: str, extra: str = "", *args: str, profile: str = "simulator") -> Any:
    config = tmp_path / "config.yaml"
    config.write_text(f"""
monitor: {{database: "sqlite:///{tmp_path}/iw.db"}}
platforms:
  sim:
    profile: {profile}
    base_url: {url}
    sandbox: true
    credentials: {{appKey: sim-admin, appSecret: {ADMIN_SECRET}}}
{extra}
""", encoding="utf-8")
    return await asyncio.to_thread(CliRunner().invoke, cli, ["-c", str(config), "platform", "try", "sim", *args])


@pytest.mark.parametrize(("profile", "prefix"), [("simulator", ""), ("nuonuo", "/nuonuo"), ("baiwang", "/baiwang")])
async def test_a_fitting_profile_matches_every_mapping_and_masks_every_secret(live_sim, tmp_path: Path, profile: str,
                                                                             prefix: str) -> None:  # fmt: skip
    sim, url = live_sim
    result = await try_platform(tmp_path, url + prefix, profile=profile)
    out = result.output
    assert result.exit_code == 0, out
    assert "every request answered and every mapping matched" in out
    for op in ("token", "list_invoices", "get_invoice", "find_by_order", "certification"):
        assert f"== {op}\n" in out
    assert "✓ fields.number:" in out and "✓ statuses:" in out and "✓ certification.status:" in out and "✗" not in out
    assert "== issue: not sent" in out and sim.book.jobs == 0  # nothing written without --issue
    assert ADMIN_SECRET not in out
    granted = sim.tokens.issued()
    assert len(granted) == 1 and granted[0] not in out
    assert "*** (masked)" in out


@pytest.mark.parametrize("limit", ["60", "100", "150"])
async def test_a_short_body_limit_never_cuts_a_secret_in_half(live_sim, tmp_path: Path, limit: str) -> None:
    sim, url = live_sim
    out = (await try_platform(tmp_path, url + "/baiwang", "", "--body", limit, profile="baiwang")).output
    [token] = sim.tokens.issued()
    assert not any(token[:n] in out for n in range(8, len(token) + 1)), "a token prefix leaked"


async def test_a_profile_that_does_not_fit_gets_the_overrides_to_write(live_sim, tmp_path: Path) -> None:
    _, url = live_sim
    extra = """    operations:
      list_invoices: {items: $.result.rows}
    fields: {number: $.invoiceNumber, amount: $.total}
    statuses: {issued: [done]}
"""
    result = await try_platform(tmp_path, url, extra)
    out = result.output
    assert result.exit_code == 1
    assert "✗ operations.list_invoices.items: nothing at $.result.rows" in out
    assert "override: operations.list_invoices.items: $.result.list" in out
    assert "✗ fields.number: nothing at $.invoiceNumber" in out and "override: fields: {number: $.invoiceNo}" in out
    assert "override: fields: {amount: $.totalAmount}" in out
    assert "✗ statuses: 'issued' is in no list" in out


async def test_issue_runs_one_canary_through_the_issuance_check_and_cancels_it(live_sim, tmp_path: Path) -> None:
    sim, url = live_sim
    result = await try_platform(tmp_path, url, "", "--issue")
    assert result.exit_code == 0, result.output
    assert "issuance: up: canary" in result.output and "cancelled" in result.output
    assert sim.outstanding() == []
