"""The `invoicewatch` command line: the group (monitor/cli/app.py), the shared output pieces
(monitor/cli/output.py: tables, colours, JSON, errors) and one module per family of commands,
each imported when one of its commands is asked for (app.COMMANDS), registering its commands
on the group then.

    foundation   run, validate, schema, check
    status       status
    incidents    incidents, incident update, ack, maintenance, silence(s)
    notify       channels, outbox, announce
    statuspage   render
    report       report (per component over a period, from the rollups)
    housekeeping prune (retention and rollups, at once)
    demo         demo (the whole story in five minutes)
    simulate     the bundled invoice-platform simulator
    canaries     canary invoices still open, and why
    platform     platform try: fit a profile to the real platform
    warm         the warm command server's program (monitor/warm.py: while a monitor runs,
                 commands on its config file are answered by a fork that has imported all)

Command modules import only click, rich and monitor.cli at the top; each command imports what
it alone needs inside its body (saying so), so `invoicewatch --help` and every command start
without the parts they do not use (bench/cli_start.py measures it).
"""

from __future__ import annotations

import gc
import sys
from typing import TYPE_CHECKING, Any

# httpx 0.28 imports its own command-line client (httpx._main: click, rich's syntax and
# progress, pygments; ~0.05 s of CPU) on every `import httpx`, and falls back to a stub `main`
# when that import fails. invoicewatch never runs httpx's client, so its commands skip it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

if TYPE_CHECKING:
    from monitor.cli.app import cli, echo_problem

__all__ = ["cli", "echo_problem", "main", "run_cold"]


def __getattr__(name: str) -> Any:
    """`cli` and `echo_problem` from monitor.cli.app, imported when first asked for: `main`
    asks a warm server (monitor/warm.py) before click and rich are imported."""
    if name in ("cli", "echo_problem"):
        from monitor.cli import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> None:
    """The console script: the command on the monitor's warm server when one runs for this
    config file (the same output and exit code, in a fraction of the time), else here."""
    from monitor import warm

    args = sys.argv[1:] if argv is None else list(argv)
    code = warm.ask(args)
    if code is not None:
        sys.exit(code)
    run_cold(args)


def run_cold(argv: list[str] | None = None) -> None:
    """The command in this process. Our own errors (a database that cannot be opened or
    migrated, a check that cannot be set up) end in one line on stderr, not a traceback:
    exit 2 for a config problem, 1 for anything else.

    The cyclic collector is off while the command imports its modules and loads the config
    (hundreds of thousands of objects, none in a cycle; its passes cost a fifth of start-up);
    AppState turns it back on, with what start-up built frozen, once the config is loaded."""
    from monitor.cli.app import cli, echo_problem
    from monitor.cli.output import console
    from monitor.core.errors import ConfigError, InvoicewatchError

    gc.disable()
    try:
        cli.main(args=argv, prog_name="invoicewatch")
    except ConfigError as exc:
        for problem in exc.problems:
            echo_problem(problem, err=True)
        sys.exit(2)
    except InvoicewatchError as exc:
        console(err=True).print(f"invoicewatch: {exc}")
        sys.exit(1)
    finally:
        gc.enable()
