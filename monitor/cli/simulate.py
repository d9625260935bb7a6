"""`invoicewatch simulate ...`: run the bundled invoice platform and inject faults into it.

    invoicewatch simulate serve [--port 8900] [--mode native --mode nuonuo ...]
    invoicewatch simulate fault set latency --seconds 2 --param jitter=0.5 --endpoint list --for 10m
    invoicewatch simulate fault clear [NAME]
    invoicewatch simulate faults
    invoicewatch simulate catalog

Fault commands talk to the admin API of a running simulator (in `invoicewatch run` or
`simulate serve`), found from the config's `simulator:` section or --url.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import click

from monitor.cli.app import AppState, CliError, cli, load_or_exit, pass_app
from monitor.cli.output import emit_json, table


def _settings(app: AppState) -> Any:
    """The config's simulator section; defaults when there is no config file at all."""
    from monitor.config.simulator import SimulatorSection

    if not os.path.exists(app.config_path):
        return SimulatorSection()
    return load_or_exit(app.config_path, allow_unset=True).simulator


class Admin:
    """A small client of /_admin that turns every failure into one clear line and an exit code."""

    def __init__(self, url: str, token: str | None, config_file: str | None = None) -> None:
        self.config_file = config_file
        self.url = url.rstrip("/")
        self.headers = {"X-Admin-Token": token} if token else {}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        import httpx  # lazy: CLI start time

        try:
            with httpx.Client(timeout=5.0, trust_env=False) as client:
                response = client.request(method, self.url + path, json=body, headers=self.headers)
        except httpx.HTTPError as exc:
            config = self.config_file or "FILE"
            raise CliError(f"the simulator is not running at {self.url} ({exc or type(exc).__name__})",
                           f"start the monitor, which runs it when simulator.enabled: invoicewatch -c {config} run",
                           f"or the simulator alone: invoicewatch -c {config} simulate serve", exit_code=1) from None
        try:
            data = response.json()
        except ValueError:
            click.echo(f"{self.url}{path}: HTTP {response.status_code}, not the simulator's admin API", err=True)
            sys.exit(1)
        if response.status_code >= 400:
            click.echo(f"simulator refused: {data.get('error', response.text)}", err=True)
            sys.exit(2 if response.status_code in (400, 404) else 1)
        return data


@cli.group()
@click.option("--url", help="simulator base URL (default: from the config's simulator section)")
@click.option("--admin-token", envvar="INVOICEWATCH_SIM_ADMIN_TOKEN", help="X-Admin-Token, when the simulator needs one")
@click.pass_context
def simulate(ctx: click.Context, url: str | None, admin_token: str | None) -> None:
    """The bundled e-invoice platform simulator: serve it, break it, mend it."""
    ctx.meta["sim_url"] = url
    ctx.meta["sim_admin_token"] = admin_token


def _admin(ctx: click.Context) -> Admin:
    url = ctx.meta.get("sim_url")
    token = ctx.meta.get("sim_admin_token")
    app = ctx.find_object(AppState)
    assert app is not None  # the `cli` group always sets it
    if not url or not token:
        settings = _settings(app)
        host = "127.0.0.1" if settings.listen in ("0.0.0.0", "localhost") else settings.listen
        url = url or f"http://{host}:{settings.port}"
        token = token or settings.admin_token
    return Admin(url, token, app.config_path if os.path.exists(app.config_path) else None)


@simulate.command()
@click.option("--port", type=int, help="port (default: simulator.port, 8900; 0 picks one)")
@click.option("--mode", "modes", multiple=True, type=click.Choice(["native", "nuonuo", "baiwang"]),
              help="API shapes to serve (repeatable; default: simulator.modes, all three)")
