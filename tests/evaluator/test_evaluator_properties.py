"""Properties over random result sequences (hypothesis), through evaluator and engine."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.rulebook.evaluate import Rules
from monitor.rulebook.incident_book import ANNOUNCED, OPENED, RECOVERED, RELAPSED, RESOLVED
from monitor.rulebook.incidents import Holds, Policy
from tests.evaluator.evalkit import Sim, spec

CHECKS = ["gateway", "登录", "查询", "开票", "api-a", "api-b"]


def world() -> Sim:
    return Sim(
        [
            spec("gateway", "network", role="baseline", interval=30, retry_interval=5, failure_threshold=2),
            spec("登录", "login", kind="login", platform="bj", interval=30, retry_interval=5),
            spec("查询", "query", kind="query", platform="bj", interval=30, success_threshold=3),
            spec("开票", "issuance", kind="issuance", platform="bj", interval=60, failure_threshold=1, success_threshold=1),
            spec("api-a", "api", interval=20, failure_threshold=2),
            spec("api-b", "api", interval=20, depends_on=["api-a"]),
        ],
        policy=Policy(resolve_after=timedelta(minutes=5)),
        rules=Rules(flap_changes=4, flap_window=timedelta(minutes=10)),
    )


step = st.one_of(
    st.tuples(st.just("r"), st.sampled_from(CHECKS), st.sampled_from(["up", "up", "down", "down", "degraded"])),
    st.tuples(st.just("t"), st.sampled_from([1, 5, 10, 30, 120, 400])),
    st.tuples(st.just("h"), st.sampled_from(["none", "maint-api", "silence-login", "maint-all"])),
)

HOLDS = {
    "none": Holds(),
    "maint-api": Holds(maintenance=frozenset({"api"})),
    "silence-login": Holds(silenced_checks=frozenset({"登录"})),
    "maint-all": Holds(maintenance_all=True),
}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=80))
def test_incidents_stay_consistent_under_any_result_sequence(steps: list[tuple]) -> None:
    sim = world()
    for s in steps:
        if s[0] == "r":
            sim.feed(s[1], s[2])
        elif s[0] == "t":
            sim.advance(s[1])
        else:
            sim.set_holds(HOLDS[s[1]])
    # Then everything stays up, and keeps reporting, for longer than any quiet period.
    sim.set_holds(Holds())
    for _ in range(36):  # 3 successes + a 5-minute quiet period at 10 s a round, and a margin
        sim.round(dict.fromkeys(CHECKS, "up"), every=10)

    # Never two open incidents for one component; every opened incident resolves.
    open_by_component: dict[str, int] = {}
    for iid, a in sim.actions:
        comp = a.incident.component
        if a.kind == OPENED:
            assert comp not in open_by_component, f"second incident for {comp}"
            open_by_component[comp] = iid
        else:
            assert open_by_component.get(comp) == iid, f"{a.kind} on an incident that is not open"
        if a.kind == RESOLVED:
            del open_by_component[comp]
    assert open_by_component == {}
    assert sim.book.open == {}

    # No event twice for the same transition.
    per_incident: dict[int, list[str]] = {}
    for iid, a in sim.actions:
        per_incident.setdefault(iid, []).append(a.kind)
    for iid, kinds in per_incident.items():
        assert kinds.count(OPENED) == 1 and kinds.count(RESOLVED) == 1, (iid, kinds)
        assert kinds.count(ANNOUNCED) <= 1
        life = [k for k in kinds if k in (RECOVERED, RELAPSED)]
        assert all(a != b for a, b in pairwise(life)), f"repeated {life}"
        opening_notices = [a.notice for i, a in sim.actions if i == iid and a.notice in ("incident.opened", "incident.degraded")]
        assert len(opening_notices) <= 1
        resolved_notices = [a.notice for i, a in sim.actions if i == iid and a.notice == "incident.resolved"]
        assert len(resolved_notices) <= len(opening_notices), "resolved is only told to those told it opened"
    for name in CHECKS:
        changes = sim.changes(name)
        for a, b in pairwise(changes):
            assert (a.new_status, a.new_health) == (b.old_status, b.old_health)
        assert all((c.old_status, c.old_health) != (c.new_status, c.new_health) for c in changes)
