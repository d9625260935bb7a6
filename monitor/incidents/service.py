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

Several nodes (monitor.store.leadership): only the leader decides, and every deciding
transaction is fenced by its term. Other nodes' results are read from the database by each
node's own sequence (monitor.store.intake: no late commit slips past), woken by NOTIFY and in
any case on every tick, so detection waits for the write, never for a poll. An elected
controller reads its own node's results back the same way (`fold_own` off): whatever it
decided from is then in the store, and the cursors saved with the states tell a successor
where to go on. A node that stops reporting is told to on-call as a monitor problem, and the
location no node reports from any more stops counting (monitor.rulebook.nodes), so its
checks there are unknown, not down. An elected leader never decides in memory when the
database refuses it: what it sent directly its successor could not know of, and would send
again; it waits for the database, or for a standby that reaches it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.core.aio import wait_event
from monitor.core.errors import Deposed
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
from monitor.rulebook import nodes as node_rules
from monitor.rulebook import notices
from monitor.rulebook.check_events import FlappingStarted, Recheck, StateChanged
from monitor.rulebook.check_state import CheckState
from monitor.rulebook.evaluate import evaluate, new_state, rules_for, silence, sweep
from monitor.rulebook.incident_book import OPENED, RESOLVED, Book
from monitor.rulebook.incidents import Holds, Policy, World, component_statuses, reconcile
from monitor.rulebook.maintenance import Occurrence, active_in, coverage, upcoming
from monitor.rulebook.topology import Topology, component_of
from monitor.store import incidents, intake, nodes, readout
from monitor.store import maintenance as holds
from monitor.store.engine import log_failure
from monitor.store.leadership import SOLE, Leader
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
        leader: Leader = SOLE,
        node: str | None = None,
        fold_own: bool = True,
    ) -> None:
        """`recheck(check, delay)` asks the scheduler for a fast re-check (the evaluator's
        Recheck event); `autorun` off leaves ticking to the caller (tests drive `tick()`).
        `leader`: decide only while it says so (a standby keeps nothing in memory; when it
        starts leading it loads everything from the database). `node` is this node's name;
        `fold_own`: fold this node's results as they come (the one process on SQLite) rather
        than read them back from the store like every other node's (an elected controller)."""
        self.store = store
        self.leader = leader
        self.node = node or config.monitor.location  # what the runtime names an `all` node
        self.fold_own = fold_own
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
        self._cursors: dict[str, int] = {}  # per node: the last number of its sequence folded in
        self._leading = False
        self._told_silent: set[str] = set()  # keys of silent-node notices committed
        self._observed: node_rules.Observed = {}  # when each node's row last changed, on our clock
        self.nodes: list[readout.NodeRecord] = []  # as read at the last tick
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
        self.silent_after = config.monitor.node_silent_after
        self.slo = SloTracker(config, self.topology)
        self._slo_loaded = False
        self._mirror = True
        self._wake.set()

    async def start(self) -> None:
        if self.leader is SOLE:  # one process deciding: it may decide in memory (unstored.py)
            journal = await asyncio.to_thread(DirectJournal, journal_path(self.config))
            self.unstored = Unstored(journal)
        if self.leader.is_leader:
            await self._take_over()
        if self.autorun:
            self._task = asyncio.create_task(self._run(), name="incidents")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if not self._leading:
            return
        try:
            await self.tick(save_all=True)
        except Deposed:
            pass  # the successor goes on from the states and cursors saved before
        except Exception as exc:
            log_failure(log, "final save of check states failed", exc)

    def wake(self) -> None:
        """Look again now (new results were written, leadership changed)."""
        self._wake.set()

    async def _take_over(self) -> None:
        """Start deciding: everything from the database, as the last leader saved it."""
        self.states, self._cursors = await asyncio.to_thread(self._load, self.clock.now())
        self._dirty, self._changed, self._notices = set(), set(), []
        self.slo = SloTracker(self.config, self.topology)
        self._slo_loaded = False
        self._mirror = True
        self._leading = True
        if self.leader is not SOLE:
            log.info("deciding (from %d saved check states)", len(self.states))
        await self.tick()

    def _resign(self, why: str) -> None:
        """Stop deciding; forget what only a leader needs (the next term reloads it)."""
        if self._leading:
            log.info("standing by: %s", why)
        self._leading = False
        self.states, self._cursors, self._observed = {}, {}, {}
        self._dirty, self._changed, self._notices = set(), set(), []

    def _load(self, now: datetime) -> tuple[dict[str, CheckState], dict[str, int]]:
        with self.store.session() as s:
            loaded = ledger.load_states(s, self.location)
            cursors = intake.load_cursors(s)
        states = {name: loaded.get(name) or new_state(name, now) for name in self.topology.specs}
        return states, cursors

    async def _run(self) -> None:
        interval = self.config.evaluation.sweep_interval.total_seconds()
        while True:
            await wait_event(self._wake, interval)
            self._wake.clear()
            try:
                if not self.leader.is_leader:
                    self._resign("another node is the leader")
                elif not self._leading:
                    await self._take_over()
                else:
                    await self.tick()
            except Deposed as exc:
                self._resign(str(exc))
            except Exception as exc:
                log_failure(log, "deciding failed; will retry", exc)
                await asyncio.sleep(min(interval * 2, 10))

    # results -------------------------------------------------------------------------------
    async def on_result(self, spec: CheckSpec, result: Result) -> None:
        if self.fold_own and self._leading:
            self._fold(spec, result)

    def _fold(self, spec: CheckSpec, result: Result, *, slo: bool = True) -> None:
        now = self.clock.now()
        state = self.states.get(spec.name) or new_state(spec.name, now)
        state, events = evaluate(state, result, now, spec, self.rules)
        if result.location in ("", self.location):
            self._seen[spec.name] = self.clock.monotonic()
        self.states[spec.name] = state
        self._dirty.add(spec.name)
        if slo:
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
        """Sweep, reconcile and persist once, in one transaction; then publish. Nothing
        unless this node is deciding (the loop starts and stops that)."""
        if not self._leading:
            return TickOutcome()
        async with self._lock:
            now = self.clock.now()
            first_slo = not self._slo_loaded
            active, sil, remote = await asyncio.to_thread(self._read, now)
            for result in remote:  # the nodes' probes, read back from the store
                if (spec := self.topology.specs.get(result.check)) is not None:
                    # The SLO series loaded in this same read already holds them.
                    self._fold(spec, result, slo=not first_slo)
            everything, covered = coverage(active)
            checks, comps = silences.silenced(sil)
            self._holds = Holds(everything, covered, checks, comps)
            self._observed = node_rules.observe(self._observed, self.nodes, now)
            unheard = frozenset(node_rules.unheard(self.nodes, now, self.silent_after, me=self.node,
                                                   observed=self._observed))
            mono = self.clock.monotonic()
            for name, spec in self.topology.specs.items():
                state = self.states.get(name) or new_state(name, now)
                if unheard & state.locations.keys():
                    quieted, events = silence(state, unheard, now, spec, self.rules)
                    if quieted is not state:
                        state = self.states[name] = quieted
                        self._dirty.add(name)
                    if any(isinstance(e, StateChanged) for e in events):
                        self._changed.add(name)
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
            silent = self._silent_notices(now)
            pending += silent
            self._changed, self._notices = set(), []
            due = save_all or changed or self.clock.monotonic() - self._last_saved >= self.config.evaluation.persist_interval.total_seconds()
            to_save = [self.states[n] for n in (dirty if due else changed) if n in self.states]
            if due:
                self._dirty = set()
            world = World(self.topology, dict(self.states), self.policy, self._holds,
                          detected=self.unstored.detected(now) if self.unstored else {})
            cursors = dict(self._cursors) if due else None
            try:
                out = await asyncio.to_thread(self._transaction, now, self.config, world, to_save, pending, active,
                                              cursors)
            except Exception as exc:
                self._changed |= changed
                self._dirty |= dirty
                self._notices = [n for n in pending if n not in silent] + self._notices
                if self.unstored is None or isinstance(exc, Deposed) or not refused(exc):
                    raise
                log.debug("deciding transaction refused: %s", exc)
                out = TickOutcome(unstored=await asyncio.to_thread(self._decide_unstored, world, now))
            else:
                self._told_silent.update(n.key for n in silent)
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

    def _silent_notices(self, now: datetime) -> list[Notice]:
        """A monitor problem for each node newly silent (once per silence: by key)."""
        out = []
        for q in node_rules.silent(self.nodes, now, self.silent_after, me=self.node, observed=self._observed):
            notice = node_rules.silent_notice(q, now, self.config.monitor.tz, self.silent_after)
            if notice.key in self._told_silent:
                continue
            log.warning("%s", notice.title, extra={"event": "node.silent", "fields": {
                "node": q.name, "role": q.role, "location": q.location, "since": q.since.isoformat()}})
            out.append(notice)
        return out

    def _held_check(self, name: str | None) -> bool:
        spec = self.topology.specs.get(name or "")
        return spec is not None and self._holds.holds(component_of(spec), (spec.name,))

    def _decide_unstored(self, world: World, now: datetime) -> int:
        """The transaction was refused: decide in memory and send directly (see unstored.py)."""
        assert self.unstored is not None

        def load_book() -> Book:
            with self.store.session() as s:
                return ledger.load_book(s, lock=False, now=now)

        return self.unstored.decide(load_book, world, now, self.config)

    def _read(self, now: datetime) -> tuple[list[Occurrence], list[Any], list[Result]]:
        """What the tick needs from the database before deciding: maintenance windows,
        silences, the nodes, and the results they wrote since the last tick (each node's
        head is read first, so everything up to it is committed)."""
        with self.store.session() as s:
            windows = holds.current_windows(s)
            sil = holds.active_silences(s, now)
            if not self._slo_loaded:
                self.slo.load(s, now)
                self._slo_loaded = True
            self.nodes = nodes.listing(s.connection())
            skip = (self.node,) if self.fold_own and self.node else ()
            self._cursors, remote = intake.read_new(
                s, self._cursors, nodes.heads(self.nodes), skip=skip, batch=REMOTE_BATCH
            )
        return active_in(windows, now), sil, remote

    def _transaction(
        self,
        now: datetime,
        config: Config,
        world: World,
        to_save: list[CheckState],
        pending: list[Notice],
        active: list[Occurrence],
        cursors: dict[str, int] | None,
    ) -> TickOutcome:
        out = TickOutcome()
        with self.store.session() as s:
            # Only the current term's leader writes (a deposed one is refused here, and a
            # successor's term waits for this transaction); and deciders on one database
            # (the CLI too) take turns, so outbox keys match.
            self.leader.fence(s.connection())
            incidents.lock_deciding(s)
            outgoing = list(pending)
            if self._mirror:
                for row in maintenance.mirror_config(s, config, now):
                    outgoing += self._scheduled(row, now)
            book = ledger.load_book(s, now=now)
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
            if cursors is not None:  # with every state saved: a successor goes on from here
                intake.save_cursors(s, cursors)
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
