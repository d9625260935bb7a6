"""The schema: one linear Alembic chain (monitor/store/migrations/versions), and the adoption of
databases made by the first releases.

Those releases had four Alembic roots, one per part: `0001_core`, and three that depend on
it (`0001_platform_canary`, `0002_evaluator_incidents`, `0002_notifiers_outbox`), so their
`alembic_version` holds those three (Alembic drops a revision others depend on). Together
they built exactly what `0001_initial` builds. `upgrade` therefore looks at the version table
first: finding the three, it stamps `0001_initial` in their place (no table is touched), then
upgrades to the head like any other database. Both happen in one transaction, so an upgrade
that fails leaves the old stamp. A database with only some of the old revisions comes from a
development build before the first release and is refused with a clear error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from monitor.core.errors import StoreError
from monitor.core.secrets import safe_url
from monitor.store.engine import describe, is_postgres

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

# Alembic (with Mako and Pygments, ~0.1 s) is imported where a migration runs, not with the
# store: the commands that only read the database never migrate it (lazy: CLI start time).

MIGRATIONS = Path(__file__).parent / "migrations"
LEGACY_REVISIONS = frozenset({"0001_core", "0001_platform_canary", "0002_evaluator_incidents", "0002_notifiers_outbox"})
LEGACY_HEADS = frozenset({"0001_platform_canary", "0002_evaluator_incidents", "0002_notifiers_outbox"})
LEGACY_EQUIVALENT = "0001_initial"  # the revision of the chain whose schema is the four together


def alembic_config(connection: sa.Connection | None = None) -> AlembicConfig:
    """Alembic's config for our script directory; migrations run on `connection`."""
    from alembic.config import Config as AlembicConfig  # lazy: CLI start time

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory  # lazy: CLI start time

    return ScriptDirectory.from_config(alembic_config())


def current(conn: sa.Connection) -> set[str]:
    """The revisions alembic_version holds (empty when the table does not exist)."""
    from alembic.migration import MigrationContext  # lazy: CLI start time

    return set(MigrationContext.configure(conn).get_current_heads())


def adopt_legacy(conn: sa.Connection, cfg: AlembicConfig) -> bool:
    """Stamp `0001_initial` over the heads of the first releases; True if it did."""
    from alembic import command  # lazy: CLI start time

    found = current(conn)
    if not found & LEGACY_REVISIONS:
        return False
    if not LEGACY_HEADS <= found <= LEGACY_REVISIONS:
        raise StoreError(
            f"the database's schema revisions {sorted(found)} come from a development build older "
            f"than the first release (which has {sorted(LEGACY_HEADS)}); start with a new database"
        )
    command.stamp(cfg, LEGACY_EQUIVALENT, purge=True)
    return True


MIGRATE_LOCK = 0x1A_C0DE  # pg advisory lock key of schema upgrades


def upgrade(engine: Engine, url: str) -> None:
    """Adopt a first-release database if it is one, then upgrade to the head. On PostgreSQL
    the nodes starting together (probe nodes, controllers) upgrade one at a time: the others
    wait on a transaction lock and then find the schema at the head."""
    from alembic import command  # lazy: CLI start time

    try:
        with engine.begin() as conn:
            if is_postgres(conn):
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(CAST(:k AS integer), hashtext(current_schema()))"),
                             {"k": MIGRATE_LOCK})
            cfg = alembic_config(conn)
            adopt_legacy(conn, cfg)
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot migrate database {safe_url(url)}: {describe(exc)}") from None
