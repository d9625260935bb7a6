"""Nodes that stop reporting: pure arithmetic on the rows the nodes keep (monitor.store.nodes).

A node is *silent* when it has not reported for `silent_after` and did not say goodbye (a
clean stop is not a problem: somebody stopped it). The leader judges that on its own clock,
by when it last saw the node's row change (`observe`), so a node whose clock is off is not
taken for a silent one; `status`, which sees the rows only once, compares the node's own
timestamps with its clock. A location is *unheard* when every node that probes there is
silent or stopped. Both are the monitor's own problems, never the
platform's: the silent node is told to on-call as a monitor.problem, and the deciding
service stops counting the unheard location (monitor.rulebook.evaluate.silence), so its
checks there are unknown rather than down until a node reports from it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Protocol

from monitor.core.events import MONITOR_PROBLEM, Notice

PROBING_ROLES = ("all", "probe")


class NodeLike(Protocol):
    """What these rules read of a node (monitor.store.nodes.NodeRow has it)."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def location(self) -> str: ...

    @property
    def seen_at(self) -> datetime | None: ...

    @property
    def stopped_at(self) -> datetime | None: ...

    @property
    def last_result_at(self) -> datetime | None: ...

    @property
    def seq(self) -> int: ...


Stamp = tuple[datetime | None, int, datetime | None]  # what changes when a node reports
Observed = Mapping[str, tuple[Stamp, datetime]]  # node -> (its stamp, when it was first seen so)


@dataclass(frozen=True)
class Quiet:
    """A node that is not reporting: silent since `since`, or stopped cleanly then."""

    name: str
    role: str
    location: str
    since: datetime
    stopped: bool


def last_heard(node: NodeLike) -> datetime | None:
    """The node's last report or result, whichever came later."""
    return max((t for t in (node.seen_at, node.last_result_at) if t is not None), default=None)


def observe(before: Observed, nodes: Iterable[NodeLike], now: datetime) -> dict[str, tuple[Stamp, datetime]]:
    """When (on the observer's clock) each node's row was last seen to change."""
    out: dict[str, tuple[Stamp, datetime]] = {}
    for node in nodes:
        stamp: Stamp = (node.seen_at, int(node.seq), node.stopped_at)
        previous = before.get(node.name)
        out[node.name] = previous if previous is not None and previous[0] == stamp else (stamp, now)
    return out


def quiet(node: NodeLike, now: datetime, silent_after: timedelta, heard_at: datetime | None = None) -> Quiet | None:
    """The node's silence or clean stop, or None while it reports. `heard_at`: when the
    observer last saw it report (default: the node's own last timestamp)."""
    if node.stopped_at is not None:
        return Quiet(node.name, node.role, node.location, node.stopped_at, True)
    own = last_heard(node)
    reference = heard_at or own
    if reference is None or now - reference < silent_after:
        return None
    return Quiet(node.name, node.role, node.location, own or reference, False)


def silent(
    nodes: Iterable[NodeLike], now: datetime, silent_after: timedelta, *, me: str | None = None,
    observed: Observed | None = None,
) -> list[Quiet]:
    """Nodes silent without a goodbye (this node, `me`, aside: it is reporting by running)."""
    out = []
    for node in nodes:
        q = quiet(node, now, silent_after, _heard(observed, node))
        if q is not None and not q.stopped and node.name != me:
            out.append(q)
    return out


def unheard(
    nodes: Iterable[NodeLike], now: datetime, silent_after: timedelta, *, me: str | None = None,
    observed: Observed | None = None,
) -> dict[str, Quiet]:
    """Locations every probing node of which is silent or stopped, with the one heard last."""
    by_location: dict[str, list[tuple[NodeLike, Quiet | None]]] = {}
    for node in nodes:
        if node.role in PROBING_ROLES:
            q = None if node.name == me else quiet(node, now, silent_after, _heard(observed, node))
            by_location.setdefault(node.location, []).append((node, q))
    out: dict[str, Quiet] = {}
    for location, members in by_location.items():
        quiets = [q for _, q in members if q is not None]
        if len(quiets) == len(members):
            out[location] = max(quiets, key=lambda q: q.since)
    return out


def _heard(observed: Observed | None, node: NodeLike) -> datetime | None:
    seen = None if observed is None else observed.get(node.name)
    return None if seen is None else seen[1]


def since(q: Quiet, zone: tzinfo) -> str:
    """'silent since 2026-03-02 09:00:05 CST' or 'stopped at ...' (in the monitor's zone)."""
    when = q.since.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    return f"{'stopped at' if q.stopped else 'silent since'} {when}"


def describe(q: Quiet, zone: tzinfo) -> str:
    """'probe node branch silent since 2026-03-02 09:00:05 CST'."""
    kind = {"probe": "probe node", "controller": "controller", "all": "node"}.get(q.role, "node")
    return f"{kind} {q.name} {since(q, zone)}"


def silent_notice(q: Quiet, at: datetime, zone: tzinfo, silent_after: timedelta) -> Notice:
    """The monitor.problem told once per silence (the key carries when it went quiet)."""
    return Notice(
        event=MONITOR_PROBLEM,
        key=f"node:{q.name}:silent:{q.since.isoformat()}",
        at=at,
        severity="major",
        title=describe(q, zone),
        data={
            "problem": "node",
            "node": q.name,
            "role": q.role,
            "location": q.location,
            "silent_since": q.since.isoformat(),
            "silent_after_s": silent_after.total_seconds(),
            "probing": q.role in PROBING_ROLES,
        },
    )
