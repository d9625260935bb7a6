"""A scripted world for the pure evaluator and incident engine: feed results, move the clock.

`Sim` plays the role of the service without a database: it folds results through
`evaluate`, sweeps on every clock move, reconciles incidents and numbers new incidents the way
the database would. Tests read what happened from `sim.actions`, `sim.events`, `sim.notices`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.config.models import Component
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec
from monitor.rulebook.check_events import Event, StateChanged
from monitor.rulebook.evaluate import Rules, evaluate, new_state, sweep
from monitor.rulebook.incident_book import EMPTY_BOOK, Action, Book
from monitor.rulebook.incidents import NO_HOLDS, Holds, Policy, World, component_statuses, reconcile
from monitor.rulebook.topology import Topology, component_of

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class PlatformSpec(CheckSpec):
    """A check spec of any kind with a platform (stands in for the invoice kinds)."""

    platform: str | None = None


def spec(name: str, component: str | None = None, kind: str = "tcp", **kw: Any) -> PlatformSpec:
    kw.setdefault("interval", 60)
    kw.setdefault("timeout", 5)
    return PlatformSpec(name=name, kind=kind, component=component, **kw)


def comp(cid: str, name: str | None = None, public: bool = True) -> Component:
    return Component(id=cid, name=name or cid, public=public)


@dataclasses.dataclass
class Sim:
    specs: list[CheckSpec]
    components: list[Component] = dataclasses.field(default_factory=list)
    policy: Policy = dataclasses.field(default_factory=lambda: Policy(resolve_after=timedelta(minutes=10)))
    rules: Rules = dataclasses.field(default_factory=Rules)
    holds: Holds = NO_HOLDS
    now: datetime = T0

    def __post_init__(self) -> None:
        comps = list(self.components)
        known = {c.id for c in comps}
        for s in self.specs:
            if s.component and s.component not in known:
                comps.append(comp(s.component))
                known.add(s.component)
        self.topology = Topology.build(self.specs, comps)
        self.states = {s.name: new_state(s.name, self.now) for s in self.specs}
        self.book: Book = EMPTY_BOOK
        self.actions: list[tuple[int, Action]] = []  # (incident id, action)
        self.events: list[Event] = []
        self.next_id = 1
        self.history: dict[str, list[tuple[datetime, str]]] = {}  # component status changes
        self._statuses: dict[str, str] = {}

    # driving ----------------------------------------------------------------------------------
    def feed(self, check: str, status: str, *, location: str = "local", latency_ms: float = 100.0, message: str = "", values: dict[str, Any] | None = None) -> None:
        sp = self.topology.specs[check]
        r = Result(check, Status(status), self.now, latency_ms, message or f"{check} {status}", values=values or {}, location=location)
        st, evs = evaluate(self.states[check], r, self.now, sp, self.rules)
        self.states[check] = st
        self.events += evs
        self.reconcile()

    def round(self, statuses: dict[str, str], *, every: float = 0) -> None:
        """One result per check (in the given order), then move the clock."""
        for check, status in statuses.items():
            self.feed(check, status)
        if every:
            self.advance(every)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        for name, sp in self.topology.specs.items():
            st, evs = sweep(self.states[name], self.now, sp, self.rules, maintenance=self.holds.in_maintenance(component_of(sp)))
            self.states[name] = st
            self.events += evs
        self.reconcile()

    def set_holds(self, holds: Holds) -> None:
        self.holds = holds
        self.advance(0)

    def reconcile(self) -> list[Action]:
        world = World(self.topology, self.states, self.policy, self.holds)
        book, actions = reconcile(self.book, world, self.now)
        ids = {}
        for c, v in book.open.items():
            if v.id is None:
                ids[c] = self.next_id
                self.next_id += 1
        opened = dict(book.open)
        for c, i in ids.items():
            opened[c] = dataclasses.replace(opened[c], id=i)
        self.book = Book(opened, book.last_resolved)
        for a in actions:
            iid = a.incident.id or ids.get(a.incident.component)
            if iid is None:  # opened and resolved within one pass
                iid = self.next_id
                self.next_id += 1
            self.actions.append((iid, a))
        for cid, status in component_statuses(world, self.book, self.now).items():
            if status is not None and self._statuses.get(cid) != status:
                self._statuses[cid] = status
                self.history.setdefault(cid, []).append((self.now, status))
        return actions

    def manual_resolve(self, component: str) -> None:
        inc = self.book.open[component]
        last = dict(self.book.last_resolved)
        last[component] = self.now
        opened = {c: v for c, v in self.book.open.items() if c != component}
        self.book = Book(opened, last)
        assert inc.id is not None

    # reading ----------------------------------------------------------------------------------
    def kinds(self, component: str | None = None) -> list[str]:
        return [a.kind for _, a in self.actions if component is None or a.incident.component == component]

    @property
    def notices(self) -> list[tuple[int, str]]:
        return [(i, a.notice) for i, a in self.actions if a.notice is not None]

    @property
    def incidents(self) -> set[int]:
        return {i for i, _ in self.actions}

    def health(self, check: str) -> str:
        return self.states[check].health

    def status(self, check: str) -> str:
        return self.states[check].status

    def changes(self, check: str) -> list[StateChanged]:
        return [e for e in self.events if isinstance(e, StateChanged) and e.check == check]

    def component_status(self, cid: str) -> str | None:
        return self._statuses.get(cid)


def run(sim: Sim, script: Iterable[tuple[Any, ...]]) -> Sim:
    """Steps: ("r", check, status) feed; ("t", seconds) move the clock; ("n", n, {check: status}, every) rounds."""
    for step in script:
        if step[0] == "r":
            sim.feed(step[1], step[2])
        elif step[0] == "t":
            sim.advance(step[1])
        elif step[0] == "n":
            for _ in range(step[1]):
                sim.round(step[2], every=step[3])
        else:  # pragma: no cover - a typo in a script
            raise ValueError(step)
    return sim
