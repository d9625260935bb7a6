"""The `invoicewatch` command line: the group (monitor/cli/app.py) and one module per family
of commands, each imported here so it registers its commands on the group.

    foundation   run, validate, schema, check, status
    incidents    incidents, incident update, ack, maintenance, silence(s)
    notify       channels, outbox, announce
    statuspage   render
    simulate     the bundled invoice-platform simulator
    canaries     canary invoices still open, and why
    platform     platform try: fit a profile to the real platform

Command bodies import what only they need inside the function, so `invoicewatch --help` and
the read-only commands start without loading the probing and delivery stack.
"""

from __future__ import annotations

import sys

import click

from monitor.cli import canaries, foundation, incidents, notify, platform, simulate, statuspage
from monitor.cli.app import cli, echo_problem
from monitor.core.errors import ConfigError

COMMAND_MODULES = (foundation, incidents, notify, statuspage, simulate, canaries, platform)

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """The console script. Our own errors (a database that cannot be opened or migrated, a
    check that cannot be set up) end in one line on stderr, not a traceback: exit 2 for a
    config problem, 1 for anything else."""
    from monitor.core.errors import InvoicewatchError

    try:
        cli.main(args=argv, prog_name="invoicewatch")
    except ConfigError as exc:
        for problem in exc.problems:
            echo_problem(problem, err=True)
        sys.exit(2)
    except InvoicewatchError as exc:
        click.echo(f"invoicewatch: {exc}", err=True)
        sys.exit(1)


__all__ = ["AppState", "cli", "load_or_exit", "main", "pass_app", "table"]
