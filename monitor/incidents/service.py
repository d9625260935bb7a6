"""The deciding service: every result through the evaluator, every decision into the database.

    on_result   evaluate (pure, in the event loop, microseconds); ask for a fast re-check;
                wake the ticker when a state changed
    tick        one transaction: sweep (staleness, maintenance), reconcile incidents, write
                incident and timeline rows, component status, changed check states and the
                notices for all of it; then publish bus topics. Runs when woken and every
                `evaluation.sweep_interval` of real time (the logic itself reads `now` from
                the injected clock, so tests drive `tick()` with a FakeClock).

When the database refuses the transaction (a full disk), deciding goes on in memory and the
notices go out directly (monitor/incidents/unstored.py); the next transaction that works
stores those decisions first, with their own times, and their messages as already sent.

Check states are saved on every transition (with the incident change they cause) and
otherwise at most every `evaluation.persist_interval`, so probing stays batched. Incidents
are re-read from the database on every tick: a restart, or an `ack` from the CLI in another
process, is simply what the next tick sees.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.core.aio import wait_event
from monitor.core.events import (
    INCIDENT_OPENED,
    INCIDENT_RESOLVED,
    INCIDENT_UPDATED,
    MAINTENANCE_ENDED,
    MAINTENANCE_SCHEDULED,
    MAINTENANCE_STARTED,
    Notice,
)
from monitor.core.results import Result
from monitor.core.spec import CheckSpec
from monitor.incidents import ledger, maintenance, silences
from monitor.incidents.slo_tracker import SloTracker
from monitor.incidents.unstored import Unstored, journal_path, refused
from monitor.rulebook import notices
from monitor.rulebook.check_events import FlappingStarted, Recheck, StateChanged
from monitor.rulebook.check_state import CheckState
from monitor.rulebook.evaluate import evaluate, new_state, rules_for, sweep
from monitor.rulebook.incident_book import OPENED, RESOLVED, Book
from monitor.rulebook.incidents import Holds, Policy, World, component_statuses, reconcile
from monitor.rulebook.maintenance import Occurrence, active_in, coverage, upcoming
from monitor.rulebook.topology import Topology, component_of
from monitor.store import incidents, results
from monitor.store import maintenance as holds
from notifiers.direct import DirectJournal
from notifiers.outbox import enqueue

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.core.bus import Bus
    from monitor.core.clock import Clock
    from monitor.store import Store

log = logging.getLogger(__name__)

SLO_EVERY = timedelta(seconds=60)
REMOTE_BATCH = 5000
SCHEDULED_HORIZON = timedelta(days=7)
# A first result (unknown -> up) is not news; a check going down is.
_CHECK_LEVELS = {("unknown", "up"): logging.DEBUG, **{(s, "down"): logging.WARNING for s in ("up", "degraded", "unknown")}}
_INCIDENT_EVENT = {OPENED: INCIDENT_OPENED, RESOLVED: INCIDENT_RESOLVED}  # log event names; others: updated


@dataclasses.dataclass
class TickOutcome:
    incidents: set[int] = dataclasses.field(default_factory=set)
    components: list[str] = dataclasses.field(default_factory=list)
    outbox_rows: int = 0
    unstored: int = 0  # decisions waiting for the database (it refused this transaction)


class IncidentService:
    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        clock: Clock,
        bus: Bus,
        recheck: Callable[[str, timedelta], None],
        autorun: bool = True,
    ) -> None:
        """`recheck(check, delay)` asks the scheduler for a fast re-check (the evaluator's
        Recheck event); `autorun` off leaves ticking to the caller (tests drive `tick()`)."""
        self.store = store
        self.clock = clock
        self.bus = bus
        self.recheck = recheck
        self.autorun = autorun
        self.states: dict[str, CheckState] = {}
        self._dirty: set[str] = set()  # states changed since the last save
        self._changed: set[str] = set()  # states whose status changed since the last tick
        self._notices: list[Notice] = []  # check-level notices (flapping) for the next tick
        self._seen: dict[str, float] = {}  # check -> monotonic time of its last local result (staleness)
        self._holds = Holds()
        self._occurrences: dict[tuple[int, datetime], Occurrence] | None = None  # active at the last tick
        self._mirror = True
        self._last_saved = self.clock.monotonic()
        self._last_slo: datetime | None = None
        self._cursor: int | None = None  # newest check_result id seen from other locations
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0
        self.unstored: Unstored | None = None  # made at start, while the disk has room for the journal
        self.on_config(config)

    # lifecycle -----------------------------------------------------------------------------
    def on_config(self, config: Config) -> None:
        self.config = config
        specs = [c for c in config.checks if c.enabled]
        self.topology = Topology.build(specs, config.components)
        self.rules = rules_for(config.evaluation, config.monitor.tz)
        self.policy = Policy(
            resolve_after=config.incidents.resolve_after,
            open_on_degraded=config.incidents.open_on_degraded,
            network_component=config.incidents.network_component,
            language=config.monitor.language,
        )
        self.location = config.monitor.location
        # Checks probed from other locations too: their results reach us through the database.
        self._remote = any(set(s.locations) - {self.location} for s in specs)
        self.slo = SloTracker(config, self.topology)
        self._slo_loaded = False
        self._mirror = True
        self._wake.set()

    async def start(self) -> None:
        journal = await asyncio.to_thread(DirectJournal, journal_path(self.config))
        self.unstored = Unstored(journal)
        now = self.clock.now()
        self.states = await asyncio.to_thread(self._load_states, now)
        await self.tick()
        if self.autorun:
            self._task = asyncio.create_task(self._run(), name="incidents")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await self.tick(save_all=True)
        except Exception:
            log.exception("final save of check states failed")

    def _load_states(self, now: datetime) -> dict[str, CheckState]:
        with self.store.session() as s:
            loaded = ledger.load_states(s, self.location)
        return {name: loaded.get(name) or new_state(name, now) for name in self.topology.specs}

    async def _run(self) -> None:
        interval = self.config.evaluation.sweep_interval.total_seconds()
        while True:
            await wait_event(self._wake, interval)
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("deciding failed; will retry")
                await asyncio.sleep(min(interval * 2, 10))

    # results -------------------------------------------------------------------------------
    async def on_result(self, spec: CheckSpec, result: Result) -> None:
        self._fold(spec, result)

    def _fold(self, spec: CheckSpec, result: Result) -> None:
        now = self.clock.now()
        state = self.states.get(spec.name) or new_state(spec.name, now)
        state, events = evaluate(state, result, now, spec, self.rules)
        if result.location in ("", self.location):
            self._seen[spec.name] = self.clock.monotonic()
        self.states[spec.name] = state
        self._dirty.add(spec.name)
        self.slo.add(spec, result, self._holds.in_maintenance)
        for ev in events:
            if isinstance(ev, Recheck):
                self.recheck(ev.check, ev.delay)
            elif isinstance(ev, StateChanged):
                self._changed.add(ev.check)
                self._wake.set()
                if ev.old_status != ev.new_status:
                    log.log(_CHECK_LEVELS.get((ev.old_status, ev.new_status), logging.INFO),
                            "check %s is %s (was %s): %s", ev.check, ev.new_status, ev.old_status,
                            result.message[:300] or "-", extra={"event": f"check.{ev.new_status}", "fields": {
                                "check": ev.check, "status": ev.new_status, "was": ev.old_status,
                                "component": spec.component, "location": result.location}})
            elif isinstance(ev, FlappingStarted):
                self._notices.append(self._flapping(spec, state, ev))
                self._wake.set()

    def _flapping(self, spec: CheckSpec, state: CheckState, ev: FlappingStarted) -> Notice:
        extra: dict[str, Any] = {"last_results": [p.to_json() for p in state.recent], "health": state.health}
        if spec.runbook:
            extra["runbook"] = spec.runbook
        return notices.flapping(
            spec.name, spec.component, ev.at, ev.changes, self.rules.flap_window.total_seconds(), extra
        )

    # the tick ------------------------------------------------------------------------------
    async def tick(self, *, save_all: bool = False) -> TickOutcome:
        """Sweep, reconcile and persist once, in one transaction; then publish."""
        async with self._lock:
            now = self.clock.now()
            active, sil, remote = await asyncio.to_thread(self._read, now)
            for result in remote:  # other locations' probes, written by their nodes
                if (spec := self.topology.specs.get(result.check)) is not None:
                    self._fold(spec, result)
            everything, covered = coverage(active)
            checks, comps = silences.silenced(sil)
            self._holds = Holds(everything, covered, checks, comps)
            mono = self.clock.monotonic()
            for name, spec in self.topology.specs.items():
                state = self.states.get(name) or new_state(name, now)
                seen = self._seen.get(name)
                swept, events = sweep(
                    state, now, spec, self.rules, maintenance=self._holds.in_maintenance(component_of(spec)),
                    quiet_for=timedelta(seconds=mono - seen) if seen is not None and len(state.locations) <= 1 else None,
                )
                if swept is not state:
                    self.states[name] = swept
                    self._dirty.add(name)
                if any(isinstance(e, StateChanged) for e in events):
                    self._changed.add(name)
            changed, dirty = self._changed, self._dirty
            pending = [n for n in self._notices if not self._held_check(n.data.get("check"))]
            self._changed, self._notices = set(), []
            due = save_all or changed or self.clock.monotonic() - self._last_saved >= self.config.evaluation.persist_interval.total_seconds()
            to_save = [self.states[n] for n in (dirty if due else changed) if n in self.states]
            if due:
                self._dirty = set()
            world = World(self.topology, dict(self.states), self.policy, self._holds,
                          detected=self.unstored.detected(now) if self.unstored else {})
            try:
                out = await asyncio.to_thread(self._transaction, now, self.config, world, to_save, pending, active)
            except Exception as exc:
                self._changed |= changed
                self._dirty |= dirty
                self._notices = pending + self._notices
                if self.unstored is None or not refused(exc):
                    raise
                log.debug("deciding transaction refused: %s", exc)
                out = TickOutcome(unstored=await asyncio.to_thread(self._decide_unstored, world, now))
            if due:
                self._last_saved = self.clock.monotonic()
            self.ticks += 1
        bus = self.bus
        for name in sorted(changed):
            bus.publish("state_changed", name)
        for iid in sorted(out.incidents):
            bus.publish("incident_changed", iid)
        for cid in out.components:
            bus.publish("component_changed", cid)
        if out.outbox_rows:
            bus.publish("outbox_added")
        return out

    def _held_check(self, name: str | None) -> bool:
        spec = self.topology.specs.get(name or "")
        return spec is not None and self._holds.holds(component_of(spec), (spec.name,))

    def _decide_unstored(self, world: World, now: datetime) -> int:
        """The transaction was refused: decide in memory and send directly (see unstored.py)."""
        assert self.unstored is not None

        def load_book() -> Book:
            with self.store.session() as s:
                return ledger.load_book(s, lock=False)

        return self.unstored.decide(load_book, world, now, self.config)

    def _read(self, now: datetime) -> tuple[list[Occurrence], list[Any], list[Result]]:
        """What the tick needs from the database before deciding: maintenance windows,
        silences, and results other locations wrote since the last tick."""
        with self.store.session() as s:
            windows = holds.current_windows(s)
            sil = holds.active_silences(s, now)
            if not self._slo_loaded:
                self.slo.load(s, now)
                self._slo_loaded = True
            remote: list[Result] = []
            if self._remote:
                self._cursor, remote = results.from_other_locations(s, self._cursor, self.location, batch=REMOTE_BATCH)
        return active_in(windows, now), sil, remote

    def _transaction(
        self,
        now: datetime,
        config: Config,
        world: World,
        to_save: list[CheckState],
        pending: list[Notice],
        active: list[Occurrence],
    ) -> TickOutcome:
        out = TickOutcome()
        with self.store.session() as s:
            # Two controllers on one database decide one at a time, so the second sees the
            # first's incident instead of opening its own (outbox keys then match too).
            incidents.lock_deciding(s)
            outgoing = list(pending)
            if self._mirror:
                for row in maintenance.mirror_config(s, config, now):
                    outgoing += self._scheduled(row, now)
            book = ledger.load_book(s)
            unstored = self.unstored
            kept = unstored.pending() if unstored is not None else []
            if unstored is not None and unstored.book is not None:
                book = unstored.book  # decided in memory while the database refused writes
            book, actions = reconcile(book, world, now)
            written = ledger.write_actions(s, [*kept, *actions])
            sent: dict[str, Any] = {}
            for action, iid, eid in written.entries:
                notice = notices.for_action(action, iid, eid)
                if notice is not None:
                    if unstored is not None:
                        notice, sent[notice.key] = unstored.stored_as(action, notice)
                    outgoing.append(notice)
            out.incidents = written.incident_ids
            out.components = incidents.write_component_statuses(s, component_statuses(world, book, now), now)
            ledger.save_states(s, to_save, self.location)
            outgoing += self._maintenance_notices(active, now)
            if self._last_slo is None or now - self._last_slo >= SLO_EVERY:
                outgoing += self.slo.evaluate(s, now)
            out.outbox_rows = sum(enqueue(s, n, config, sent=sent.get(n.key)) for n in outgoing)
            s.commit()
        if unstored is not None:
            unstored.stored(now)
        for action, iid, _eid in written.entries:  # one line per incident change, once committed
            view = action.incident
            log.log(logging.WARNING if action.kind == OPENED else logging.INFO,
                    "incident %d %s (%s, %s): %s", iid, action.kind, view.component, view.status,
                    action.message[:300] or view.title, extra={"event": _INCIDENT_EVENT.get(action.kind, INCIDENT_UPDATED),
                    "fields": {"incident": iid, "action": action.kind, "component": view.component,
                               "status": view.status, "impact": view.impact, "title": view.title}})
        self._mirror = False
        if self._last_slo is None or now - self._last_slo >= SLO_EVERY:
            self._last_slo = now
        self._occurrences = {(o.window_id, o.starts_at): o for o in active}
        return out

    def _maintenance_notices(self, active: list[Occurrence], now: datetime) -> list[Notice]:
        names = self._component_names
        out = []
        current = {(o.window_id, o.starts_at): o for o in active}
        previous = self._occurrences or {}
        for key, occ in current.items():
            if self._occurrences is None or key not in previous:
                out.append(notices.maintenance(MAINTENANCE_STARTED, occ, now, names(occ.components)))
        for key, occ in previous.items():
            if key not in current:
                out.append(notices.maintenance(MAINTENANCE_ENDED, occ, now, names(occ.components)))
        return out

    def _scheduled(self, row: Any, now: datetime) -> list[Notice]:
        coming = upcoming(row, now, SCHEDULED_HORIZON)
        if not coming:
            return []
        occ = coming[0]
        return [notices.maintenance(MAINTENANCE_SCHEDULED, occ, now, self._component_names(occ.components))]

    def _component_names(self, ids: tuple[str, ...]) -> str:
        return maintenance.components_text(ids, self.config)
