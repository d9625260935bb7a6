"""The incident engine: `reconcile(book, world, now) -> (book, actions)`. Pure.

It looks at every check's confirmed health (levels, not edges, so a restart or a missed
event cannot leave an incident behind) and decides, per component:

- open: a component has a failing check (down; degraded too when open_on_degraded) that is
  not explained by something else. One open incident per component, ever.
- inhibit: while a `role: baseline` check (our own network) is down, no platform incident
  opens; one "local network" incident does, listing the failing platform checks as symptoms.
- fold: a check whose dependency is down (explicit depends_on, or the implicit login rule in
  topology.py) joins the dependency's incident as a symptom. A folded check stays with that
  incident until it resolves, so the seconds it takes to recover after its root do not open
  a second incident.
- group: when checks of several components of one platform fail together on the same
  evidence (the same platform-wide probable cause: slow or busy, server errors, unreachable,
  maintenance), they make one platform incident (kind platform, keyed "platform:NAME") that
  names the components it affects: one page, one announcement, and an update when another
  component joins. A component incident already open becomes the platform incident (same id)
  when a second component fails like it; a component of an open platform incident stays with
  it. While a check of another component of the platform is failing unconfirmed on the same
  evidence, opening waits for it (bounded like the dependency wait).
- release: a symptom resolves with its root. It leaves the root's incident only when it fails
  on evidence taken after the root recovered (then it is an incident of its own); a symptom
  that closed with its root opens nothing until it fails on evidence taken after that
  recovery (`Book.released`), so a slow check's last failures from during the fault are not
  a new incident.
- intermittent: a down check whose recent results mix successes between its failures shows
  its component as a partial outage (never a major one), with the share of failed runs in the
  title.
- wait: while the baseline or a dependency is failing but not yet confirmed, opening waits
  (bounded by the time that confirmation takes), so the order probes happen to run in does
  not decide who gets blamed.
- recover: when every check of an incident is up again it moves to monitoring; after
  `resolve_after` without a relapse it resolves. Failing again first is a relapse of the
  same incident, not a new one.
- hold: maintenance keeps incidents from opening and holds alerts; a silence holds alerts
  only. A held incident is announced when the hold lifts (if it is still open); one never
  announced is resolved silently.
- by hand: an incident resolved by hand while its checks still fail stays resolved until
  they have recovered once.
- removed: a check that left the config (removed, or disabled) leaves its incidents with a
  "removed from config" entry, never as a recovery; an incident left with none of its own
  checks is closed as removed (the resolved notice says so, and that it is not a recovery).
- unstored: an opening already told to on-call while the database refused writes
  (`World.detected`, from the direct-delivery journal after a restart) keeps that detection
  time when the incident is finally opened.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.core.durations import format_duration
from monitor.core.events import (
    IDENTIFIED,
    INCIDENT_DEGRADED,
    INCIDENT_OPENED,
    INCIDENT_RESOLVED,
    INCIDENT_UPDATED,
    INVESTIGATING,
    MONITORING,
)
from monitor.core.events import RESOLVED as STATUS_RESOLVED
from monitor.core.text import names_in, text_in
from monitor.rulebook import cause as cause_rules
from monitor.rulebook import components as comp_rules
from monitor.rulebook.check_state import DEGRADED, DOWN, UNKNOWN, UP, CheckState, evidence_at, intermittent
from monitor.rulebook.incident_book import (
    ANNOUNCED,
    COMPONENT,
    EMPTY_BOOK,
    GROUPED,
    IMPACT,
    JOINED,
    NETWORK,
    OPENED,
    PLATFORM,
    PLATFORM_PREFIX,
    REASON_REMOVED,
    RECOVERED,
    RELAPSED,
    RELEASED,
    REMOVED,
    RESOLVED,
    SYMPTOM,
    Action,
    Book,
    IncidentView,
    new_incident,
)
from monitor.rulebook.topology import Topology, component_of


@dataclass(frozen=True, slots=True)
class Policy:
    resolve_after: timedelta = timedelta(minutes=10)
    open_on_degraded: bool = True
    network_component: str = "network"
    language: str = "zh-CN"


@dataclass(frozen=True, slots=True)
class Holds:
    """What holds alerts right now: maintenance (also keeps incidents from opening) and silences."""

    maintenance_all: bool = False
    maintenance: frozenset[str] = frozenset()
    silenced_checks: frozenset[str] = frozenset()
    silenced_components: frozenset[str] = frozenset()

    def in_maintenance(self, component: str) -> bool:
        return self.maintenance_all or component in self.maintenance

    def holds(self, component: str, checks: tuple[str, ...]) -> bool:
        if self.in_maintenance(component) or component in self.silenced_components:
            return True
        return bool(checks) and all(c in self.silenced_checks for c in checks)


NO_HOLDS = Holds()


@dataclass(frozen=True)
class World:
    topology: Topology
    states: Mapping[str, CheckState]
    policy: Policy = Policy()
    holds: Holds = NO_HOLDS
    extra: Mapping[str, Any] = field(default_factory=dict)
    # component -> (started_at, detected_at) of an opening on-call was already told of
    detected: Mapping[str, tuple[datetime, datetime]] = field(default_factory=dict)


def reconcile(book: Book, world: World, now: datetime) -> tuple[Book, list[Action]]:
    """Decide every incident change implied by the checks' states at `now`."""
    p = _Pass(book, world, now)
    p.run()
    return Book(p.open, p.last_resolved, p.released), _grouped_updates(p.actions)


