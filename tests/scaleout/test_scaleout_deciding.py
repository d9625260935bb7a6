"""The elected controller's deciding, driven by hand on a moved clock over real SQLite and
PostgreSQL: it reads the probe nodes' results from the store, quorum across locations, a
silent probe node is a monitor problem and never the platform's outage, a new leader goes on
from the saved cursors, a result committed late is still folded in, and a deposed
controller's decision is refused."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from monitor.cli.status import document
from monitor.config import Config, load_config
from monitor.core.bus import Bus
from monitor.core.clock import FakeClock
from monitor.core.errors import Deposed
from monitor.core.results import Result, Status
from monitor.incidents.service import IncidentService
from monitor.store import Store, nodes, results
from monitor.store.incidents import Incident
from monitor.store.leadership import Leader, Leadership
from monitor.store.nodes import NodeInfo
from monitor.store.outbox import OutboxRow
from monitor.store.readout import overview
from tests.selfwatch.selfwatch_kit import until

CONFIG = """
monitor: {{database: "{db}", location: dc, node: c1, timezone: Asia/Shanghai, node_silent_after: 60s}}
incidents: {{resolve_after: 5m, open_on_degraded: false}}
channels:
  - {{name: oncall, urls: ["json://127.0.0.1:9/hook"]}}
components:
  - {{id: api, name: API}}
checks:
  - {{name: edge, kind: tcp, host: 127.0.0.1, port: 9, component: api, interval: 10s, timeout: 2s,
     failure_threshold: 3, success_threshold: 2, locations: [bj, sh]}}
"""
PROBES = {"bj": "p-bj", "sh": "p-sh"}


def write_config(tmp_path: Path, db_url: str) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(db=db_url), encoding="utf-8")
    return load_config(path)


class Cluster:
    """A store shared by two probe nodes (results written as their writers do) and the
    controllers deciding on it."""

    def __init__(self, config: Config, clock: FakeClock) -> None:
        self.config, self.clock = config, clock
        self.store = Store(config.monitor.database)
        self.store.migrate()
        self.services: list[IncidentService] = []
        for location, name in PROBES.items():
            nodes.register(self.store.engine, NodeInfo(name, "probe", location, "h", 1, "0"), clock.now())

    async def controller(self, leader: Leader | None = None, node: str = "c1") -> IncidentService:
        kwargs: dict[str, Any] = {} if leader is None else {"leader": leader}
        svc = IncidentService(self.store, self.config, clock=self.clock, bus=Bus(), recheck=lambda *_: None,
                              autorun=False, node=node, fold_own=False, **kwargs)
        await svc.start()
        self.services.append(svc)
        return svc

    async def probe(self, statuses: dict[str, str]) -> None:
        """One round: each named location's node writes a result and reports."""
        for location, status in statuses.items():
            result = Result("edge", Status(status), self.clock.now(), 5.0, f"{location} {status}", location=location)
            await asyncio.to_thread(functools.partial(self.store.write_results, [result], node=PROBES[location]))
            await asyncio.to_thread(nodes.beat, self.store.engine, PROBES[location], self.clock.now())

    async def rounds(self, svc: IncidentService, n: int, statuses: dict[str, str]) -> None:
        for _ in range(n):
            await self.probe(statuses)
            await svc.tick()
            self.clock.advance(10)

    def status(self) -> dict[str, Any]:
        """What `invoicewatch status --json` would print now."""
        with self.store.engine.connect() as conn:
            return document(self.config, overview(conn, self.clock.now()), self.clock.now())

    def outbox(self) -> list[OutboxRow]:
        with self.store.session() as s:
            return list(s.exec(select(OutboxRow).order_by(OutboxRow.id)))

    def incidents(self) -> list[Incident]:
        with self.store.session() as s:
            return list(s.exec(select(Incident).order_by(Incident.id)))

    async def close(self) -> None:
        for svc in self.services:
            await svc.stop()
        self.store.close()


@pytest.fixture
async def cluster(tmp_path: Path, db_url: str, clock: FakeClock) -> AsyncIterator[Cluster]:
    c = Cluster(write_config(tmp_path, db_url), clock)
    yield c
    await c.close()


async def test_the_controller_decides_on_the_nodes_results_by_quorum(cluster: Cluster) -> None:
    svc = await cluster.controller()
    await cluster.rounds(svc, 2, {"bj": "up", "sh": "up"})
    assert svc.states["edge"].health == "up"
    await cluster.rounds(svc, 4, {"bj": "down", "sh": "up"})
    assert svc.states["edge"].locations["bj"].health == "down"
    assert svc.states["edge"].health == "degraded", "one location of two is no quorum"
    assert cluster.incidents() == []
    await cluster.rounds(svc, 3, {"bj": "down", "sh": "down"})
    assert svc.states["edge"].health == "down"
    [incident] = cluster.incidents()
    assert [r.key for r in cluster.outbox()] == [f"incident:{incident.id}:opened"]


