"""The foundation commands: run, validate, schema, check (status is monitor/cli/status.py)."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from monitor.cli.app import AppState, CliError, cli, echo_problem, pass_app
from monitor.cli.output import console, emit_json, origin

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.core.spec import CheckSpec


@cli.command()
@click.option("--log-level", default="INFO", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@click.option("--log-format", default="text", show_default=True, type=click.Choice(["text", "json"]),
              help="text: one readable line per event; json: one object per line (ts, level, logger, event, fields)")
@click.option("--role", type=click.Choice(["all", "probe", "controller"]), default=None,
              help="all: everything in one process (the only role on SQLite); probe: run this location's "
              "checks and write results; controller: decide, send and render while elected. "
              "Default: monitor.role (all)")
@click.option("--location", envvar="INVOICEWATCH_LOCATION", default=None,
              help="this node's network location (default: monitor.location; env INVOICEWATCH_LOCATION)")
@click.option("--node", envvar="INVOICEWATCH_NODE", default=None,
              help="this node's name (default: monitor.node; env INVOICEWATCH_NODE)")
@pass_app
def run(app: AppState, log_level: str, log_format: str, role: str | None, location: str | None,
        node: str | None) -> None:
    """Run the monitor: probe on schedule, record, evaluate, alert, serve the status page.

    Starts with a block saying what is watched, where the page is and where messages go;
    then one line per state change, incident change and message. SIGTERM/SIGINT stop
    cleanly (running probes finish, pending writes are flushed); SIGHUP reloads the config,
    keeping the running one if the new file is bad. Under systemd (Type=notify) it reports
    READY/RELOADING/STOPPING and feeds the watchdog.
    """
    from monitor import logs  # lazy: CLI start time (the whole monitor)
    from monitor.core.errors import ConfigError
    from monitor.core.secrets import Redactor
    from monitor.runtime import Monitor

    config = app.config
    logs.configure(log_level, Redactor(config.secrets), log_format)
    try:
        monitor = Monitor(config, role=role, location=location, node=node)
    except ConfigError as exc:  # a probe/controller split on SQLite, a bad --location/--node
        for problem in exc.problems:
            echo_problem(problem, err=True)
        sys.exit(2)
    if log_format == "text":
        err = console(err=True)
        for line in startup_block(monitor.config, log_level, role=monitor.role, node=monitor.node):
            err.print(line, soft_wrap=not err.is_terminal)  # a log file keeps each item on one line
    logs.configure(log_level, monitor.redactor, log_format)
    asyncio.run(monitor.run_until_stopped())


def startup_block(config: Config, log_level: str, *, role: str = "all", node: str | None = None) -> list[Text]:
    """What `run` says before the first log line: what it watches, where the page is, where
    messages go. A list of lines, so other roles of `run` can add theirs."""
    from monitor.core import __version__  # lazy: CLI start time
    from monitor.core.secrets import safe_url

    here = config.monitor.location
    active = [c for c in config.checks if c.enabled and (not c.locations or here in c.locations)]
    off = len(config.checks) - len(active)
    names = ", ".join(c.name for c in active[:8]) + (f", +{len(active) - 8} more" if len(active) > 8 else "")
    lines = [
        Text(f"invoicewatch {__version__}", style="bold") + Text(f" · {config.file} · location {here}"),
        Text(f"watching {len(active)} checks" + (f" ({off} disabled or elsewhere)" if off else "") + f": {names}"),
        _item("database", safe_url(config.monitor.database)),
    ]
    if role != "all":
        lines.insert(1, _item("role", f"{role}, node {node}: " + (
            "probes and writes results; the elected controller decides and sends" if role == "probe" else
            "decides, sends and renders while elected (a standby meanwhile); probes nothing")))
    if role == "controller":
        lines[2] = Text(f"deciding on {len(config.checks)} checks from every location")
    page = config.status_page
    if page.enabled and page.port:
        lines.append(_item("status page", f"http://{page.listen}:{page.port}/ (files in {page.output_dir})"))
    elif page.enabled:
        lines.append(_item("status page", f"on a free port of {page.listen} (files in {page.output_dir}; the server's line "
                                          "below says which)"))
    else:
        lines.append(_item("status page", f"off; files still written to {page.output_dir}"))
    sim = config.simulator
    if sim.enabled:
        where = f"http://{sim.listen}:{sim.port}" if sim.port else f"a free port of {sim.listen}"
        lines.append(_item("simulator", f"{where} ({', '.join(sim.modes)})"))
    for ch in config.channels:
        targets = ", ".join(origin(u) for u in ch.urls)
        lines.append(_item("messages", f"{ch.name} ({ch.audience}, {ch.language or config.monitor.language}) -> {targets}"))
    if not config.channels:
        lines.append(_item("messages", "no channels: nobody is told (add channels: to the config)"))
    lines.append(_item("log", f"one line per state change and message at {log_level}; --log-format json for machines"))
    lines.append(Text("Ctrl-C stops; SIGHUP reloads the config.", style="dim"))
    return lines


def _item(what: str, value: str) -> Text:
    return Text(f"  {what:<13}", style="dim") + Text(value)


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print JSON (monitor/cli/schemas/validate.json)")
@pass_app
def validate(app: AppState, files: tuple[str, ...], as_json: bool) -> None:
    """Check config FILES (default: the --config file). Prints every problem as
    FILE:LINE:COL: key.path: what is wrong (a YAML syntax error with its line and a caret).
    Exit 0 valid, 1 invalid."""
    from monitor.config import load_config  # lazy: CLI start time (the config stack)
    from monitor.core.errors import ConfigError, ConfigProblem

    bad = 0
    docs: list[dict[str, Any]] = []
    for path in files or (app.config_path,):
        problems: list[ConfigProblem] = []
        try:
            config = load_config(path)
        except ConfigError as exc:
            problems = exc.problems
        except Exception as exc:  # a bug of ours: still one located line, never a traceback
            problems = [ConfigProblem(path, 1, 1, "", f"could not be validated ({type(exc).__name__}: {exc}); please report this")]
        bad += bool(problems)
        if as_json:
            docs.append({"file": path, "ok": not problems, "checks": None if problems else len(config.checks),
                         "components": None if problems else len(config.components),
                         "problems": [{"file": p.file, "line": p.line, "column": p.column, "path": p.path,
                                       "message": p.message} for p in problems]})
        elif problems:
            for problem in problems:
                echo_problem(problem)
        else:
            click.echo(f"{path}: ok ({len(config.checks)} checks, {len(config.components)} components)")
    if as_json:
        emit_json({"files": docs})
    sys.exit(1 if bad else 0)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the config file (for editors and yaml-language-server)."""
    from monitor.config import dump_schema  # lazy: CLI start time (the config stack)

    click.echo(dump_schema())


