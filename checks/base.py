"""What a check kind runs in: the `Context`, and the contract of a kind module.

A check kind is one module in `checks/` exporting

    class Spec(CheckSpec):            # pydantic model, `kind: Literal["<kind>"]`
        ...
    async def run(spec: Spec, ctx: Context) -> Result
    def prepare(spec: Spec, ctx: Context) -> None   # optional: per-spec work, done once
                                                    # by the scheduler before the first slot

and one line in `checks/__init__.py`'s KINDS. `CheckSpec` and `Result` are the core
vocabulary (`monitor.core`). A check knows nothing of storage, alerting or the status page.
It never raises because the *target* is broken: that is a Result with status down and the
evidence (conditions, steps, message). It may raise CheckError for its own setup.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

# When the current check run started (time.perf_counter()), set by run_check: budgets inside
# a run (checks/platform/session.py set_budget) count from the start of the run, not from
# when the kind got round to asking, so work before the first request cannot push the kind's
# own deadline past run_check's hard timeout.
RUN_STARTED: ContextVar[float | None] = ContextVar("check_run_started", default=None)

if TYPE_CHECKING:
    from checks.client import HttpClientFactory
    from monitor.core.clock import Clock
    from monitor.core.results import StepResult
    from monitor.core.secrets import Redactor


class Progress(Protocol):
    """Someone watching one run as it happens (`invoicewatch check` shows each request and
    step live). The monitor runs without one. Calls must be cheap and must not raise."""

    def request(self, method: str, url: str) -> None:
        """A request is about to be sent (the URL with secrets already masked)."""

    def step(self, step: StepResult) -> None:
        """A step has finished."""


@dataclass
class Context:
    """Everything a check may touch. Nothing else: no store, no config file, no global state."""

    clock: Clock
    http: HttpClientFactory
    redactor: Redactor
    location: str = ""
    # Shared services, keyed by name, put here by the composition root (monitor.runtime
    # make_context): "platforms" (sessions, token caches), "sql" (checks.sql.SqlEngines),
    # "canaries" (a checks.platform.ledger.CanaryLedger). A check looks up only what its
    # kind documents; none of them is reached by importing the store.
    services: dict[str, Any] = field(default_factory=dict)
    progress: Progress | None = None  # see Progress; run_check makes it `watching()` for the run


# The Progress of the check running in this task: code deep in a run (the platform session,
# the step collector) reports to it without being handed the Context. run_check sets it.
_WATCHING: ContextVar[Progress | None] = ContextVar("invoicewatch_progress", default=None)


def watching() -> Progress | None:
    return _WATCHING.get()


@contextmanager
def watched_by(progress: Progress | None) -> Iterator[None]:
    token = _WATCHING.set(progress)
    try:
        yield
    finally:
        _WATCHING.reset(token)
