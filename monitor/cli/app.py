"""The `invoicewatch` command group and what every command module shares: finding and
loading the config (`AppState`, `pass_app`), and plain tables.

Exit codes: 0 fine, 1 the thing asked about is down / failed, 2 bad config or usage.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from monitor.config import Config, load_config
from monitor.config.syntax import excerpt
from monitor.core import __version__
from monitor.core.errors import ConfigError, ConfigProblem

DEFAULT_CONFIG = "config.yaml"


def resolve_config_path(given: str | None) -> str:
    if given:
        return given
    env = os.environ.get("INVOICEWATCH_CONFIG")
    if env:
        return env
    return DEFAULT_CONFIG


def echo_problem(problem: ConfigProblem, *, err: bool = False) -> None:
    """One problem on one line (`FILE:LINE:COL: key.path: what is wrong`); a YAML syntax
    error also shows its line with a caret under the column."""
    click.echo(str(problem), err=err)
    shown = excerpt(problem)
    if shown:
        click.echo(shown, err=err)


def load_or_exit(path: str) -> Config:
    """Load the config or print every problem (one per line) and exit 2."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            echo_problem(problem, err=True)
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
