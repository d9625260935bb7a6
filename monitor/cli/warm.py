"""The warm command server's program (monitor/warm.py says how warm commands go):

    python -m monitor.cli.warm SOCKET PARENT_PID

what the monitor's CommandServer starts. It imports everything any command could need, then
runs each client's command line as `invoicewatch` would (monitor.cli.run_cold), in a fork.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from monitor import warm
from monitor.cli import run_cold


def preload() -> None:
    """Every module of invoicewatch's packages (each command imports its part lazily; here all
    of it, once), the validators of every check kind, SQLAlchemy's dialects and the Apprise
    plugins that channel URLs can name."""
    for package in warm.PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    from checks import KINDS
    from monitor.config.apprise_urls import preload_plugins
    from monitor.config.models import checks_adapter

    checks_adapter(frozenset(KINDS))
    preload_plugins()
    importlib.import_module("sqlalchemy.dialects.sqlite")
    try:
        importlib.import_module("sqlalchemy.dialects.postgresql.psycopg")
        importlib.import_module("psycopg")
    except ImportError:  # the postgres extra is not installed: no command can use it either
        pass


def main(args: list[str] | None = None) -> None:
    path, parent = (sys.argv[1:] if args is None else args)[:2]
    sys.exit(warm.serve(Path(path), int(parent), preload=preload, command=run_cold))


if __name__ == "__main__":
    main()
