"""The `invoicewatch` command line.

Each capability adds its commands in its own module under monitor/cli/ and one import line in
`_COMMAND_MODULES`; this file holds the group, config loading and the foundation commands.
Exit codes: 0 fine, 1 the thing asked about is down / failed, 2 bad config or usage.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from typing import Any

import click

from monitor.config import Config, load_config
from monitor.config import dump_schema as _dump_schema
from monitor.core import __version__
from monitor.core.errors import ConfigError

DEFAULT_CONFIG = "config.yaml"


def resolve_config_path(given: str | None) -> str:
    if given:
        return given
    env = os.environ.get("INVOICEWATCH_CONFIG")
    if env:
        return env
    return DEFAULT_CONFIG


def load_or_exit(path: str) -> Config:
    """Load the config or print every problem (one per line) and exit 2."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        n = len(exc.problems)
        click.echo(f"{n} problem{'s' if n != 1 else ''} in {path}", err=True)
        sys.exit(2)


class AppState:
    def __init__(self, config_path: str) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_or_exit(self.config_path)
        return self._config


pass_app = click.make_pass_decorator(AppState)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "-c", "--config", "config_path", metavar="FILE",
    help=f"config file (default: $INVOICEWATCH_CONFIG or ./{DEFAULT_CONFIG})",
)
@click.version_option(__version__, prog_name="invoicewatch")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """invoicewatch: health monitor and outage alerter for an e-invoice platform."""
    ctx.obj = AppState(resolve_config_path(config_path))


@cli.command()
@click.option("--log-level", default="INFO", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@pass_app
def run(app: AppState, log_level: str) -> None:
    """Run the monitor: probe on schedule, record, evaluate, alert, serve the status page.

    SIGTERM/SIGINT stop cleanly (running probes finish, pending writes are flushed);
    SIGHUP reloads the config, keeping the running one if the new file is bad.
    """
    from monitor import logs
    from monitor.core.secrets import Redactor
    from monitor.runtime import Monitor

    config = app.config
    logs.configure(log_level, Redactor(config.secrets))
    monitor = Monitor(config)
    logs.configure(log_level, monitor.redactor)
    asyncio.run(monitor.run_until_stopped())


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@pass_app
def validate(app: AppState, files: tuple[str, ...]) -> None:
    """Check config FILES (default: the --config file). Prints every problem as
    FILE:LINE:COL: key.path: what is wrong. Exit 0 valid, 1 invalid."""
    bad = 0
    for path in files or (app.config_path,):
        try:
            config = load_config(path)
        except ConfigError as exc:
            bad += 1
            for problem in exc.problems:
                click.echo(str(problem))
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
    from monitor.checkrun import run_one

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
        from monitor.checkrun import result_json

        click.echo(json.dumps(result_json(result), ensure_ascii=False, indent=2, default=str))
    else:
        from monitor.checkrun import format_result

        click.echo(format_result(result))
    sys.exit(1 if result.status == "down" else 0)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@pass_app
def status(app: AppState, as_json: bool) -> None:
    """A table of every check's last status, latency and age, read from the store."""
    from monitor.checkrun import status_rows
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


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[str(r.get(c, "") if r.get(c) is not None else "") for c in columns] for r in rows]
    widths = [max([_width(c)] + [_width(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(_pad(c.upper(), widths[i]) for i, c in enumerate(columns)).rstrip()]
    for row in cells:
        lines.append("  ".join(_pad(v, widths[i]) for i, v in enumerate(row)).rstrip())
    return "\n".join(lines)


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


# Command modules of later capabilities; each defines click commands on `cli`.
_COMMAND_MODULES: list[str] = [
    "monitor.cli.incidents",
    "monitor.cli.notify",
    "monitor.cli.statuspage",
    "monitor.cli.simulate",
]
for _name in _COMMAND_MODULES:
    importlib.import_module(_name)


def main(argv: list[str] | None = None) -> None:
    """The console script. Our own errors (a database that cannot be opened or migrated, a
    check that cannot be set up) end in one line on stderr, not a traceback: exit 2 for a
    config problem, 1 for anything else."""
    from monitor.core.errors import InvoicewatchError

    try:
        cli.main(args=argv, prog_name="invoicewatch")
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(2)
    except InvoicewatchError as exc:
        click.echo(f"invoicewatch: {exc}", err=True)
        sys.exit(1)


__all__ = ["AppState", "cli", "load_or_exit", "main", "pass_app", "table"]
