"""Turning exchanges into StepResults, so every invoice check reports evidence the same way.
Each step is told to whoever watches the run (checks.base.Progress) as it is recorded."""

from __future__ import annotations

from typing import Any

from checks.base import watching
from checks.platform.exchange import Exchange
from monitor.core.results import Result, Status, StepResult, worst


class Steps:
    """Collects the steps of one run and the worst status among them."""

    def __init__(self) -> None:
        self.steps: list[StepResult] = []

    def exchange(
        self,
        name: str,
        ex: Exchange,
        *,
        status: Status | None = None,
        message: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> StepResult:
        step = StepResult(
            name=name,
            status=status if status is not None else (Status.UP if ex.ok else Status.DOWN),
            latency_ms=round(ex.latency_ms, 1),
            message=message if message is not None else ex.describe(named=name != ex.operation),
            values={**ex.evidence(), **(values or {})},
        )
        return self._record(step)

    def pages(self, operation: str, exchanges: list[Exchange]) -> float:
        """Record each page of a list operation as a step; return the operation's own time in ms.

        Time spent failing to get a token is not the operation's: it is left out of the sum
        (the token step says what went wrong)."""
        for i, ex in enumerate(exchanges):
            self.exchange(f"page {i + 1}" if len(exchanges) > 1 else operation, ex)
        return round(sum(ex.latency_ms for ex in exchanges if not ex.token_failed), 1)

    def add(self, name: str, status: Status, message: str = "", *, latency_ms: float | None = None, values: dict[str, Any] | None = None) -> StepResult:
        step = StepResult(name=name, status=status, latency_ms=latency_ms, message=message, values=dict(values or {}))
        return self._record(step)

    def _record(self, step: StepResult) -> StepResult:
        self.steps.append(step)
        watcher = watching()
        if watcher is not None:
            watcher.step(step)
        return step

    @property
    def status(self) -> Status:
        return worst(*(s.status for s in self.steps))

    def first_failure(self) -> StepResult | None:
        """The first step with the worst status: what the headline message should name."""
        worst_status = self.status
        if worst_status is Status.UP:
            return None
        return next(s for s in self.steps if s.status is worst_status)


def failure_values(ex: Exchange) -> dict[str, Any]:
    """The evidence keys the incident and alert templates read (CONTRACTS: envelope, http status)."""
    out = {k: v for k, v in ex.evidence().items() if k in ("http_status", "envelope_code", "envelope_message")}
    out["step"] = ex.operation
    return out


def finish(result: Result, steps: Steps, *, message_ok: str) -> Result:
    """Set status and message from the steps: the first failing step names the problem."""
    result.steps = steps.steps
    result.status = worst(result.status, steps.status)
    bad = steps.first_failure()
    if bad is not None:
        result.message = result.message or f"{bad.name}: {bad.message}"
        result.values.setdefault("step", bad.name)
        result.values.setdefault("http_status", bad.values.get("http_status"))
        if result.values["http_status"] is None:
            del result.values["http_status"]
        # Code and message travel as one: never one step's code beside another's message.
        if "envelope_code" not in result.values and "envelope_message" not in result.values:
            for key in ("envelope_code", "envelope_message"):
                if key in bad.values:
                    result.values[key] = bad.values[key]
    else:
        result.message = result.message or message_ok
    return result
