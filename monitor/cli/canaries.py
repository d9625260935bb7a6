"""`invoicewatch canaries`: the canary invoices still open on the platforms, and why.

A canary is a real tax document until it is voided or red-flushed; the ledger keeps every one
until then. This lists the open rows of every configured platform (or one, `--platform`)
with the reason in words (`checks.platform.sweep.outstanding`): a submit still being settled
by order number, a canary not final yet, a cancel that failed and when it is retried.
Exit 0 when none is open, 1 when some are (so a cron job can page on it).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click

from monitor.cli.app import AppState, cli, pass_app, table


@cli.command()
@click.option("--platform", "only", metavar="NAME", help="only this platform")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@pass_app
def canaries(app: AppState, only: str | None, as_json: bool) -> None:
    """Canary invoices still open (not yet voided or red-flushed), and why. Exit 1 when any."""
    config = app.config
    names = sorted(config.platforms)
    if only is not None:
        if only not in config.platforms:
            click.echo(f"{config.file}: no platform named {only!r} (platforms: {', '.join(names) or 'none'})", err=True)
            sys.exit(2)
        names = [only]
    rows = asyncio.run(_open_rows(config.monitor.database, names))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
    elif rows:
        click.echo(table(rows, ["platform", "check", "order_no", "serial", "state", "age", "why"]))
    else:
        click.echo(f"no canary outstanding on {', '.join(names) or 'any platform'}")
    sys.exit(1 if rows else 0)


async def _open_rows(database: str, platforms: list[str]) -> list[dict[str, Any]]:
    # Loaded here, not at import: `invoicewatch --help` must not pull in the probing stack.
    from checks.platform.sweep import outstanding
    from monitor.core.clock import SystemClock
    from monitor.store.canaries import SqlCanaryLedger

    ledger = SqlCanaryLedger(database)
    now = SystemClock().now()
    out: list[dict[str, Any]] = []
    try:
        for platform in platforms:
            for row in await ledger.unfinished(platform):
                out.append({
                    "platform": platform, "check": row.check, "order_no": row.order_no, "serial": row.serial or "",
                    "state": row.state, "created_at": row.created_at,
                    "age": f"{(now - row.created_at).total_seconds() / 60:.0f}m", "attempts": row.attempts,
                    "why": outstanding(row, now),
                })  # fmt: skip
    finally:
        await ledger.close()
    return out