def _grouped_updates(actions: list[Action]) -> list[Action]:
    """One update per incident per pass: when several changes of one incident deserve an
    update (another component joined and it failed again), on-call hear the last, which
    carries them all."""
    last: dict[object, int] = {}
    for i, a in enumerate(actions):
        if a.notice == INCIDENT_UPDATED:
            last[a.incident.id if a.incident.id is not None else a.incident.component] = i
    return [a if a.notice != INCIDENT_UPDATED or last[a.incident.id if a.incident.id is not None else a.incident.component] == i
            else dataclasses.replace(a, notice=None) for i, a in enumerate(actions)]


def component_statuses(world: World, book: Book = EMPTY_BOOK, now: datetime | None = None) -> dict[str, str | None]:
    """Status of every configured component (None: nothing reporting, keep the last).

    Only what is observed of the component itself counts: a failing check is left out while
    our network is down, while a check it depends on is down or failing unconfirmed (`now`
    given), and while it is a symptom of an open incident of another component (`book`), so
    the seconds it takes to recover after its root do not show an outage of its own."""
    topo = world.topology
    net_down = any(_health(world, n) == DOWN for n in topo.baselines)
    symptoms = {s for inc in book.open.values() for s in inc.symptoms}
    p = _Pass(book, world, now) if now is not None else None
    out: dict[str, str | None] = {}
    for cid in topo.components:
        healths = []
        for n in topo.by_component.get(cid, ()):
            spec = topo.specs[n]
            h = _health(world, n)
            if h in (DOWN, DEGRADED) and spec.role != "baseline" and (
                net_down or n in symptoms or _excused(book, world, n)
                or (p is not None and (p.root_of(n) is not None or p.dep_doubt(n)))
            ):
                continue
            healths.append((_shown(world, n), spec.weight))
        out[cid] = comp_rules.derive(healths, maintenance=world.holds.in_maintenance(cid))
    return out


def _health(world: World, name: str) -> str:
    st = world.states.get(name)
    return st.fresh_health if st is not None else UNKNOWN


def _shown(world: World, name: str) -> str:
    """The health a component is derived from: a down check failing intermittently counts as
    partial (some of its runs work), never as a whole outage."""
    h = _health(world, name)
    st = world.states.get(name)
    return comp_rules.PARTIAL if h == DOWN and st is not None and intermittent(st) is not None else h


def _excused(book: Book, world: World, name: str) -> bool:
    """A symptom that closed with its root, still failing only on evidence from before the root
    recovered."""
    cutoff = book.released.get(name)
    st = world.states.get(name)
    if cutoff is None or st is None:
        return False
    at = evidence_at(st)
    return at is None or at <= cutoff


# Probable causes that, shared by several components of one platform, are one fault of the platform.
PLATFORM_CAUSES = frozenset({cause_rules.OVERLOADED, cause_rules.SERVER_ERROR, cause_rules.UNREACHABLE,
                             cause_rules.MAINTENANCE})


