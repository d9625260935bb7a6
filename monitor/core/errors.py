"""The exceptions invoicewatch raises, as one small tree.

    InvoicewatchError            base of everything we raise on purpose
    ├── ConfigError              a config file cannot be used; carries every problem found
    │                            (each a ConfigProblem: file, line, column, key path, message)
    ├── ConditionSyntaxError     a condition's text cannot be parsed (also a ValueError, so the
    │                            config models report it at the condition's position)
    ├── ListenError              a part of the monitor cannot listen where the config says
    │                            (the simulator's port is taken)
    ├── StoreError               the database cannot be reached, migrated or written
    │   └── Deposed              a write that only the elected controller may make, refused:
    │                            this node is not (or no longer) the leader (fencing)
    ├── CheckError               a check could not be *set up* (bad spec at run time)
    │   └── MissingVariable      a request template names a variable nothing provided
    │                            (checks/platform/templating.py)
    ├── ProbeFailure             a failure of the target, already put into words; the kind
    │                            turns it into a down Result's message
    ├── BodyTooLarge             a response body passed its cap; the probe keeps what it read
    ├── TokenUnavailable         no platform token could be had (refused, quota, endpoint
    │                            down, still backing off); carries the evidence
    └── ManualError              an action by hand cannot be done (unknown incident, already
                                 resolved, bad status; also a ValueError)

Probes never raise past `checks.run_check`: every failure of the target becomes evidence
in a Result (ProbeFailure, BodyTooLarge and TokenUnavailable are caught inside the kinds).
Exceptions are for our own mistakes and the admin's.
"""

from __future__ import annotations

from dataclasses import dataclass


class InvoicewatchError(Exception):
    """Base of every exception invoicewatch raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config file, located as precisely as we can."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"


class ConfigError(InvoicewatchError):
    """A config file cannot be used. `problems` lists every problem found, not just the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StoreError(InvoicewatchError):
    """The database cannot be reached, migrated or written."""


class ListenError(InvoicewatchError):
    """A part of the monitor could not listen where the config says (the port is taken)."""


class Deposed(StoreError):
    """This node is not (or no longer) the elected controller; its write was refused."""


class CheckError(InvoicewatchError):
    """A check cannot be set up at run time (not: the target is down)."""


class ConditionSyntaxError(InvoicewatchError, ValueError):
    """A condition that cannot be parsed; the message names the column."""


class ProbeFailure(InvoicewatchError):
    """A failure of the target, already put into words (becomes a down Result's message)."""


class BodyTooLarge(InvoicewatchError):
    """The response body passed the configured cap; the probe keeps what it read."""


class TokenUnavailable(InvoicewatchError):
    """No token could be had (refused, quota, endpoint down, or still backing off)."""

    def __init__(self, message: str, evidence: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.evidence = evidence or {}


class ManualError(InvoicewatchError, ValueError):
    """The action cannot be done (unknown incident, already resolved, bad status)."""