@click.option("--seed", type=int, help="seed of invoices and fault draws (default: simulator.seed)")
@pass_app
def serve(app: AppState, port: int | None, modes: tuple[str, ...], seed: int | None) -> None:
    """Run the simulator on its own, in the foreground, until Ctrl-C."""
    from monitor.simulator.app import serve as serve_app
    from monitor.simulator.state import Simulator

    settings = _settings(app)
    changes: dict[str, Any] = {}
    if port is not None:
        changes["port"] = port
    if modes:
        changes["modes"] = list(dict.fromkeys(modes))
    settings = settings.model_copy(update=changes)

    async def main() -> None:
        sim = Simulator(seed=seed, settings=settings)
        runner, url = await serve_app(sim, settings.listen, settings.port)
        users = ", ".join(u.app_key for u in settings.effective_users)
        click.echo(f"simulator on {url} (modes: {', '.join(settings.modes)}; users: {users}); Ctrl-C stops")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except OSError as exc:
        click.echo(f"cannot listen on {settings.listen}:{settings.port}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass


@simulate.group()
def fault() -> None:
    """Set or clear one fault (see `invoicewatch simulate catalog`)."""


def _value(text: str) -> Any:
    """`--param k=v` values: JSON when they parse (numbers, true, lists), text otherwise."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@fault.command("set")
@click.argument("name")
@click.option("--rate", type=float, help="share of requests/records affected (0..1)")
@click.option("--seconds", help="seconds parameter: delay, lag, hold, phase (e.g. 2, 250ms, 10m)")
@click.option("--for", "duration", help="remove the fault after this long (e.g. 10m)")
@click.option("--endpoint", "endpoints", multiple=True,
              help="operation to aim at (repeatable): token, list, get, issue, void, red_flush, certification")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="any other parameter (repeatable)")
@click.pass_context
def fault_set(ctx: click.Context, name: str, rate: float | None, seconds: str | None, duration: str | None,
              endpoints: tuple[str, ...], params: tuple[str, ...]) -> None:  # fmt: skip
    """Set fault NAME (replacing it if already set)."""
    values: dict[str, Any] = {}
    for item in params:
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--param")
        values[key.strip()] = _value(raw)
    if rate is not None:
        values["rate"] = rate
    if seconds is not None:
        values["seconds"] = seconds
    if endpoints:
        values["endpoint"] = list(endpoints)
    body: dict[str, Any] = {"name": name, "params": values}
    if duration:
        body["for"] = duration
    data = _admin(ctx).call("POST", "/_admin/faults", body)
    click.echo(_describe(data["fault"]))


@fault.command("clear")
@click.argument("name", required=False)
@click.pass_context
def fault_clear(ctx: click.Context, name: str | None) -> None:
    """Clear fault NAME, or every fault."""
    data = _admin(ctx).call("DELETE", f"/_admin/faults/{name}" if name else "/_admin/faults")
    cleared = data.get("cleared") or []
    click.echo("cleared: " + ", ".join(cleared) if cleared else "no faults were set")


@simulate.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
def faults(ctx: click.Context, as_json: bool) -> None:
    """List the faults in force."""
    data = _admin(ctx).call("GET", "/_admin/faults")
    if as_json:
        emit_json(data)
        return
    if not data["faults"]:
        click.echo("no faults set (the simulator is healthy)")
        return
    rows = [
        {"name": f["name"], "params": _params(f["params"]), "active": "yes" if f["active"] else "no (flap)",
         "expires": f["expires_at"] or "-"}
        for f in data["faults"]
    ]  # fmt: skip
    click.echo(table(rows, ["name", "active", "expires", "params"]))


@simulate.command()
@click.pass_context
def catalog(ctx: click.Context) -> None:
    """Every fault the simulator knows, with its parameters and defaults (no server needed)."""
    from monitor.simulator.faults import catalog_json

    for name, spec in catalog_json().items():
        click.echo(f"{name}: {spec['help']}")
        for param, info in spec["params"].items():
            default = "" if info["default"] is None else f" (default {info['default']})"
            click.echo(f"    {param}{default}: {info['help']}")


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in params.items())


def _describe(fault_json: dict[str, Any]) -> str:
    until = f" until {fault_json['expires_at']}" if fault_json.get("expires_at") else ""
    params = _params(fault_json["params"])
    return f"fault {fault_json['name']} set" + (f": {params}" if params else "") + until


@simulate.command()
@click.argument("box", default="oncall")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.option("-n", "--last", default=10, show_default=True, help="newest messages shown")
@click.pass_context
def inbox(ctx: click.Context, box: str, as_json: bool, last: int) -> None:
    """Messages the simulator's demo webhook BOX received (json://127.0.0.1:8900/_admin/inbox/BOX)."""
    data = _admin(ctx).call("GET", f"/_admin/inbox/{box}")
    messages = data["messages"][-last:]
    if as_json:
        emit_json(messages)
        return
    if not messages:
        others = ", ".join(data["boxes"]) or "none"
        click.echo(f"inbox {box!r} is empty (boxes with messages: {others})")
        return
    for m in messages:
        body = m["body"]
        title = body.get("title", "") if isinstance(body, dict) else ""
        text = body.get("message", body) if isinstance(body, dict) else body
        click.echo(f"--- {m['at']}  {title}")
        click.echo(str(text).rstrip())
