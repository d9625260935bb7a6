"""The pure evaluator: `evaluate(state, result, now, spec) -> (state, events)` and `sweep`.

Every alerting rule about one check lives here, as arithmetic on counters, so each rule is
tested by feeding results and moving a clock:

- thresholds: `failure_threshold` down results in a row confirm down; the same number of
  not-up results confirm degraded; `success_threshold` results that are better confirm the
  recovery. A check never seen before is up on its first good result.
- fast re-check: while a transition is part-way (one failure of three), ask the caller to
  run the check again after `retry_interval`, so a 60 s check confirms in ~20 s, not 3 min.
- location quorum: each location keeps its own counters; the check is down when at least k
  of the n reporting locations are down (k = `quorum`, default a majority), degraded when
  some but fewer than k are, so one location's broken uplink is not a platform outage.
- flapping: `flap_changes` health changes inside `flap_window` declare the check flapping
  (one event); it is quiet again once it holds one health for a whole window.
- staleness: `sweep(state, now, ...)` marks a check that missed `stale_after_runs` runs as
  stale (shown unknown) without forgetting its health.
- unheard locations: `silence(state, locations, ...)` forgets what a location said once no
  node reports from it (monitor.rulebook.nodes): it counts towards no quorum, and its
  counters start again from unknown when a node reports from it again. A silent location is
  never a down vote.

No I/O, no clock: `now` is an argument.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from monitor.config.deciding import EvaluationSection
from monitor.core import cron
from monitor.core.results import Result
from monitor.core.spec import CheckSpec
from monitor.rulebook.check_events import Event, FlappingStarted, FlappingStopped, Recheck, StateChanged
from monitor.rulebook.check_state import (
    DEGRADED,
    DOWN,
    OUTCOMES,
    RECENT,
    UNKNOWN,
    UP,
    CheckState,
    LocationState,
    Probe,
    evidence_of,
)


@dataclass(frozen=True, slots=True)
class Rules:
    """Knobs shared by every check (config `evaluation:`); per-check knobs live on the spec."""

    flap_changes: int = 5
    flap_window: timedelta = timedelta(minutes=30)
    stale_after_runs: int = 3
    timezone: tzinfo = UTC  # cron checks are scheduled in this zone


DEFAULT_RULES = Rules()


_LETTER = {UP: "u", DEGRADED: "g", DOWN: "d"}  # CheckState.outcomes


def rules_for(section: EvaluationSection, zone: tzinfo) -> Rules:
    """The shared knobs as the config's `evaluation:` section sets them."""
    return Rules(
        flap_changes=section.flapping.changes,
        flap_window=section.flapping.window,
        stale_after_runs=section.stale_after_runs,
        timezone=zone,
    )


def new_state(check: str, now: datetime) -> CheckState:
    """The state of a check the monitor has never seen a result for."""
    return CheckState(check=check, since=now)


def evaluate(
    state: CheckState, result: Result, now: datetime, spec: CheckSpec, rules: Rules = DEFAULT_RULES
) -> tuple[CheckState, list[Event]]:
    """Fold one result into the state; return the new state and what the caller should do."""
    location = result.location
    before = state.locations.get(location, LocationState())
    loc = _step_location(before, str(result.status), result.started_at, spec)
    locations = {**state.locations, location: loc}
    health = combine(locations, now, spec, rules) or state.health
    events: list[Event] = []
    if loc.pending and (spec.cron is not None or spec.retry_interval < spec.interval):
        events.append(Recheck(spec.name, spec.retry_interval))
    failing = str(result.status) != UP
    new = dataclasses.replace(
        state,
        locations=locations,
        stale=False,
        last_result_at=result.started_at,
        evidence=evidence_of(result, spec.kind) if failing else state.evidence,
        recent=(*state.recent, Probe(result.started_at, str(result.status), result.latency_ms, result.message[:300]))[-RECENT:],
        outcomes=(state.outcomes + _LETTER.get(str(result.status), "d"))[-OUTCOMES:],
    )
    new = _with_health(new, health, now, rules, events)
    return _settle(state, new, now, rules, events)


def sweep(
    state: CheckState, now: datetime, spec: CheckSpec, rules: Rules = DEFAULT_RULES, *, maintenance: bool = False,
    quiet_for: timedelta | None = None,
) -> tuple[CheckState, list[Event]]:
    """Apply what the passing of time alone decides: staleness, maintenance, flapping's end.

    `quiet_for` is how long the check has been without a result by a monotonic clock, when
    the caller knows it: staleness is then judged by it, so a wall clock set an hour ahead
    does not make every check look silent (an hour back does not hide a silent one)."""
    events: list[Event] = []
    last = state.last_result_at
    seen = last + quiet_for if last is not None and quiet_for is not None else now
    stale = last is not None and seen > stale_deadline(last, spec, rules)
    if (stale, maintenance) == (state.stale, state.maintenance) and len(state.locations) <= 1 and not state.changes:
        return state, events  # the common case, thousands of times a sweep: nothing to do
    new = dataclasses.replace(state, stale=stale, maintenance=maintenance)
    if len(state.locations) > 1:  # a location that went quiet no longer counts towards quorum
        health = combine(state.locations, now, spec, rules)
        if health is not None:
            new = _with_health(new, health, now, rules, events)
    return _settle(state, new, now, rules, events)


