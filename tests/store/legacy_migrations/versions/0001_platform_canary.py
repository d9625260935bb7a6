"""platform: the canary ledger (canary invoices until they are voided or red-flushed)

Revision ID: 0001_platform_canary
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store.types import UTCDateTime

revision = "0001_platform_canary"
down_revision = None
branch_labels = ("platform",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table(
        "platform_canary",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(120), nullable=False),
        sa.Column("check", sa.String(120), nullable=False),
        sa.Column("order_no", sa.String(64), nullable=False),
        sa.Column("serial", sa.String(64), nullable=True),
        sa.Column("number", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("cleaned_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("variables", sa.JSON(), nullable=True),
    )
    op.create_index("ix_platform_canary_open", "platform_canary", ["platform", "state"])
    op.create_index("ix_platform_canary_day", "platform_canary", ["platform", "check", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_platform_canary_day", "platform_canary")
    op.drop_index("ix_platform_canary_open", "platform_canary")
    op.drop_table("platform_canary")
