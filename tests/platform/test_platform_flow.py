"""The flow check: ordered steps with extraction, conditions, repeats and always_run cleanup,
against the real simulator (through a platform, and as plain HTTP)."""

from __future__ import annotations

import pytest

from monitor.config import load_config
from monitor.core.errors import ConfigError
from monitor.core.results import Status
from tests.platform.platform_kit import ADMIN_SECRET, SimHandle, platform_yaml

ISSUE_FLOW = """
checks:
  - name: issue-flow
    kind: flow
    platform: sim
    timeout: 30s
    steps:
      - name: submit
        operation: issue
        variables: {order_no: FLOW-0001}
        extract: {serial: $.result.serialNo}
        conditions: ["[BODY].code == E0000", "[RESPONSE_TIME] < 2s"]
      - name: wait
        request: {path: "/openapi/invoices/{serial}"}
        repeat: {every: 1s, within: 20s}
        extract: {number: $.result.invoiceNo}
        conditions: ["[BODY].result.status == issued", "[BODY].result.serialNo == [VAR].serial"]
      - name: cancel
        always_run: true
        operation: red_flush
        variables: {reason: flow canary}
"""


async def test_flow_passes_variables_between_steps_and_cleans_up(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + ISSUE_FLOW)
    result = await env.run("issue-flow")
    assert result.status is Status.UP, result.message
    submit, wait, cancel = result.steps
    assert submit.values["serial"].startswith("ISS") and all(c.ok for c in submit.conditions)
    assert wait.values["attempts"] == 6  # polled every simulated second until issue_delay (5 s)
    assert len(wait.values["number"]) == 20
    assert wait.conditions[1].actual == submit.values["serial"]
    assert cancel.status is Status.UP
    assert sim.sim.book.find_order("FLOW-0001").status == "red_flushed"
    assert result.latency_ms == pytest.approx(sum(s.latency_ms for s in result.steps), abs=0.5)


async def test_a_failed_step_skips_the_rest_but_runs_always_run_steps(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + ISSUE_FLOW)
    await sim.fault("issue_rejected")
    result = await env.run("issue-flow")
    assert result.status is Status.DOWN
    assert result.values["skipped"] == ["wait"]
    assert [s.name for s in result.steps] == ["submit", "cancel"]
    assert result.message.startswith("submit: [BODY].code == E0000 failed: actual E3004")
    assert result.steps[0].conditions[0].actual == "E3004"
    assert "template variable {serial} is not set" in result.steps[1].message


async def test_a_repeat_gives_up_at_its_deadline(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + ISSUE_FLOW)
    await sim.fault("issue_stuck")
    result = await env.run("issue-flow")
    assert result.status is Status.DOWN
    wait = result.steps[1]
    assert wait.values["attempts"] == 21
    assert "[BODY].result.status == issued failed: actual issuing" in wait.message


async def test_plain_http_flow_masks_the_token_it_extracts(sim: SimHandle, make_env) -> None:
    env = make_env(f"""
checks:
  - name: raw
    kind: flow
    base_url: {sim.url}
    variables: {{key: sim-admin, secret: "{ADMIN_SECRET}"}}
    steps:
      - name: token
        request: {{method: POST, path: /openapi/token, json: {{appKey: "{{key}}", appSecret: "{{secret}}"}}}}
        extract: {{access_token: $.result.accessToken}}
        conditions: ["[STATUS] == 200", "[BODY].code == E0000", "has([BODY].result.accessToken) == true"]
      - name: list
        request:
          path: /openapi/invoices
          params: {{start: "{{since}}", end: "{{now}}"}}
          headers: {{Authorization: "Bearer {{access_token}}"}}
        variables: {{since: "2026-03-01 00:00:00"}}
        conditions: ["[HEADER].content-type == pat(*json*)", "len([BODY].result.list) > 0", "[BODY].result.list[0].invoiceDate != \\"\\""]
""")
    result = await env.run("raw")
    assert result.status is Status.UP, result.message
    assert result.steps[0].values["access_token"] == "***"
    assert ADMIN_SECRET not in repr(result)


async def test_bad_conditions_are_config_errors_with_the_line(tmp_path) -> None:
    text = """checks:
  - name: f
    kind: flow
    base_url: http://127.0.0.1:1
    steps:
      - name: a
        request: {path: /}
        conditions: ["[ROW].x == 1"]
"""
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "c.yaml", text=text)
    assert "c.yaml:8" in str(err.value) and "[ROW]" in str(err.value)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("[{name: a, request: {path: /}, operation: list_invoices}]", "exactly one of request: or operation:"),
        ("[{name: a, operation: list_invoices}]", "operation: steps need platform:"),
        ("[{name: a, request: {path: /}}, {name: a, request: {path: /}}]", "two steps are named 'a'"),
        ("[{name: a, request: {path: /}, extract: {x: '$..[[['}}]", "not a JSONPath"),
    ],
)
async def test_malformed_flows_are_config_errors(tmp_path, steps: str, message: str) -> None:
    text = f"checks:\n  - {{name: f, kind: flow, base_url: 'http://127.0.0.1:1', steps: {steps}}}\n"
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "c.yaml", text=text)
    assert message in str(err.value)