def silence(
    state: CheckState, locations: frozenset[str], now: datetime, spec: CheckSpec, rules: Rules = DEFAULT_RULES
) -> tuple[CheckState, list[Event]]:
    """Stop counting `locations` (no node reports from them): their verdicts are dropped to
    unknown and the health is combined from the others. With no other location fresh the
    health stays as it was, until staleness shows the check unknown."""
    gone = [loc for loc in locations if loc in state.locations and state.locations[loc] != LocationState()]
    if not gone:
        return state, []
    events: list[Event] = []
    new = dataclasses.replace(state, locations={**state.locations, **{loc: LocationState() for loc in gone}})
    health = combine(new.locations, now, spec, rules)
    if health is not None:
        new = _with_health(new, health, now, rules, events)
    return _settle(state, new, now, rules, events)


def combine(locations: Mapping[str, LocationState], now: datetime, spec: CheckSpec, rules: Rules) -> str | None:
    """The check's health from its locations' healths (quorum); None when no location is fresh."""
    fresh = [
        ls for ls in locations.values()
        if ls.last_at is not None and now <= stale_deadline(ls.last_at, spec, rules)
    ]
    if not fresh:
        return None
    known = [ls.health for ls in fresh if ls.health != UNKNOWN]
    if not known:
        return UNKNOWN
    n = len(known)
    quorum = getattr(spec, "quorum", None)
    k = min(quorum or n // 2 + 1, n)
    downs = known.count(DOWN)
    if downs >= k:
        return DOWN
    if downs or DEGRADED in known:
        return DEGRADED
    return UP


def stale_deadline(last: datetime, spec: CheckSpec, rules: Rules) -> datetime:
    """After this moment without a new result, the check missed `stale_after_runs` runs."""
    if spec.cron:
        trigger = _cron(spec.cron, rules.timezone)
        when = last
        for _ in range(rules.stale_after_runs):
            nxt = trigger.get_next_fire_time(None, when + timedelta(microseconds=1))
            if nxt is None:
                break
            when = nxt
        return when + spec.timeout
    return last + spec.interval * rules.stale_after_runs + spec.timeout


def _cron(expr: str, zone: tzinfo) -> Any:
    # Same reading of the expression as monitor.scheduler, which schedules the runs.
    return cron.trigger(expr, zone)


def _step_location(ls: LocationState, status: str, at: datetime, spec: CheckSpec) -> LocationState:
    down, up = status == DOWN, status == UP
    ft, st = spec.failure_threshold, spec.success_threshold
    nxt = LocationState(
        health=ls.health,
        last_status=status,
        last_at=at,
        down_run=ls.down_run + 1 if down else 0,
        bad_run=ls.bad_run + 1 if not up else 0,
        notdown_run=ls.notdown_run + 1 if not down else 0,
        up_run=ls.up_run + 1 if up else 0,
        failing_since=None if up else (ls.failing_since or at),
    )
    h = ls.health
    if h != DOWN and nxt.down_run >= ft:
        h = DOWN
    elif h in (UP, UNKNOWN) and nxt.bad_run >= ft:
        h = DEGRADED
    elif h == DOWN and nxt.notdown_run >= st:
        h = UP if nxt.up_run >= st else DEGRADED
    elif h == DEGRADED and nxt.up_run >= st:
        h = UP
    elif h == UNKNOWN and up:
        h = UP  # nothing to recover from: the first good result is enough
    return dataclasses.replace(nxt, health=h)


def _with_health(state: CheckState, health: str, now: datetime, rules: Rules, events: list[Event]) -> CheckState:
    """Set the combined health, counting the change towards flapping."""
    failing_since = state.failing_since if health in (DOWN, DEGRADED) else None
    if failing_since is None:
        starts = [ls.failing_since for ls in state.locations.values() if ls.failing_since is not None]
        failing_since = min(starts) if starts else None
    if health == state.health:
        return dataclasses.replace(state, failing_since=failing_since)
    changes = state.changes
    if UNKNOWN not in (health, state.health):  # first verdicts are not flaps
        changes = (*changes, now)
    return dataclasses.replace(state, health=health, failing_since=failing_since, changes=changes)


def _settle(
    old: CheckState, new: CheckState, now: datetime, rules: Rules, events: list[Event]
) -> tuple[CheckState, list[Event]]:
    """Prune the flapping window, raise flapping events, and report a change of status."""
    changes = tuple(c for c in new.changes if c > now - rules.flap_window)
    flapping = new.flapping
    if not flapping and len(changes) >= rules.flap_changes:
        flapping = True
        events.append(FlappingStarted(new.check, now, len(changes)))
    elif flapping and not changes:
        flapping = False
        events.append(FlappingStopped(new.check, now))
    new = dataclasses.replace(new, changes=changes, flapping=flapping)
    if (new.status, new.health) != (old.status, old.health):
        new = dataclasses.replace(new, since=now)
        events.insert(0, StateChanged(new.check, now, old.status, new.status, old.health, new.health))
    return new, events
