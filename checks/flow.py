"""`flow`: ordered HTTP steps; each a request, extraction into variables, and conditions.

    steps:
      - name: submit
        operation: issue                     # a platform operation, or request: {method, path, ...}
        extract: {serial: $.result.serialNo} # JSONPath -> variable, usable as {serial} later
        conditions: ["[BODY].code == E0000", "[RESPONSE_TIME] < 2s"]
      - name: wait
        request: {path: "/openapi/invoices/{serial}"}
        repeat: {every: 2s, within: 1m}      # until the conditions hold
        conditions: ["[BODY].result.status == issued", "[BODY].result.serialNo == [VAR].serial"]
      - name: cancel
        always_run: true                     # runs even after a failure (cleanup)
        request: {method: POST, path: "/openapi/invoices/{serial}/red-flush"}

Every step has `{since}`/`{until}` (the last `window:`, default 1h) besides the usual
`{now}`, `{nonce}`, `{timestamp_s}` ... With `platform:`, requests get that platform's base URL, credentials, signing and envelope;
without, `base_url:` and plain HTTP. A step without conditions passes when the exchange is OK
(HTTP 2xx, and the envelope's code when a platform is used). After a failed step the
remaining steps are skipped, except `always_run` ones. Each step keeps its timing, conditions
and extracted variables; a variable whose name says token/secret/password/cookie/sign (or is
listed under `secret:`) is masked like a config secret.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from checks.base import Context
from checks.conditions import Document, condition_list, evaluate, failure_message, vocabulary
from checks.platform.exchange import Exchange
from checks.platform.jsonpath import JsonPath, find_first
from checks.platform.models import RequestTemplate
from checks.platform.references import PlatformName, PlatformUser, unresolved
from checks.platform.registry import PlatformRegistry, platforms_of
from checks.platform.session import PlatformSession
from checks.platform.specs import window_variables
from checks.platform.steps import Steps, finish
from monitor.core.addresses import WebUrl
from monitor.core.durations import Duration
from monitor.core.errors import CheckError
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec

STEP_VOCABULARY = vocabulary("a flow step", "STATUS", "BODY", "HEADER", "RESPONSE_TIME", "VAR")
StepConditions = condition_list(STEP_VOCABULARY)
SECRET_NAME = re.compile(r"token|secret|passw|cookie|sign|session|ticket", re.IGNORECASE)


class Repeat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    every: Duration = Field(timedelta(seconds=2), description="time between attempts")
    within: Duration = Field(description="give up after")


class FlowStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80)
    request: RequestTemplate | None = None
    operation: str | None = Field(None, description="an operation of the flow's platform instead of request:")
    variables: dict[str, Any] = Field(default_factory=dict, description="more {variables} for this step")
    extract: dict[str, JsonPath] = Field(default_factory=dict, description="variable -> JSONPath in the answer")
    conditions: StepConditions = Field(default_factory=list)  # type: ignore[valid-type]
    always_run: bool = Field(False, description="run even after an earlier step failed (cleanup)")
    repeat: Repeat | None = Field(None, description="retry until the conditions hold")
    secret: list[str] = Field(default_factory=list, description="extracted variables to mask in output")

    @model_validator(mode="after")
    def _one_request(self) -> FlowStep:
        if (self.request is None) == (self.operation is None):
            raise ValueError("a step needs exactly one of request: or operation:")
        return self


class Spec(CheckSpec):
    kind: Literal["flow"]
    platform: PlatformName | None = Field(None, description="use this platform's base URL, auth, signing and envelope")
    user: PlatformUser = Field(None, description="as this entry of the platform's users:")
    base_url: WebUrl | None = Field(None, description="for flows without a platform")
    variables: dict[str, Any] = Field(default_factory=dict, description="{variables} for every step")
    window: Duration = Field(timedelta(hours=1), description="{since} is this long before {until} (now)")
    steps: list[FlowStep] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _where(self) -> Spec:
        relative = any(s.request is None or not s.request.path.startswith(("http://", "https://")) for s in self.steps)
        if self.platform is None and self.base_url is None and relative:
            raise ValueError("give platform: or base_url: (or full URLs in every step's request.path)")
        if self.platform is None and any(s.operation for s in self.steps):
            raise ValueError("operation: steps need platform:")
        if self.platform is None and self.user is not None:
            raise ValueError("user: needs platform: (it names an entry of that platform's users:)")
        names = [s.name for s in self.steps]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ValueError(f"two steps are named {dup!r}")
        return self

    @model_validator(mode="after")
    def _known_operations(self, info: ValidationInfo) -> Spec:
        found = unresolved(info, self.platform)
        if found is not None:
            for j, step in enumerate(self.steps):
                if step.operation is not None:
                    found.operation(("steps", j, "operation"), step.operation)
            found.raise_if("flow")
        return self


async def run(spec: Spec, ctx: Context) -> Result:
    registry = platforms_of(ctx, spec)
    session = (
        registry.session(spec.platform, spec.user) if spec.platform
        else registry.adhoc(spec.base_url or "http://127.0.0.1")
    )
    result = Result(spec.name, Status.UP, ctx.clock.now())
    steps = Steps()
    variables: dict[str, Any] = {**window_variables(ctx.clock.now(), spec.window), **spec.variables}
    failed = False
    skipped: list[str] = []
    total_ms = 0.0
    for step in spec.steps:
        if failed and not step.always_run:
            skipped.append(step.name)
            continue
        ok, ms = await _run_step(step, session, registry, variables, steps)
        total_ms += ms
        failed = failed or not ok
    result.latency_ms = round(total_ms, 1)
    if skipped:
        result.values["skipped"] = skipped
    return finish(result, steps, message_ok=f"{len(steps.steps)} steps passed")


async def _run_step(step: FlowStep, session: PlatformSession, registry: PlatformRegistry, variables: dict[str, Any], steps: Steps) -> tuple[bool, float]:
    what: Any = step.operation if step.operation else step.request
    clock = registry.clock
    attempts = 0
    limit = 1
    t_end = clock.monotonic()
    if step.repeat is not None:
        limit = int(step.repeat.within.total_seconds() / max(step.repeat.every.total_seconds(), 0.001)) + 1
        t_end += step.repeat.within.total_seconds()
    while True:
        attempts += 1
        try:
            ex = await session.call(what, {**variables, **step.variables})
        except (KeyError, CheckError) as exc:  # an operation the profile lacks, a variable nobody set
            steps.add(step.name, Status.DOWN, str(exc).strip("\"'"))
            return False, 0.0
        ok, conditions = _judge(step, ex, variables)
        if ok or attempts >= limit or clock.monotonic() >= t_end:
            break
        await registry.sleep(step.repeat.every.total_seconds())  # type: ignore[union-attr]
    # The operation's own `extract:` (e.g. serial of issue) counts as if the step had it.
    extracted = {k: v for k, v in ex.extracted.items() if not k.startswith("_")}
    if ex.doc is not None:
        extracted.update({name: find_first(path, ex.doc) for name, path in step.extract.items()})
    _mask_secrets(step, extracted, registry)
    # Nothing found stays unset, so a later step using it says so instead of sending "".
    variables.update({k: v for k, v in extracted.items() if v is not None})
    values: dict[str, Any] = {**extracted}
    if attempts > 1:
        values["attempts"] = attempts
    message = ex.describe() if ok or not conditions else failure_message(conditions)
    if not ok and not conditions:
        message = ex.describe()
    s = steps.exchange(step.name, ex, status=Status.UP if ok else Status.DOWN, message=message, values=values)
    s.conditions = conditions
    return ok, ex.latency_ms


def _judge(step: FlowStep, ex: Exchange, variables: dict[str, Any]) -> tuple[bool, list[Any]]:
    if ex.http_status is None or ex.token_failed:
        # No answer to this step's own request (no connection, or no token to send it with):
        # nothing to judge conditions on; the exchange's own error says what happened.
        return False, []
    if not step.conditions:
        return ex.ok, []
    values = {
        "STATUS": ex.http_status,
        "BODY": Document(ex.raw),
        "HEADER": ex.headers if ex.headers is not None else {},
        "RESPONSE_TIME": ex.latency_ms,
        "VAR": {**variables, **{k: v for k, v in ex.extracted.items() if not k.startswith("_")}},
    }
    results = evaluate(step.conditions, values)
    return all(r.ok for r in results), results


def _mask_secrets(step: FlowStep, extracted: dict[str, Any], registry: PlatformRegistry) -> None:
    for name, value in extracted.items():
        if isinstance(value, str) and (name in step.secret or SECRET_NAME.search(name)):
            registry.redactor.add(value)
