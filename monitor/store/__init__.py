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
    schema         every table in one MetaData; migrate: the one Alembic chain and the adoption
                   of first-release databases; engine: engine settings and shared SQL helpers
"""

from __future__ import annotations

from monitor.store.database import Store
from monitor.store.schema import metadata
from monitor.store.writer import ResultWriter

__all__ = ["ResultWriter", "Store", "metadata"]
