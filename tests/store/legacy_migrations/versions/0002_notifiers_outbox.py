"""notifiers: outbox, delivery attempts, announcements

Revision ID: 0002_notifiers_outbox
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store.types import UTCDateTime

revision = "0002_notifiers_outbox"
down_revision = None
branch_labels = ("notifiers",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("target_index", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("component", sa.String(64), nullable=True),
        sa.Column("severity", sa.String(16), nullable=False, server_default="info"),
        sa.Column("audience", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("title", sa.Text(), nullable=False, server_default=""),
        sa.Column("body", sa.Text(), nullable=False, server_default=""),
        sa.Column("body_format", sa.String(16), nullable=False, server_default="text"),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("group_until", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(120), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("key", "channel", "target_index", name="uq_outbox_key_target"),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_incident", "outbox", ["incident_id"])
    op.create_table(
        "delivery_attempt",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("outbox_id", sa.Integer(), sa.ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
    )
    op.create_index("ix_delivery_attempt_outbox", "delivery_attempt", ["outbox_id"])
    op.create_table(
        "announcement",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("next_update_at", UTCDateTime(), nullable=True),
        sa.Column("manual", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("author", sa.String(120), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.UniqueConstraint("incident_id", name="uq_announcement_incident"),
    )


def downgrade() -> None:
    op.drop_table("announcement")
    op.drop_index("ix_delivery_attempt_outbox", "delivery_attempt")
    op.drop_table("delivery_attempt")
    op.drop_index("ix_outbox_incident", "outbox")
    op.drop_index("ix_outbox_due", "outbox")
    op.drop_table("outbox")