async def test_a_silent_probe_node_is_a_monitor_problem_and_never_the_platforms_outage(cluster: Cluster) -> None:
    svc = await cluster.controller()
    await cluster.rounds(svc, 2, {"bj": "up", "sh": "up"})
    await cluster.rounds(svc, 3, {"bj": "up", "sh": "down"})  # sh's last word: down (its uplink dying)
    assert svc.states["edge"].health == "degraded"
    await cluster.rounds(svc, 7, {"bj": "up"})  # then p-sh says nothing for 70 s
    state = svc.states["edge"]
    assert state.locations["sh"].health == "unknown", "its location no longer counts"
    assert state.health == "up", "the platform is judged by the location still reporting"
    problems = [r for r in cluster.outbox() if r.event == "monitor.problem"]
    assert len(problems) == 1 and problems[0].key.startswith("node:p-sh:silent:")
    assert problems[0].title == "【监控系统自身问题】探测节点 p-sh 自 2026-03-02 09:00 起无报告"
    assert "p-sh" in problems[0].body and "未知（不是中断）" in problems[0].body
    assert cluster.incidents() == []
    await cluster.rounds(svc, 2, {"bj": "up"})
    assert len([r for r in cluster.outbox() if r.event == "monitor.problem"]) == 1, "told once per silence"
    doc = cluster.status()
    rows = {(r["check"], r["location"]): r for r in doc["checks"]}
    assert rows[("edge", "sh")]["status"] == "unknown"
    assert rows[("edge", "sh")]["note"].startswith("probe node p-sh silent since 2026-03-02 09:00:40 CST")
    assert rows[("edge", "bj")]["status"] == "up"
    listed = {r["node"]: r["state"] for r in doc["nodes"]}
    assert listed["p-bj"] == "reporting" and listed["p-sh"].startswith("silent since")

    await cluster.rounds(svc, 3, {"bj": "up", "sh": "down"})  # p-sh is back, and still sees it down
    assert svc.states["edge"].locations["sh"].health == "down", "its counters started again from unknown"


async def test_a_node_whose_clock_is_behind_is_not_taken_for_a_silent_one(cluster: Cluster) -> None:
    svc = await cluster.controller()
    behind = timedelta(minutes=10)
    for _ in range(10):
        await cluster.probe({"bj": "up"})
        await asyncio.to_thread(nodes.beat, cluster.store.engine, "p-sh", cluster.clock.now() - behind)
        await svc.tick()
        cluster.clock.advance(10)
    assert [r for r in cluster.outbox() if r.event == "monitor.problem"] == [], "it reports, on its own clock"


async def test_a_new_leader_goes_on_from_the_saved_cursors(cluster: Cluster) -> None:
    first = await cluster.controller()
    await cluster.rounds(first, 2, {"bj": "up", "sh": "up"})
    await cluster.rounds(first, 2, {"bj": "down", "sh": "down"})  # two of three failures
    await first.stop()
    cluster.services.remove(first)
    second = await cluster.controller(node="c2")  # takes over: states and cursors from the store
    assert second.states["edge"].health == "up", "nothing counted twice"
    assert second.states["edge"].locations["bj"].down_run == 2, "nothing lost"
    await cluster.rounds(second, 1, {"bj": "down", "sh": "down"})
    assert second.states["edge"].health == "down", "the third failure confirms it"
    assert len(cluster.incidents()) == 1


async def test_a_result_committed_late_is_still_folded_in(tmp_path: Path, pg_url: str, clock: FakeClock) -> None:
    cluster = Cluster(write_config(tmp_path, pg_url), clock)
    try:
        svc = await cluster.controller()
        await cluster.rounds(svc, 2, {"bj": "up", "sh": "up"})
        late = cluster.store.engine.connect()  # p-bj's write, committed after p-sh's newer one
        late.begin()
        row = results.row_of(Result("edge", Status.DOWN, clock.now(), 5.0, "bj late", location="bj"))
        seq = nodes.allocate(late, "p-bj", 1, clock.now())
        late.execute(sa.insert(results.RESULTS), [{**row, "node": "p-bj", "seq": seq}])
        try:
            clock.advance(1)
            await cluster.probe({"sh": "down"})
            await svc.tick()
            assert svc.states["edge"].locations["sh"].last_status == "down"
            late.commit()
        finally:
            late.close()
        await svc.tick()
        assert svc.states["edge"].locations["bj"].last_status == "down", "seen, though committed late"
        assert svc.states["edge"].locations["bj"].down_run == 1
    finally:
        await cluster.close()


async def test_a_deposed_controller_decides_nothing_and_its_successor_decides_once(
    tmp_path: Path, pg_url: str, clock: FakeClock
) -> None:
    cluster = Cluster(write_config(tmp_path, pg_url), clock)
    leaders: list[Leadership] = []

    async def elect(node: str) -> Leadership:
        # A long lease: c1 still believes it leads (on its clock) when c2 has taken the term.
        lead = Leadership(pg_url, node, lease=10.0, application_name=f"iwtest {node} leadership")
        await lead.start()
        leaders.append(lead)
        return lead

    try:
        a = await elect("c1")
        svc_a = await cluster.controller(a, node="c1")
        b = await elect("c2")
        await cluster.rounds(svc_a, 2, {"bj": "up", "sh": "up"})
        await cluster.rounds(svc_a, 2, {"bj": "down", "sh": "down"})
        assert a._task is not None
        a._task.cancel()  # c1 stops renewing and will not notice ...
        await asyncio.gather(a._task, return_exceptions=True)
        assert terminate(cluster.store, "iwtest c1 leadership")  # ... that its lock went with its connection
        await until(lambda: b.term == 2, 120, "c2 to take the next term")
        await cluster.probe({"bj": "down", "sh": "down"})  # the third failure: c1 would open the incident
        assert a.is_leader, "c1's lease has not run out on its own clock"
        with pytest.raises(Deposed, match="term 1 is over"):
            await svc_a.tick()
        assert cluster.incidents() == [], "the database refused the deposed controller's decision"
        await until(lambda: b.is_leader, 120, "c2 to act, once c1's lease has run out")
        assert not a.is_leader
        svc_b = await cluster.controller(b, node="c2")
        assert svc_b.states["edge"].health == "down"
        assert len(cluster.incidents()) == 1
    finally:
        await cluster.close()
        for lead in leaders:
            await lead.stop()


def terminate(store: Store, application_name: str) -> bool:
    with store.engine.connect() as conn:
        return bool(conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
            {"n": application_name}).all())
