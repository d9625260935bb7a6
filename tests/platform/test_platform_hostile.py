"""The check contract, for the invoice kinds: against the same hostile targets as every other
kind (refused, accept-and-close, hang, garbage, a 10 MB body, HTTP 500, a trickle), each one
returns a down Result with a one-line message of its own, within its timeout, never raising
and never cut off by run_check."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from checks import run_check
from monitor.core.results import Status
from tests.checks.conftest import HOSTILE

INVOICE_MODULES = {f"checks.{k}" for k in ("login", "query", "completeness", "freshness", "issuance", "lifecycle", "permission", "flow")}
TIMEOUT, MARGIN = 0.3, 0.5

# Kinds meet the target with their own first request (a static-key platform: no token call);
# "login-token" meets it at the token call.
CHECKS = {
    "login-token": "{kind: login, platform: t}",
    "login": "{kind: login, platform: p}",
    "query": "{kind: query, platform: p}",
    "completeness": "{kind: completeness, platform: p}",
    "freshness": "{kind: freshness, platform: p, max_lag: 10m}",
    "issuance": "{kind: issuance, platform: p, deadline: 100ms, poll_every: 50ms}",
    "lifecycle": "{kind: lifecycle, platform: p, deadline: 100ms, poll_every: 50ms, expect: [{status: issued}]}",
    "permission": "{kind: permission, platform: p, users: [{min_visible: 1}]}",
    "flow": "{kind: flow, platform: p, steps: [{name: s, operation: list_invoices}]}",
}



def test_every_invoice_kind_is_in_this_contract() -> None:
    from checks import KINDS

    assert set(CHECKS) - {"login-token"} == {k for k, m in KINDS.items() if m.__name__ in INVOICE_MODULES}


@pytest.mark.parametrize("target", list(HOSTILE))
@pytest.mark.parametrize("kind", list(CHECKS))
async def test_invoice_kind_survives_hostile_platform(kind: str, target: str, hostile: Any, make_env: Any, tmp_path: Path) -> None:
    port = await hostile(target)
    env = make_env(f"""
platforms:
  p:
    profile: simulator
    base_url: http://127.0.0.1:{port}
    credentials: {{appKey: k, appSecret: secret-value}}
    auth: {{scheme: header, header: {{X-Api-Key: secret-value}}}}
  t:
    profile: simulator
    base_url: http://127.0.0.1:{port}
    credentials: {{appKey: k, appSecret: secret-value}}
checks:
  - {{name: c, timeout: {TIMEOUT}s, {CHECKS[kind][1:]}
""")
    await env.registry.ledger.prepare()  # the schema, not the probe, on the clock
    began = time.monotonic()
    result = await run_check(env.config.check("c"), env.ctx)
    elapsed = time.monotonic() - began
    assert result.status is Status.DOWN, result.message
    assert result.message and "\n" not in result.message and len(result.message) < 1000
    assert elapsed < TIMEOUT + MARGIN, f"{elapsed:.2f}s: {result.message}"
    assert "internal_error" not in result.values, result.message
    assert "timeout" not in result.values, result.message
