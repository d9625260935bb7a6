"""What a command loads before it answers: the group imports a command's module only when
that command is asked for (app.COMMANDS names each one's module), and the config load does
not import the libraries only a probe or the store uses (bench/cli_start.py times it)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from monitor.cli import cli
from monitor.cli.app import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "sqlalchemy.orm", "sqlmodel", "alembic", "dns.resolver", "dns.asyncquery", "jinja2", "apprise",
         "aiohttp", "httpx", "pygments")


def test_the_command_table_names_the_module_of_every_command() -> None:
    for module in set(COMMANDS.values()):
        importlib.import_module(module)
    ctx = click.Context(cli)
    registered = {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}
    assert {name: cmd.callback.__module__ for name, cmd in registered.items() if cmd and cmd.callback} == COMMANDS


def loaded_by(*args: str, cwd: Path = ROOT) -> set[str]:
    """The top-level modules (and HEAVY's dotted names) a real `invoicewatch ARGS` imported."""
    code = (
        "import sys, json, atexit\n"
        "atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
        "from monitor.cli import main\n"
        f"main({list(args)!r})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "INVOICEWATCH_CONFIG": ""})
    names = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    return {h for h in HEAVY if h in names} | {n.split(".")[0] for n in names if n.startswith(("checks", "monitor."))}


def test_help_loads_no_check_kind_and_no_heavy_library() -> None:
    loaded = loaded_by("--help")
    assert "checks" not in loaded and not loaded & set(HEAVY)


def test_validate_loads_apprise_but_not_the_store_or_the_probe_libraries() -> None:
    loaded = loaded_by("-c", "config.example.yaml", "validate")
    assert "apprise" in loaded  # validate asks Apprise about every channel URL
    assert not loaded & {"sqlalchemy", "sqlmodel", "alembic", "dns.resolver", "dns.asyncquery", "jinja2", "aiohttp"}


def test_a_command_that_loads_httpx_skips_httpx_s_own_command_line_client() -> None:
    loaded = loaded_by("-c", "config.example.yaml", "validate")
    assert "httpx" in loaded  # the http check's url: is parsed by httpx
    assert "pygments" not in loaded  # what httpx._main (its CLI) would have imported


@pytest.mark.parametrize("command", [("status",), ("status", "--json"), ("incidents",), ("outbox",), ("silences",)],
                         ids=" ".join)
def test_read_only_commands_read_through_core_without_the_orm(seeded: Path, command: tuple[str, ...]) -> None:
    """They read by monitor.store.readout: SQLAlchemy Core, no sqlmodel, no ORM, no Alembic."""
    loaded = loaded_by("-c", str(seeded), *command)
    assert "sqlalchemy" in loaded and not loaded & {"sqlalchemy.orm", "sqlmodel", "alembic"}


def test_the_grid_lays_out_tables_as_rich_table_did() -> None:
    """output.Grid (cheap at 1,000 rows) prints the same text as the rich Table it replaced,
    at every width: fixed columns, a right-justified one, a wrapping one with a word longer
    than the column, a cell with a newline, an empty one."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from monitor.cli import output as o

    cols = [o.Col("check"), o.Col("component", drop=3), o.Col("latency_ms", justify="right", drop=2),
            o.Col("status"), o.Col("message", wrap=True)]
    long = ("the platform answered 503 after 2.3 s; step 2 of 3 (login) failed: token rejected [STATUS] == 200 "
            "averyveryverylongwordwithoutanyspacesthatmustbefoldedsomewhere ok")
    rows = [{"check": "登录", "component": "login", "latency_ms": "43.6 ms", "status": Text("down", style="red"),
             "message": Text(long)},
            {"check": "本地网关", "component": "network", "latency_ms": "1.20 s", "status": "up", "message": "ok\nnext"},
            {"check": "x", "component": None, "latency_ms": "", "status": "pending", "message": ""}]

    def rich_table(width: int) -> Table:
        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold", padding=(0, 1), expand=False)
        shown = o.fitted(cols, rows, width)
        for c in shown:
            if c.wrap:
                table.add_column(c.title, overflow="fold", justify=c.justify)
            else:
                table.add_column(c.title, no_wrap=True, min_width=o._natural(c, rows), justify=c.justify)
        for r in rows:
            table.add_row(*(o._cell(r.get(c.key)) for c in shown))
        return table

    for width in (40, 50, 60, 80, 120, 200, o.UNWRAPPED):
        out = Console(width=width, color_system=None)
        texts = []
        for renderable in (rich_table(width), o.build_table(cols, rows, width)):
            with out.capture() as captured:
                out.print(o.Trimmed(renderable))
            texts.append(captured.get())
        assert texts[0] == texts[1], width
    assert isinstance(o.build_table(cols, rows, 80), o.Grid)
