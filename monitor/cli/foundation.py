"""The foundation commands: run, validate, schema, check, status."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from monitor.cli.app import AppState, cli, echo_problem, pass_app, table
from monitor.config import dump_schema as _dump_schema
from monitor.config import load_config
from monitor.core.errors import ConfigError


@cli.command()
@click.option("--log-level", default="INFO", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@click.option("--log-format", default="text", show_default=True, type=click.Choice(["text", "json"]),
              help="text: one readable line per event; json: one object per line (ts, level, logger, event, fields)")
@pass_app
def run(app: AppState, log_level: str, log_format: str) -> None:
    """Run the monitor: probe on schedule, record, evaluate, alert, serve the status page.

    SIGTERM/SIGINT stop cleanly (running probes finish, pending writes are flushed);
    SIGHUP reloads the config, keeping the running one if the new file is bad. Under
    systemd (Type=notify) it reports READY/RELOADING/STOPPING and feeds the watchdog.
    """
    from monitor import logs
    from monitor.core.secrets import Redactor
    from monitor.runtime import Monitor

    config = app.config
    logs.configure(log_level, Redactor(config.secrets), log_format)
    monitor = Monitor(config)
    logs.configure(log_level, monitor.redactor, log_format)
    asyncio.run(monitor.run_until_stopped())


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@pass_app
def validate(app: AppState, files: tuple[str, ...]) -> None:
    """Check config FILES (default: the --config file). Prints every problem as
    FILE:LINE:COL: key.path: what is wrong (a YAML syntax error with its line and a caret).
    Exit 0 valid, 1 invalid."""
    bad = 0
    for path in files or (app.config_path,):
        try:
            config = load_config(path)
        except ConfigError as exc:
            bad += 1
            for problem in exc.problems:
                echo_problem(problem)
            continue
        except Exception as exc:  # a bug of ours: still one located line, never a traceback
            bad += 1
            click.echo(f"{path}:1:1: could not be validated ({type(exc).__name__}: {exc}); please report this")
            continue
        click.echo(f"{path}: ok ({len(config.checks)} checks, {len(config.components)} components)")
    sys.exit(1 if bad else 0)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the config file (for editors and yaml-language-server)."""
    click.echo(_dump_schema())


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@pass_app
def check(app: AppState, name: str, as_json: bool) -> None:
    """Run check NAME once, now, and print each step, phase timing and condition.

    Exit 0 up or degraded, 1 down, 2 config error or unknown check."""
    from monitor.runtime import run_one

    config = app.config
    try:
        spec = config.check(name)
    except KeyError:
        import difflib

        names = [c.name for c in config.checks]
        hint = difflib.get_close_matches(name, names, n=1)
        click.echo(f"{config.file}: no check named {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""), err=True)
        sys.exit(2)
    result = asyncio.run(run_one(config, spec))
    if as_json:
        from monitor.cli.show import result_json

        click.echo(json.dumps(result_json(result), ensure_ascii=False, indent=2, default=str))
    else:
        from monitor.cli.show import format_result

        click.echo(format_result(result))
    sys.exit(1 if result.status == "down" else 0)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@pass_app
def status(app: AppState, as_json: bool) -> None:
    """A table of every check's last status, latency and age, read from the store."""
    from monitor.cli.show import status_rows
    from monitor.store import Store

    config = app.config
    store = Store(config.monitor.database)
    try:
        store.migrate()
        rows = status_rows(config, store)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    click.echo(table(rows, ["check", "kind", "component", "location", "status", "latency", "age", "message"]))
