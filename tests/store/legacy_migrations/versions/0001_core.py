"""core: check results and per-check state

Revision ID: 0001_core
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store.types import UTCDateTime

revision = "0001_core"
down_revision = None
branch_labels = ("core",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "check_result",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("check", sa.String(120), nullable=False),
        sa.Column("location", sa.String(64), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False, server_default=""),
        sa.Column("phases", sa.JSON(), nullable=True),
        sa.Column("values", sa.JSON(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
    )
    op.create_index("ix_check_result_check_ts", "check_result", ["check", "ts"])
    op.create_index("ix_check_result_ts", "check_result", ["ts"])
    op.create_table(
        "check_state",
        sa.Column("check", sa.String(120), primary_key=True),
        sa.Column("location", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("last_result_at", UTCDateTime(), nullable=True),
        sa.Column("last_status", sa.String(16), nullable=True),
        sa.Column("last_latency_ms", sa.Float(), nullable=True),
        sa.Column("last_message", sa.Text(), nullable=False, server_default=""),
        sa.Column("data", sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("check_state")
    op.drop_index("ix_check_result_ts", "check_result")
    op.drop_index("ix_check_result_check_ts", "check_result")
    op.drop_table("check_result")
