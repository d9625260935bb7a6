"""The exceptions invoicewatch raises, as one small tree.

    InvoicewatchError            base of everything we raise on purpose
    ├── ConfigError              a config file cannot be used; carries every problem found
    │                            (each a ConfigProblem: file, line, column, key path, message)
    ├── StoreError               the database cannot be reached, migrated or written
    └── CheckError               a check could not be *set up* (bad spec at run time);
                                 a check that runs and finds the target broken does not
                                 raise, it returns a Result with status down.

Probes never raise past `checks.run_check`: every failure of the target becomes evidence
in a Result. Exceptions are for our own mistakes and the admin's.
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


class CheckError(InvoicewatchError):
    """A check cannot be set up at run time (not: the target is down)."""
