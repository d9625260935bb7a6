"""`invoicewatch demo`: the simulator, the monitor, the page, an inbox and a scripted outage
story in one process (monitor/demo.py); what `make run` starts."""

from __future__ import annotations

from pathlib import Path

import click

from monitor.cli.app import DEMO_FOLDER, EXAMPLE_CONFIG, AppState, cli, load_or_exit, pass_app
from monitor.warm import DEFAULT_CONFIG


@cli.command()
@click.option("--folder", default=DEMO_FOLDER, show_default=True, type=click.Path(file_okay=False),
              help="the demo's own database and status page folder (emptied at start)")
@click.option("--stop-after", type=float, default=None, metavar="SECONDS", help="stop by itself after this long")
@pass_app
def demo(app: AppState, folder: str, stop_after: float | None) -> None:
    """Watch an outage from start to finish in about five minutes: login fails, queries slow
    down, the sync lags; on-call and staff messages and page changes are printed as they
    happen. Runs on config.example.yaml unless -c is given. Ctrl-C stops everything."""
    import asyncio
    import sys

    from monitor import demo as story
    from monitor import logs
    from monitor.core.secrets import Redactor

    path = app.config_path
    if path == DEFAULT_CONFIG and not Path(path).exists() and Path(EXAMPLE_CONFIG).exists():
        path = EXAMPLE_CONFIG
    config = load_or_exit(path)
    logs.configure("ERROR", Redactor(config.secrets), "text")  # the story's lines, not the log's
    try:
        asyncio.run(story.run(config, Path(folder), sys.stdout, stop_after=stop_after))
    except OSError as exc:  # its folder (a taken port is the simulator's ListenError, which says so)
        raise click.ClickException(f"cannot start the demo: {exc}") from None
