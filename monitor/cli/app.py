"""The `invoicewatch` command group and what every command module shares: finding and loading
the config (`AppState`, `pass_app`), opening the database for reading or writing, and the
errors that say what to do next when either is missing.

Exit codes: 0 fine, 1 the thing asked about is down / failed, 2 bad config or usage, or
nothing to read yet (no config file, no database).

Imports here stay light (click, rich): the config models, the store and everything below
them are imported by the command that needs them (each such import says so), so `--help`
answers at once and a command loads only its own part.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from monitor.cli.output import CliError, console, table
from monitor.core import __version__
from monitor.warm import CONFIG_ENV, DEFAULT_CONFIG, resolve_config_path

if TYPE_CHECKING:
    import sqlalchemy as sa

    from monitor.config import Config
    from monitor.core.errors import ConfigProblem
    from monitor.store import Store

EXAMPLE_CONFIG = "config.example.yaml"
DEMO_FOLDER = "var/demo"  # where `invoicewatch demo` keeps its own database and page (--folder)

__all__ = ["AppState", "CliError", "cli", "echo_problem", "load_or_exit", "pass_app", "resolve_config_path", "table"]


def _source(given: str | None) -> str:
    """How the config file was named: "option", "env" or "default"."""
    return "option" if given else "env" if os.environ.get(CONFIG_ENV) else "default"


def command_line(config: str | None = None) -> str:
    """The command being run, as the user would type it again (with `-c FILE` when given)."""
    ctx = click.get_current_context(silent=True)
    words = ctx.command_path.split() if ctx is not None else ["invoicewatch"]
    return " ".join(["invoicewatch", *(["-c", config] if config else []), *words[1:]])


def echo_problem(problem: ConfigProblem, *, err: bool = False) -> None:
    """One problem on one line (`FILE:LINE:COL: key.path: what is wrong`); a YAML syntax
    error also shows its line with a caret under the column."""
    from monitor.config.syntax import excerpt  # lazy: CLI start time (the config stack)

    out = console(err=err)
    text = str(problem)
    where, sep, what = text.partition(": ")
    out.print(Text(where + sep, style="bold") + Text(what), soft_wrap=not out.is_terminal)
    shown = excerpt(problem)
    if shown:
        source, caret = shown.split("\n", 1)
        out.print(Text(source), soft_wrap=True)
        out.print(Text(caret, style="bold red"), soft_wrap=True)


def load_or_exit(path: str, *, allow_unset: bool = False, named: str = "default") -> Config:
    """Load the config, or say what is wrong and exit 2: a file that is not there (with every
    way of naming one), or each problem on its own line."""
    from monitor.config import load_config  # lazy: CLI start time (the config stack)
    from monitor.core.errors import ConfigError

    if not os.path.exists(path):
        raise _no_config(path, named)
    try:
        config = load_config(path, allow_unset=allow_unset)
    except ConfigError as exc:
        for problem in exc.problems:
            echo_problem(problem, err=True)
        n = len(exc.problems)
        console(err=True).print(f"{n} problem{'s' if n != 1 else ''} in {path}", soft_wrap=True)
        sys.exit(2)
    # What start-up built (modules, the config) lives until exit: out of the collector's
    # sight from here on, and the collector back on for the command's own work.
    gc.freeze()
    gc.enable()
    return config


def _no_config(path: str, named: str) -> CliError:
    if named == "option":
        return CliError(f"no config file: {path} does not exist (given with -c)", "check the path, or leave -c out to use "
                        f"${CONFIG_ENV} or ./{DEFAULT_CONFIG}")
    if named == "env":
        return CliError(f"no config file: {CONFIG_ENV} names {path}, which does not exist",
                        f"fix {CONFIG_ENV}, or name the file with -c FILE ({command_line('FILE')})")
    example = EXAMPLE_CONFIG if os.path.exists(EXAMPLE_CONFIG) else None
    return CliError(
        f"no config file: there is no ./{DEFAULT_CONFIG} in {Path.cwd()}",
        f"name one with -c FILE: {command_line('FILE')}",
        f"or once for this shell: export {CONFIG_ENV}=FILE",
        f"to try invoicewatch, use the annotated example that runs as-is: {command_line(example)}"
        if example else f"to try invoicewatch, use {EXAMPLE_CONFIG} from the source tree (annotated, runs as-is)",
    )


class AppState:
    """What the group hands every command: where the config is, loaded once when first asked."""

    def __init__(self, config_path: str, named: str = "default") -> None:
        self.config_path = config_path
        self.named = named
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        """The whole config, every `${ENV}` secret set (commands that probe or send)."""
        if self._config is None or self._config.unset:
            self._config = load_or_exit(self.config_path, named=self.named)
        return self._config

    @property
    def read_config(self) -> Config:
        """The config for a command that only reads the database: a secret it does not use
        may be unset (see monitor.config, allow_unset)."""
        if self._config is None:
            self._config = load_or_exit(self.config_path, allow_unset=True, named=self.named)
        return self._config

    def reader(self) -> Store:
        """The store for reading: never created or migrated here. A database that does not
        exist yet is an error that says how it comes to be."""
        from monitor.store import Store  # lazy: CLI start time (SQLAlchemy, the ORM)

        return Store(self._existing_database())

    @contextlib.contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        """One connection (one transaction) to read the database through SQLAlchemy Core
        (monitor.store.readout), without the ORM the Store brings: what `status`,
        `incidents`, `outbox` and `silences` read by. Never created or migrated, like `reader`."""
        from monitor.store.engine import open_engine  # lazy: CLI start time (SQLAlchemy)

        engine = open_engine(self._existing_database(), application_name="invoicewatch")
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()

    def _existing_database(self) -> str:
        """monitor.database, or the error saying how the database comes to be."""
        from monitor.store.engine import exists  # lazy: CLI start time (SQLAlchemy)

        config = self.read_config
        url = self._database_url(config)
        if not exists(url):
            demo = Path(DEMO_FOLDER) / "demo.db"
            raise CliError(
                f"no database yet: {_where(url)} (monitor.database in {config.file}) does not exist",
                f"the monitor creates it when it first runs: {_again('run', config.file)}",
                *([f"the demo (make run) keeps its own, {demo}: these commands read the plain monitor's "
                   "(make monitor)"] if demo.exists() else []),
            )
        return url

    def writer(self) -> Store:
        """The store for a change by hand: created and migrated when needed."""
        from monitor.store import Store  # lazy: CLI start time (SQLAlchemy)

        store = Store(self.config.monitor.database)
        store.migrate()
        return store

    def _database_url(self, config: Config) -> str:
        ref = config.unset.get("monitor.database")
        if ref:
            raise CliError(f"monitor.database in {config.file} is {ref}, which is not set",
                           "this command reads the database: set it in the environment first")
        return config.monitor.database


def _where(url: str) -> str:
    from monitor.core.secrets import safe_url  # lazy: CLI start time

    if url.startswith("sqlite"):
        return url.split(":///", 1)[-1] or url
    return safe_url(url)


def _again(command: str, config_file: str) -> str:
    return f"invoicewatch -c {config_file} {command}"


pass_app = click.make_pass_decorator(AppState)


# Each top-level command and the module that defines it: `invoicewatch CMD` imports that one
# module (and what its body imports), `--help` all of them. tests/cli checks the table against
# what the modules register.
COMMANDS: dict[str, str] = {
    **dict.fromkeys(("run", "validate", "schema", "check"), "monitor.cli.foundation"),
    "status": "monitor.cli.status",
    **dict.fromkeys(("incidents", "incident", "ack", "maintenance", "silence", "silences", "unsilence"),
                    "monitor.cli.incidents"),
    **dict.fromkeys(("channels", "outbox", "announce"), "monitor.cli.notify"),
    "render": "monitor.cli.statuspage",
    "report": "monitor.cli.report",
    "prune": "monitor.cli.housekeeping",
    "simulate": "monitor.cli.simulate",
    "canaries": "monitor.cli.canaries",
    "platform": "monitor.cli.platform",
    "demo": "monitor.cli.demo",
}


class Group(click.Group):
    """A group whose command list shows each command's first sentence whole (wrapped to the
    terminal), where click would cut it with "..."; its subgroups are Groups too.

    `lazy` names the module of each command not registered yet (COMMANDS for the top level):
    it is imported when the command is first asked for, so a command loads only its own part."""

    group_class = type

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = self.lazy.pop(cmd_name, None)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(module)  # registers its commands on this group
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=Group, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "-c", "--config", "config_path", metavar="FILE",
    help=f"config file (default: ${CONFIG_ENV}, else ./{DEFAULT_CONFIG})",
)
@click.version_option(__version__, prog_name="invoicewatch")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """invoicewatch: health monitor and outage alerter for an e-invoice platform.

    Exit codes: 0 fine, 1 something asked about is down or failed, 2 bad config or usage
    (or nothing to read yet). Every --json output is stable: its schema is in
    monitor/cli/schemas/. Shell completion: see README, "Command line".
    """
    ctx.obj = AppState(resolve_config_path(config_path), _source(config_path))