_WORDS = {
    "zh-CN": {
        comp_rules.MAJOR_OUTAGE: "服务中断",
        comp_rules.PARTIAL_OUTAGE: "部分功能中断",
        comp_rules.DEGRADED_PERFORMANCE: "性能下降",
        NETWORK: "本地网络故障（非平台问题）",
        "intermittent": "（间歇失败：最近 {runs} 次运行中 {failed} 次失败，{rate}%）",
    },
    "en": {
        comp_rules.MAJOR_OUTAGE: "major outage",
        comp_rules.PARTIAL_OUTAGE: "partial outage",
        comp_rules.DEGRADED_PERFORMANCE: "degraded performance",
        NETWORK: "Local network problem (not the platform)",
        "intermittent": " (intermittent: {failed} of the last {runs} runs failed, {rate}%)",
    },
}


class _Pass:
    def __init__(self, book: Book, world: World, now: datetime) -> None:
        self.w = world
        self.t = world.topology
        self.pol = world.policy
        self.now = now
        self.open: dict[str, IncidentView] = dict(book.open)
        self.last_resolved: dict[str, datetime] = dict(book.last_resolved)
        self.released: dict[str, datetime] = dict(book.released)
        self.book = book
        self.actions: list[Action] = []

    # health helpers -------------------------------------------------------------------
    def health(self, name: str) -> str:
        return _health(self.w, name)

    def counts(self, name: str) -> bool:
        """Failing in a way that warrants an incident."""
        h = self.health(name)
        return h == DOWN or (h == DEGRADED and self.pol.open_on_degraded)

    def ok(self, name: str) -> bool:
        if name not in self.t.specs:
            return True  # removed from the config: it cannot keep an incident open
        h = self.health(name)
        return h == UP or (h == DEGRADED and not self.pol.open_on_degraded)

    def doubt(self, name: str) -> bool:
        """Failing but not confirmed yet, recently enough that confirmation may still come."""
        st = self.w.states.get(name)
        spec = self.t.specs.get(name)
        if st is None or spec is None or st.stale or not st.pending or st.failing_since is None:
            return False
        step = min(spec.retry_interval, spec.interval)
        return self.now - st.failing_since <= step * spec.failure_threshold + spec.timeout

    def root_of(self, name: str, seen: frozenset[str] = frozenset()) -> str | None:
        """The topmost down dependency of a check, if any."""
        for dep in self.t.deps.get(name, ()):
            if dep in seen or dep not in self.t.specs:
                continue
            if self.health(dep) == DOWN:
                return self.root_of(dep, seen | {name}) or dep
        return None

    def dep_doubt(self, name: str, seen: frozenset[str] = frozenset()) -> bool:
        for dep in self.t.deps.get(name, ()):
            if dep in seen or dep not in self.t.specs:
                continue
            if self.doubt(dep) or self.dep_doubt(dep, seen | {name}):
                return True
        return False

    def flapping(self, inc: IncidentView) -> bool:
        return any(st.flapping for c in inc.checks if (st := self.w.states.get(c)) is not None)

    # the pass ----------------------------------------------------------------------------
    def run(self) -> None:
        specs = self.t.specs
        net_down = [n for n in self.t.baselines if self.health(n) == DOWN]
        net_doubt = any(self.doubt(n) for n in self.t.baselines)
        for comp in list(self.open):
            self.release(comp)
        attached = {s for inc in self.open.values() for s in inc.symptoms}
        netcomp = self.pol.network_component
        own: dict[str, list[str]] = {}
        folded: dict[str, list[str]] = {}
        for name, spec in specs.items():
            if spec.role == "baseline" or not self.counts(name):
                continue
            if net_down:
                folded.setdefault(netcomp, []).append(name)
            elif (root := self.root_of(name)) is not None:
                folded.setdefault(self.key_of(component_of(specs[root])), []).append(name)
            elif name not in attached and not _excused(self.book, self.w, name):
                own.setdefault(component_of(spec), []).append(name)
        for comp in list(self.open):
            self.prune(comp)
        touched: set[str] = set()
        if net_down:
            self.ensure(netcomp, NETWORK, net_down, folded.get(netcomp, []), wait=False)
            touched.add(netcomp)
        for key, (plat, cause, comps) in self.platform_groups(own).items():
            members = [m for c in comps for m in own.pop(c, [])]
            for c in comps:
                folded.setdefault(key, []).extend(folded.pop(c, []))
            wait = net_doubt or any(self.dep_doubt(m) for m in members) or self.peer_doubt(plat, cause, comps)
            self.ensure(key, PLATFORM, members, folded.get(key, []), wait=wait, group=(plat, cause, tuple(comps)))
            touched.add(key)
        for comp, members in own.items():
            sig = self.signature(members) if comp not in self.open else None
            wait = net_doubt or any(self.dep_doubt(m) for m in members) or (
                sig is not None and self.peer_doubt(sig[0], sig[1], [comp]))
            self.ensure(comp, COMPONENT, members, folded.get(comp, []), wait=wait)
            touched.add(comp)
        for comp, syms in folded.items():
            if comp not in touched:  # the root's incident exists but its own checks are not failing
                self.fold(comp, syms)
        for comp in list(self.open):
            if comp not in touched:
                self.settle(comp)
        for inc in list(self.open.values()):
            if not inc.notified and not self.held(inc):
                self.act(ANNOUNCED, inc, "announced: alerts were held when it opened", inc.root_check)

    # grouping ------------------------------------------------------------------------------
    def signature(self, members: list[str]) -> tuple[str, str] | None:
        """(platform, probable cause) that every one of these failing checks shares, if a
        platform-wide one."""
        sigs = set()
        for m in members:
            plat = self.t.platform_of(m)
            st = self.w.states.get(m)
            cause = ((st.evidence or {}).get("cause") or {}).get("kind") if st is not None else None
            if plat is None or cause not in PLATFORM_CAUSES:
                return None
            sigs.add((plat, str(cause)))
        return sigs.pop() if len(sigs) == 1 else None

    def platform_incident_of(self, comp: str) -> IncidentView | None:
        return next((i for i in self.open.values() if i.kind == PLATFORM and comp in i.affected), None)

    def key_of(self, comp: str) -> str:
        """Where a symptom of `comp` goes: the platform incident `comp` is part of, else its own."""
        inc = self.platform_incident_of(comp)
        return inc.component if inc is not None else comp

    def platform_groups(self, own: Mapping[str, list[str]]) -> dict[str, tuple[str, str, list[str]]]:
        """key -> (platform, cause, components) of the platform incidents the failing
        components make: those of an open platform incident stay with it; two or more failing
        on the same platform-wide evidence make one (with at most one component incident
        already open among them: it becomes the platform incident)."""
        out: dict[str, tuple[str, str, list[str]]] = {}
        alike: dict[tuple[str, str], list[str]] = {}
        for comp, members in own.items():
            inc = self.platform_incident_of(comp)
            if inc is not None:
                assert inc.platform is not None and inc.cause is not None
                out.setdefault(inc.component, (inc.platform, inc.cause, list(inc.affected)))
                continue
            current = self.open.get(comp)
            if current is not None and current.kind != COMPONENT:
                continue
            sig = self.signature(members)
            if sig is not None:
                alike.setdefault(sig, []).append(comp)
        for (plat, cause), comps in alike.items():
            key = PLATFORM_PREFIX + plat
            inc = self.open.get(key)
            if inc is not None:
                if inc.cause == cause and key in out:
                    out[key][2].extend(c for c in comps if c not in out[key][2])
                elif inc.cause == cause:
                    out[key] = (plat, cause, [*inc.affected, *(c for c in comps if c not in inc.affected)])
                continue  # another fault of the platform has its incident: these go on their own
            order = list(self.t.components)
            comps = sorted(comps, key=lambda c: (order.index(c) if c in order else len(order), c))
            opened = sorted((c for c in comps if c in self.open), key=lambda c: (self.open[c].started_at, c))
            comps = [c for c in comps if c not in self.open or c == (opened[0] if opened else None)]
            if len(comps) >= 2:
                out[key] = (plat, cause, comps)
        return out

    def peer_doubt(self, platform: str, cause: str, comps: list[str]) -> bool:
        """A check of another component of the platform is failing, unconfirmed yet, on the
        same evidence: opening waits for it, so one fault is told once."""
        for name in self.t.specs:
            spec = self.t.specs[name]
            if component_of(spec) in comps or spec.role == "baseline" or self.t.platform_of(name) != platform:
                continue
            st = self.w.states.get(name)
            if st is None or self.counts(name) or not self.doubt(name):
                continue
            if ((st.evidence or {}).get("cause") or {}).get("kind") == cause:
                return True
        return False

    def release(self, comp: str) -> None:
        """Symptoms failing on evidence taken after the root recovered leave the incident."""
        inc = self.open[comp]
        if inc.recovered_at is None or not inc.symptoms:
            return
        for s in inc.symptoms:
            st = self.w.states.get(s)
            at = evidence_at(st) if st is not None else None
            if self.counts(s) and at is not None and at > inc.recovered_at:
                inc = dataclasses.replace(inc, symptoms=tuple(x for x in inc.symptoms if x != s))
                self.act(RELEASED, inc, "no longer a symptom, still failing after the root recovered: "
                         + self.describe(s), s)

    def ensure(self, comp: str, kind: str, members: list[str], symptoms: list[str], *, wait: bool,
               group: tuple[str, str, tuple[str, ...]] | None = None) -> None:
        members = sorted(members, key=lambda n: (self._failing_since(n), n))
        affected = group[2] if group is not None else ()
        status = self.component_status(comp, kind, affected)
        impact = comp_rules.impact_of(status)
        inc = self.open.get(comp)
        if inc is None and group is not None:
            inc = self.regroup(comp, group, members, status)
        if inc is None:
            if wait or self.in_maintenance(comp, affected):
                return
            last = self.last_resolved.get(comp)
            if last is not None and all(self.w.states[m].since <= last for m in members):
                return  # resolved by hand while still failing: wait for a recovery first
            root = members[0]
            title, i18n = self.title(comp, kind, status, affected, members)
            started = min(self._failing_since(m) for m in members)
            told = self.w.detected.get(comp)
            detected = self.now
            if told is not None and told[1] <= self.now and (last is None or told[1] > last):
                started, detected = min(started, told[0]), told[1]
            inc = new_incident(
                component=comp,
                kind=kind,
                title=title,
                title_i18n=i18n,
                impact=impact,
                started_at=started,
                detected_at=detected,
                root_check=root,
                checks=tuple(members),
                status_at=self.now,
                public=self.public(comp, affected),
                evidence=self.root_evidence(kind, members),
                affected=tuple(affected),
                platform=group[0] if group is not None else None,
                cause=group[1] if group is not None else None,
            )
            self.act(OPENED, inc, self.describe(root), root, at=detected)
        else:
            new = [c for c in affected if c not in inc.affected]
            if new:
                inc = dataclasses.replace(inc, affected=(*inc.affected, *new), public=self.public(comp, (*inc.affected, *new)))
                title, i18n = self.title(comp, inc.kind, status, inc.affected, members)
                inc = dataclasses.replace(inc, title=title, title_i18n=i18n)
                self.act(GROUPED, inc, self.grouped_text(inc, new), members[0], data={"joined": new})
            for m in members:
                if m not in inc.checks:
                    inc = dataclasses.replace(inc, checks=(*inc.checks, m))
                    self.act(JOINED, inc, self.describe(m), m)
            if impact != inc.impact:
                title, i18n = self.title(comp, inc.kind, status, inc.affected, members)
                old = inc.impact
                inc = dataclasses.replace(inc, impact=impact, title=title, title_i18n=i18n)
                self.act(IMPACT, inc, f"impact {old} -> {impact}", members[0], data={"from": old, "to": impact})
            since_status = inc.status_at or inc.detected_at
            if inc.recovered_at is not None or (
                inc.status == MONITORING and any(self.w.states[m].since > since_status for m in members)
            ):
                status_after = INVESTIGATING if inc.status == MONITORING else inc.status
                inc = dataclasses.replace(
                    inc,
                    recovered_at=None,
                    status=status_after,
                    status_at=self.now if status_after != inc.status else inc.status_at,
                )
                self.act(RELAPSED, inc, "failing again: " + self.describe(members[0]), members[0])
        self.fold(comp, symptoms)

    def regroup(self, key: str, group: tuple[str, str, tuple[str, ...]], members: list[str],
                status: str | None) -> IncidentView | None:
        """The component incident already open among the group's components becomes the
        platform incident (same id, same page: on-call get an update naming the components)."""
        plat, cause, affected = group
        old = next((self.open[c] for c in affected if c in self.open and self.open[c].kind == COMPONENT), None)
        if old is None:
            return None
        del self.open[old.component]
        title, i18n = self.title(key, PLATFORM, status, affected, members)
        inc = dataclasses.replace(
            old, component=key, kind=PLATFORM, affected=(old.component, *(c for c in affected if c != old.component)),
            platform=plat, cause=cause, title=title, title_i18n=i18n, public=self.public(key, affected),
        )
        new = [c for c in inc.affected if c != old.component]
        self.act(GROUPED, inc, self.grouped_text(inc, new), members[0], data={"joined": new, "from": old.component})
        return inc

    def grouped_text(self, inc: IncidentView, new: list[str]) -> str:
        return (f"one platform incident ({inc.platform}, {inc.cause}): {', '.join(new)} failing on the same evidence;"
                f" affects {', '.join(inc.affected)}")

    def fold(self, comp: str, symptoms: list[str]) -> None:
        inc = self.open.get(comp)
        if inc is None:
            return
        for s in sorted(symptoms):
            if s not in inc.symptoms:
                inc = dataclasses.replace(inc, symptoms=(*inc.symptoms, s))
                self.act(SYMPTOM, inc, "symptom: " + self.describe(s), s)

    def prune(self, comp: str) -> None:
        """Checks that left the config leave the incident; with none of its own left, it closes."""
        inc = self.open[comp]
        gone = [c for c in inc.checks if c not in self.t.specs]
        gone_symptoms = [c for c in inc.symptoms if c not in self.t.specs]
        if not gone and not gone_symptoms:
            return
        left = tuple(c for c in inc.checks if c in self.t.specs)
        inc = dataclasses.replace(inc, checks=left, symptoms=tuple(c for c in inc.symptoms if c in self.t.specs))
        names = ", ".join(gone + gone_symptoms)
        if left:
            self.act(REMOVED, inc, f"removed from config: {names}", gone[0] if gone else gone_symptoms[0],
                     data={"removed": gone + gone_symptoms})
            return
        inc = dataclasses.replace(inc, status=STATUS_RESOLVED, resolved_at=self.now, status_at=self.now)
        self.act(RESOLVED, inc, f"closed: {names} removed from config (not a recovery)", inc.root_check,
                 data={"reason": REASON_REMOVED, "removed": gone + gone_symptoms})

    def settle(self, comp: str) -> None:
        inc = self.open[comp]
        if not all(self.ok(c) for c in inc.checks):
            return
        if inc.recovered_at is None:
            status = MONITORING if inc.status in (INVESTIGATING, IDENTIFIED) else inc.status
            inc = dataclasses.replace(
                inc, recovered_at=self.now, status=status, status_at=self.now if status != inc.status else inc.status_at
            )
            self.act(RECOVERED, inc, "all checks up again: " + ", ".join(inc.checks), inc.root_check)
        recovered = inc.recovered_at
        assert recovered is not None
        if self.now - recovered >= self.pol.resolve_after:
            for sym in inc.symptoms:  # they close with their root (see _excused)
                self.released[sym] = max(recovered, self.released.get(sym, recovered))
            inc = dataclasses.replace(inc, status=STATUS_RESOLVED, resolved_at=self.now, status_at=self.now)
            quiet = format_duration(self.now - recovered)
            self.act(RESOLVED, inc, f"resolved: no failure for {quiet}", inc.root_check)

    # bookkeeping ---------------------------------------------------------------------------
    def act(
        self, kind: str, inc: IncidentView, message: str, check: str | None,
        data: Mapping[str, Any] | None = None, *, at: datetime | None = None,
    ) -> None:
        held = self.held(inc)
        notice: str | None = None
        if kind in (OPENED, ANNOUNCED):
            if not held:
                notice = INCIDENT_DEGRADED if inc.impact == "minor" else INCIDENT_OPENED
                inc = dataclasses.replace(inc, notified=True)
        elif kind in (IMPACT, GROUPED):
            notice = INCIDENT_UPDATED if inc.notified and not held else None
        elif kind in (RECOVERED, RELAPSED):
            notice = INCIDENT_UPDATED if inc.notified and not held and not self.flapping(inc) else None
        elif kind == RESOLVED:
            notice = INCIDENT_RESOLVED if inc.notified else None
        if kind == RESOLVED:
            self.open.pop(inc.component, None)
            self.last_resolved[inc.component] = self.now
        else:
            self.open[inc.component] = inc
        evidence = self.evidence(check)
        if inc.kind == NETWORK:
            evidence["cause"] = cause_rules.our_network(list(inc.checks)).to_json()
        if inc.kind == PLATFORM:
            evidence["affected"] = list(inc.affected)
        self.actions.append(Action(kind, inc, at or self.now, message, check, notice, {**evidence, **(data or {})}))

    def root_evidence(self, kind: str, members: list[str]) -> Mapping[str, Any] | None:
        ev = self.w.states[members[0]].evidence
        if kind != NETWORK:
            return ev
        return {**dict(ev or {}), "cause": cause_rules.our_network(sorted(members)).to_json()}

    def held(self, inc: IncidentView) -> bool:
        if inc.affected:
            return all(self.w.holds.holds(c, inc.checks) for c in inc.affected)
        return self.w.holds.holds(inc.component, inc.checks)

    def in_maintenance(self, comp: str, affected: tuple[str, ...]) -> bool:
        if affected:
            return all(self.w.holds.in_maintenance(c) for c in affected)
        return self.w.holds.in_maintenance(comp)

    def component_status(self, comp: str, kind: str, affected: tuple[str, ...] = ()) -> str | None:
        if affected:
            statuses = [s for c in affected if (s := self.component_status(c, COMPONENT)) is not None]
            return comp_rules.overall(statuses).status if statuses else None
        names = self.t.baselines if kind == NETWORK else self.t.by_component.get(comp, ())
        return comp_rules.derive((_shown(self.w, n), self.t.specs[n].weight) for n in names)

    def title(self, comp: str, kind: str, status: str | None, affected: tuple[str, ...] = (),
              members: list[str] | None = None) -> tuple[str, dict[str, str]]:
        out = {}
        rates = [r for m in members or () if (st := self.w.states.get(m)) is not None and (r := intermittent(st))]
        for lang, words in _WORDS.items():
            if kind == NETWORK:
                out[lang] = words[NETWORK]
                continue
            if affected:
                name = names_in([self.name(c, lang) for c in affected], lang)
            else:
                name = self.name(comp, lang)
            word = words.get(status or comp_rules.MAJOR_OUTAGE, words[comp_rules.MAJOR_OUTAGE])
            out[lang] = f"{name}{word}" if lang == "zh-CN" else f"{name}: {word}"
            if rates and status in (comp_rules.PARTIAL_OUTAGE, comp_rules.DEGRADED_PERFORMANCE):
                failed, runs = max(rates, key=lambda r: r[0] / r[1])
                out[lang] += words["intermittent"].format(failed=failed, runs=runs, rate=round(100 * failed / runs))
        return out.get(self.pol.language, out["en"]), out

    def name(self, comp: str, lang: str) -> str:
        info = self.t.components.get(comp)
        return text_in(info.name, lang) if info is not None else comp.removeprefix("check:")

    def public(self, comp: str, affected: tuple[str, ...] = ()) -> bool:
        if affected:
            return any(self.public(c) for c in affected)
        info = self.t.components.get(comp)
        return info.public if info is not None else False

    def _failing_since(self, name: str) -> datetime:
        st = self.w.states[name]
        return st.failing_since or st.since

    def describe(self, name: str | None) -> str:
        if name is None:
            return ""
        st = self.w.states.get(name)
        ev = dict(st.evidence or {}) if st is not None else {}
        parts = []
        if ev.get("step"):
            parts.append(f"step {ev['step']}")
        if ev.get("envelope_code") or ev.get("envelope_message"):
            parts.append(f"platform said {ev.get('envelope_code', '')} {ev.get('envelope_message', '')}".strip())
        if ev.get("http_status"):
            parts.append(f"HTTP {ev['http_status']}")
        if ev.get("message"):
            parts.append(str(ev["message"]))
        health = st.fresh_health if st is not None else UNKNOWN
        return f"{name} {health}" + (": " + "; ".join(parts) if parts else "")

    def evidence(self, name: str | None) -> dict[str, Any]:
        """What a notice about this check shows (the evidence in Notice.data)."""
        if name is None:
            return {}
        st = self.w.states.get(name)
        spec = self.t.specs.get(name)
        out: dict[str, Any] = {"check": name}
        if st is not None:
            ev = dict(st.evidence or {})
            for key in ("step", "envelope_code", "envelope_message", "http_status", "latency_ms", "phases", "location",
                        "cause"):
                if ev.get(key) not in (None, "", {}):
                    out[key] = ev[key]
            if ev.get("message"):
                out["check_message"] = ev["message"]
            out["last_results"] = [p.to_json() for p in st.recent]
            out["health"] = st.fresh_health
        if spec is not None and spec.runbook:
            out["runbook"] = spec.runbook
        return out
