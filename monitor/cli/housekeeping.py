"""`invoicewatch prune`: what the nightly job does, at once: roll every closed hour and day,
delete what `monitor.result_retention` and `monitor.retention.*` no longer keep, give
SQLite's free pages back (monitor/housekeeping.py, monitor/store/retention.py)."""

from __future__ import annotations

import time

import click

from monitor.cli.app import AppState, cli, pass_app


@cli.command()
@pass_app
def prune(app: AppState) -> None:
    """Roll up closed hours and days, then prune every history table to its retention.
    Safe while the monitor runs (small batches, short transactions)."""
    from monitor.core.clock import SystemClock
    from monitor.housekeeping import prune_now
    from monitor.store import Store
    from monitor.store.retention import database_bytes

    config = app.config
    store = Store(config.monitor.database)
    try:
        store.migrate()
        before = database_bytes(store.engine)
        t0 = time.perf_counter()
        deleted = prune_now(store, config, SystemClock().now())
        took = time.perf_counter() - t0
        after = database_bytes(store.engine)
    finally:
        store.close()
    for name, count in deleted.items():
        click.echo(f"{name:<24} {count:>10}")
    click.echo(f"database {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB in {took:.1f} s")
