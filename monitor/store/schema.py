"""Every table of the store in one MetaData: what the migrations must build (a test compares
them) and what Alembic's autogenerate reads when a revision is written."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

from monitor.store import (
    announcements,
    canaries,
    incidents,
    intake,
    leadership,
    maintenance,
    nodes,
    outbox,
    pings,
    results,
    rollups,
    slo,
)

# One module per aggregate; importing them is what puts their tables into the MetaData.
AGGREGATES = (results, nodes, intake, leadership, incidents, outbox, maintenance, slo, announcements, canaries,
              rollups, pings)


def metadata() -> sa.MetaData:
    return SQLModel.metadata
