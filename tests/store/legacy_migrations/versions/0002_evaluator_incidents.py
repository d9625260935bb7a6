"""incidents: incidents and timeline, component status, maintenance, silences, SLO status

Revision ID: 0002_evaluator_incidents
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store.types import UTCDateTime

revision = "0002_evaluator_incidents"
down_revision = None
branch_labels = ("incidents",)
depends_on = "0001_core"


def upgrade() -> None:
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


def downgrade() -> None:
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
