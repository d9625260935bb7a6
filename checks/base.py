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

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

# When the current check run started (time.perf_counter()), set by run_check: budgets inside
# a run (checks/platform/session.py set_budget) count from the start of the run, not from
# when the kind got round to asking, so work before the first request cannot push the kind's
# own deadline past run_check's hard timeout.
RUN_STARTED: ContextVar[float | None] = ContextVar("check_run_started", default=None)

if TYPE_CHECKING:
    from checks.client import HttpClientFactory
    from monitor.core.clock import Clock
    from monitor.core.secrets import Redactor


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
