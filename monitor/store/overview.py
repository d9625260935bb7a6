"""What `invoicewatch status` reads, in one session: every check's state, the open incidents
(each check they hold, as root or as a symptom folded in), the silences in force, and the
nodes sharing the database with the elected controller's lease. A table
that does not exist yet reads as empty, like the status page's reads (monitor.store.pages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from monitor.store import incidents, leadership, maintenance, nodes, pages, results
from monitor.store.incidents import Incident
from monitor.store.leadership import LeaseRow
from monitor.store.maintenance import Silence
from monitor.store.nodes import NodeRow
from monitor.store.results import CheckStateRow


@dataclass
class Overview:
    states: list[CheckStateRow] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    silences: list[Silence] = field(default_factory=list)
    nodes: list[NodeRow] = field(default_factory=list)
    lease: LeaseRow | None = None
    tables: set[str] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        """No invoicewatch table at all: a database the monitor has never run on."""
        return "check_state" not in self.tables


def overview(session: Session, now: datetime) -> Overview:
    have = pages.tables(session.connection())
    out = Overview(tables=have)
    if "check_state" in have:
        out.states = results.states(session)
    if "incident" in have:
        out.incidents = incidents.open_incidents(session)
    if "silence" in have:
        out.silences = maintenance.active_silences(session, now)
    if "monitor_node" in have:
        out.nodes = nodes.listing(session.connection())
    if "controller_lease" in have:
        out.lease = leadership.current(session.connection())
    return out
