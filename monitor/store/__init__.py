"""The store: every table and every query of invoicewatch, over SQLite (default) or PostgreSQL
(by URL). Stands on monitor.core alone; the parts that decide, tell and show call it with a
session (or the Store) and plain values, and keep their transactions where they decide.

    database       Store: engine, sessions, migrate(), the result-store interface
    writer         ResultWriter: batched, retried result writes from memory
    results        check_result, check_state: write batch, latest-state upsert, prune,
                   queries, the deciding service's state columns, other locations' results
    incidents      incident, incident_update, component_status, component_status_change
    outbox         outbox, delivery_attempt: idempotent insert, compare-and-set claim, attempts
    maintenance    maintenance_window, silence
    slo            slo_status
    announcements  announcement
    canaries       platform_canary and SqlCanaryLedger (what checks get as ctx.services["canaries"])
    pages          what the status page, /internal/ and /metrics read (read-only, across the
                   tables above)
    readout        what the read-only commands read, through SQLAlchemy Core alone (no ORM)
    schema         every table in one MetaData; migrate: the one Alembic chain and the adoption
                   of first-release databases; engine: engine settings and shared SQL helpers
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.store.database import Store
    from monitor.store.schema import metadata
    from monitor.store.writer import ResultWriter

__all__ = ["ResultWriter", "Store", "metadata"]


def __getattr__(name: str) -> Any:
    """`Store`, `ResultWriter` and `metadata` are imported when first asked for (PEP 562), not
    with the package: importing them builds every ORM class, which a read-only command
    reading through monitor.store.readout never needs (tests/foundation allows exactly this
    import inside a function: a package's own modules, in its `__getattr__`)."""
    value: Any
    if name == "Store":
        from monitor.store.database import Store as value
    elif name == "ResultWriter":
        from monitor.store.writer import ResultWriter as value
    elif name == "metadata":
        from monitor.store.schema import metadata as value
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # asked once
    return value