def complete_check(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of check names, from the config file named so far."""
    from click.shell_completion import CompletionItem

    from monitor.cli.app import resolve_config_path
    from monitor.config import load_config  # lazy: CLI start time (the config stack)

    try:
        config = load_config(resolve_config_path(ctx.parent.params.get("config_path") if ctx.parent else None),
                             allow_unset=True)
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [CompletionItem(c.name, help=c.kind) for c in config.checks if c.name.startswith(incomplete)]


@cli.command()
@click.argument("name", shell_complete=complete_check)
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON (monitor/cli/schemas/check.json)")
@pass_app
def check(app: AppState, name: str, as_json: bool) -> None:
    """Run check NAME once, now: the request line, each step live, conditions, values.

    Needs only this check's secrets (and its platform's). Exit 0 up or degraded, 1 down,
    2 config error or unknown check."""
    from monitor.cli.show import Watcher, base_url, hint, result_json, target, verdict  # lazy: CLI start time
    from monitor.core.secrets import Redactor
    from monitor.runtime import run_one

    config = app.read_config
    spec = _spec(config, name)
    line = target(spec, config, Redactor(config.secrets))
    out = console()
    t0 = time.monotonic()
    if as_json:
        result = asyncio.run(run_one(config, spec))
        emit_json({**result_json(result), "target": line, "duration_ms": round((time.monotonic() - t0) * 1000, 1)})
    else:
        out.print(Text(spec.name, style="bold") + Text(f"  {spec.kind} · {line}"), overflow="fold")
        redactor = Redactor(config.secrets)
        with Watcher(out, redactor.redact(base_url(spec, config))) as watcher:
            result = asyncio.run(run_one(config, spec, progress=watcher))
        for part in verdict(result, watcher, time.monotonic() - t0):
            out.print(part, overflow="fold")
        if str(result.status) == "down" and (advice := hint(result, spec, config)):
            out.print(Text(advice, style="yellow"))
    sys.exit(1 if str(result.status) == "down" else 0)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


def _spec(config: Config, name: str) -> CheckSpec:
    """Check NAME, with every secret it needs set (other checks' may be unset)."""
    import difflib

    try:
        spec: CheckSpec = config.check(name)
    except KeyError:
        hint = difflib.get_close_matches(name, [c.name for c in config.checks], n=1)
        raise CliError(f"{config.file}: no check named {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""),
                       "invoicewatch status lists them all") from None
    index = list(config.checks).index(spec)
    mine = (f"checks[{index}]", f"platforms.{getattr(spec, 'platform', None)}", "monitor.database")
    missing = sorted({ref for path, ref in config.unset.items() if any(_under(path, m) for m in mine)})
    if missing:
        raise CliError(f"check {name!r} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not set",
                       "set it in the environment (or make the ${file:} readable) and run the check again")
    return spec
