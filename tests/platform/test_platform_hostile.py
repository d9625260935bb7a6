"""The check contract, for the invoice kinds: against the same hostile targets as every other
kind (refused, accept-and-close, hang, garbage, a 10 MB body, HTTP 500, a trickle), each one
returns a down Result with a one-line message of its own, within its timeout, never raising
and never cut off by run_check."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from checks import run_check
from monitor.core.results import Status
from tests.checks.conftest import HOSTILE

INVOICE_MODULES = {f"checks.{k}" for k in ("login", "query", "completeness", "freshness", "issuance", "lifecycle", "permission", "flow")}
# A real budget of a few seconds (a busy machine must not decide the outcome); HANG_BOUND only
# catches a probe that ignores cancellation, it is not a speed target.
TIMEOUT, HANG_BOUND = 2.0, 10.0

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
async def test_invoice_kinds_survive_hostile_platform(target: str, hostile: Any, make_env: Any, tmp_path: Path) -> None:
    """Every kind at once against one target (each in its own task and budget), so a real
    timeout of a few seconds costs a few seconds per target, not per case."""
    port = await hostile(target)
    checks = "".join(f"  - {{name: {kind}, timeout: {TIMEOUT}s, {spec[1:]}\n" for kind, spec in CHECKS.items())
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
{checks}""")
    await env.registry.ledger.prepare()  # the schema, not the probe, on the clock

    async def one(kind: str) -> tuple[str, Any, float]:
        began = time.monotonic()
        result = await run_check(env.config.check(kind), env.ctx)
        return kind, result, time.monotonic() - began

    problems = []
    for kind, result, elapsed in await asyncio.gather(*(one(k) for k in CHECKS)):
        msg = result.message
        if result.status is not Status.DOWN or not msg or "\n" in msg or len(msg) >= 1000:
            problems.append(f"{kind}: {result.status} {msg!r}")
        if "timeout" in result.values:  # cut off by run_check: the kind did not report within its budget
            problems.append(f"{kind}: cut off after {elapsed:.2f}s: {msg}")
        if "internal_error" in result.values:
            problems.append(f"{kind}: internal error: {msg}")
        if elapsed > TIMEOUT + HANG_BOUND:  # never stuck past its timeout (cancellation works)
            problems.append(f"{kind}: {elapsed:.2f}s")
    assert not problems, problems
