"""The nuonuo profile follows Nuonuo's published API (issue 15.5): both method families of its
SDKs, queryInvoiceResult's record and status table (21 签章中 is not final, 31 作废中 is not
voided nor red-flushed), and canaries found by order number."""

from __future__ import annotations

import pytest

from checks.platform.models import PlatformProfile
from monitor.core.results import Status
from tests.platform.platform_kit import SimHandle, platform_yaml

CHECKS = """
checks:
  - {name: canary, kind: issuance, platform: sim, cleanup: [red_flush], poll_every: 1s, deadline: 20s, timeout: 30s}
  - name: life-old-style
    kind: lifecycle
    platform: sim
    variables: {invoice_line: p}       # 电子普票: voided, passing through 31 作废中
    cleanup: [void]
    poll_every: 500ms
    deadline: 20s
    expect: [{status: pending}, {status: issued, within: 10s}, {status: voiding}, {status: voided, within: 15s}]
"""


def test_the_status_table_is_the_published_one() -> None:
    profile = PlatformProfile.model_validate({"profile": "nuonuo", "base_url": "http://127.0.0.1:1",
                                              "credentials": {"appKey": "k", "appSecret": "s"}})  # fmt: skip
    named = {code: profile.statuses.name_of(code) for code in ("2", "20", "21", "22", "24", "3", "31", "4")}
    assert named == {"2": "issued", "20": "pending", "21": "pending", "22": "failed", "24": "failed",
                     "3": "voided", "31": "voiding", "4": "red_flushed"}  # fmt: skip
    assert profile.fields.amount == "$.orderAmount" and profile.fields.buyer == "$.payerName"
    assert "find_by_order" in profile.operations


@pytest.mark.parametrize("family", ["ElectronInvoice", "OpeMplatform"])
async def test_both_method_families_issue_and_cancel_a_canary(sim: SimHandle, make_env, family: str) -> None:
    extra = f"sandbox: true\nvariables: {{method_family: {family}}}\n"
    env = make_env(platform_yaml(sim.url, profile="nuonuo", prefix="/nuonuo", extra=extra) + CHECKS)
    result = await env.run("canary")
    assert result.status is Status.UP, result.message
    seen = result.steps[1].values["seen"]
    assert seen[:2] == ["pending", "issued"]  # 21 签章中 on the way counted as pending, not issued
    assert sim.sim.book.find_order(result.values["order_no"]).status == "red_flushed"


async def test_voiding_is_followed_until_voided(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url, profile="nuonuo", prefix="/nuonuo", extra="sandbox: true\n") + CHECKS)
    result = await env.run("life-old-style")
    assert result.status is Status.UP, result.message
    assert list(result.values["seen"]) == ["submitted", "pending", "issued", "voiding", "voided"]
    assert (await sim.state())["outstanding"] == []
