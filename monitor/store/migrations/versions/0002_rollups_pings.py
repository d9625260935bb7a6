"""rollups and heartbeat pings

check_rollup and component_rollup (hourly and daily buckets, monitor.store.rollups; clustered
on (grain, start, key): WITHOUT ROWID on SQLite; starts in epoch seconds, sketches packed),
rollup_mark (how far rolling has got), heartbeat_ping (monitor.store.pings).
Switching an existing SQLite file to auto_vacuum=INCREMENTAL needs a VACUUM, which cannot
run inside this migration's transaction: Store.migrate does it once after upgrading.

Revision ID: 0002_rollups_pings
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store.types import EpochSeconds, UTCDateTime

revision = "0002_rollups_pings"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "check_rollup",
        sa.Column("grain", sa.String(1), primary_key=True),
        sa.Column("start", EpochSeconds(), primary_key=True),
        sa.Column("check", sa.String(120), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("up", sa.Integer(), nullable=False),
        sa.Column("degraded", sa.Integer(), nullable=False),
        sa.Column("down", sa.Integer(), nullable=False),
        sa.Column("up_s", sa.Float(), nullable=False),
        sa.Column("degraded_s", sa.Float(), nullable=False),
        sa.Column("down_s", sa.Float(), nullable=False),
        sa.Column("p50", sa.Float(), nullable=True),
        sa.Column("p95", sa.Float(), nullable=True),
        sa.Column("p99", sa.Float(), nullable=True),
        sa.Column("sketch", sa.LargeBinary(), nullable=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "component_rollup",
        sa.Column("grain", sa.String(1), primary_key=True),
        sa.Column("start", EpochSeconds(), primary_key=True),
        sa.Column("component", sa.String(64), primary_key=True),
        sa.Column("operational_s", sa.Float(), nullable=False),
        sa.Column("degraded_s", sa.Float(), nullable=False),
        sa.Column("partial_s", sa.Float(), nullable=False),
        sa.Column("major_s", sa.Float(), nullable=False),
        sa.Column("maintenance_s", sa.Float(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("p50", sa.Float(), nullable=True),
        sa.Column("p95", sa.Float(), nullable=True),
        sa.Column("p99", sa.Float(), nullable=True),
        sa.Column("sketch", sa.LargeBinary(), nullable=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_mark",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("upto", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "heartbeat_ping",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("check", sa.String(120), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
    )
    op.create_index("ix_heartbeat_ping_check_at", "heartbeat_ping", ["check", "at"])
    op.create_index("ix_heartbeat_ping_at", "heartbeat_ping", ["at"])


def downgrade() -> None:
    op.drop_table("heartbeat_ping")
    op.drop_table("rollup_mark")
    op.drop_table("component_rollup")
    op.drop_table("check_rollup")
