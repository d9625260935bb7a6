"""nodes: several processes on one PostgreSQL (probe nodes per location, controllers)

monitor_node (one row per node: role, location, last report, its result sequence);
check_result.node and .seq (each node numbers its results; the controller reads them by
(node, seq), which no late commit can slip past); intake_cursor (how far the deciding
leader has folded each node's results into the states it saved); controller_lease (the
elected controller's term, the fencing token); delivery_attempt.node (who tried to send).

Revision ID: 0003_nodes
Revises: 0002_rollups_pings
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store.types import UTCDateTime

revision = "0003_nodes"
down_revision = "0002_rollups_pings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_node",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False, server_default=""),
        sa.Column("location", sa.String(64), nullable=False, server_default=""),
        sa.Column("host", sa.String(120), nullable=False, server_default=""),
        sa.Column("pid", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("version", sa.String(32), nullable=False, server_default=""),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("seen_at", UTCDateTime(), nullable=True),
        sa.Column("stopped_at", UTCDateTime(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("results", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("last_result_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "intake_cursor",
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "controller_lease",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("term", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("holder_pid", sa.Integer(), nullable=False),
        sa.Column("acquired_at", UTCDateTime(), nullable=False),
        sa.Column("renewed_at", UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("check_result") as batch:
        batch.add_column(sa.Column("node", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
    op.create_index("uq_check_result_node_seq", "check_result", ["node", "seq"], unique=True)
    with op.batch_alter_table("delivery_attempt") as batch:
        batch.add_column(sa.Column("node", sa.String(120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery_attempt") as batch:
        batch.drop_column("node")
    op.drop_index("uq_check_result_node_seq", "check_result")
    with op.batch_alter_table("check_result") as batch:
        batch.drop_column("seq")
        batch.drop_column("node")
    op.drop_table("controller_lease")
    op.drop_table("intake_cursor")
    op.drop_table("monitor_node")
