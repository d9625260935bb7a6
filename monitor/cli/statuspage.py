"""`invoicewatch render`: write the status page once from the store (no server, no probing)."""

from __future__ import annotations

import click

from monitor.cli.app import AppState, cli, pass_app


@cli.command()
@click.option("--out", "out_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="folder to write (default: status_page.output_dir)")
@pass_app
def render(app: AppState, out_dir: str | None) -> None:
    """Render the status page (HTML, JSON API, feed, badges) from the store into DIR.

    The folder can be served by any web server; files are replaced atomically, so it is safe
    to run while the folder is being served. Reads the database only (it must exist: the
    monitor makes it), without the secrets of checks and channels."""
    from monitor.core.clock import SystemClock  # lazy: CLI start time (Jinja2, the store)
    from monitor.statuspage.render import render_site
    from monitor.statuspage.snapshot import build_snapshot

    config = app.read_config
    out = out_dir or config.status_page.output_dir
    store = app.reader()
    try:
        snap = build_snapshot(store, config, SystemClock().now())
        stats = render_site(snap, out)
    finally:
        store.close()
    click.echo(f"{out}: {stats.files} files ({stats.bytes / 1024:.0f} KB), {stats.written} written, "
               f"{stats.removed} removed; {len(snap.components)} public components, overall {snap.overall.status}")
