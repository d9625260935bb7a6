"""Deciding beyond one check: components, incidents, maintenance, silences, SLOs.

Public API (CONTRACTS.md), re-exported lazily so importing the config section models stays
light:

    active_maintenance(session, now) -> list[Occurrence]
    planned_maintenance(session, now, horizon) -> list[Occurrence]
    open_incidents(session) -> list[Incident]

Import order matters once: monitor.config.models imports monitor.incidents.config (the
section models), which subclasses monitor.config.models.Strict. Importing monitor.config
first here makes either entry point work.
"""

from __future__ import annotations

from typing import Any

import monitor.config  # noqa: F401  (see the docstring: import order)

_API = {
    "active_maintenance": "monitor.incidents.maintenance",
    "planned_maintenance": "monitor.incidents.maintenance",
    "Occurrence": "monitor.incidents.maintenance",
    "open_incidents": "monitor.incidents.ledger",
    "Incident": "monitor.incidents.tables",
    "IncidentUpdate": "monitor.incidents.tables",
}


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = sorted(_API)
