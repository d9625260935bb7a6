"""initial: every table, as the four roots of the first releases built them together

check_result, check_state (results and states); incident, incident_update, component_status,
component_status_change (incidents); maintenance_window, silence (holds); slo_status; outbox,
delivery_attempt (the outbox); announcement; platform_canary (the canary ledger).
A database made by the first releases is stamped with this revision (monitor.store.migrate).

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store.types import UTCDateTime

revision = "0001_initial"
down_revision = None
branch_labels = None
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
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("component", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("impact", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("detected_at", UTCDateTime(), nullable=False),
        sa.Column("acked_at", UTCDateTime(), nullable=True),
        sa.Column("acked_by", sa.String(120), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("root_check", sa.String(120), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_incident_component_resolved", "incident", ["component", "resolved_at"])
    op.create_table(
        "incident_update",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incident.id"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False, server_default=""),
        sa.Column("author", sa.String(120), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
    )
    op.create_index("ix_incident_update_incident", "incident_update", ["incident_id", "at"])
    op.create_table(
        "component_status",
        sa.Column("component", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "component_status_change",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("component", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
    )
    op.create_index(
        "ix_component_status_change_component_at", "component_status_change", ["component", "at"]
    )
    op.create_table(
        "maintenance_window",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("title_i18n", sa.JSON(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=True),
        sa.Column("recurrence", sa.String(120), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("created_by", sa.String(120), nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False, server_default="cli"),
        sa.Column("config_key", sa.String(64), nullable=True, unique=True),
    )
    op.create_table(
        "silence",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(120), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "slo_status",
        sa.Column("slo", sa.String(64), primary_key=True),
        sa.Column("component", sa.String(64), nullable=False),
        sa.Column("objective", sa.Float(), nullable=False),
        sa.Column("budget_remaining", sa.Float(), nullable=True),
        sa.Column("good", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("burn", sa.JSON(), nullable=True),
        sa.Column("alert", sa.String(16), nullable=False, server_default="none"),
        sa.Column("alert_since", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
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
    op.drop_table("announcement")
    op.drop_index("ix_delivery_attempt_outbox", "delivery_attempt")
    op.drop_table("delivery_attempt")
    op.drop_index("ix_outbox_incident", "outbox")
    op.drop_index("ix_outbox_due", "outbox")
    op.drop_table("outbox")
    op.drop_table("slo_status")
    op.drop_table("silence")
    op.drop_table("maintenance_window")
    op.drop_index("ix_component_status_change_component_at", "component_status_change")
    op.drop_table("component_status_change")
    op.drop_table("component_status")
    op.drop_index("ix_incident_update_incident", "incident_update")
    op.drop_table("incident_update")
    op.drop_index("ix_incident_component_resolved", "incident")
    op.drop_table("incident")
    op.drop_table("check_state")
    op.drop_index("ix_check_result_ts", "check_result")
    op.drop_index("ix_check_result_check_ts", "check_result")
    op.drop_table("check_result")
