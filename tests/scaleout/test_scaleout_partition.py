"""A split between the leader and the database, with real processes on a real PostgreSQL:
every connection of the active controller is cut (`pg_terminate_backend`) mid-incident. It
stops acting within its lease, and before the standby starts; the standby takes over and
sends what is left; nothing reaches a receiver twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notifiers.notify_helpers import JsonSink
from tests.scaleout.cluster_kit import LEASE, Cluster, Platform, epoch
from tests.selfwatch.selfwatch_kit import until


@pytest.mark.slow
async def test_a_leader_cut_off_from_the_database_stops_and_the_standby_sends_the_rest(
    tmp_path: Path, pg_url: str, platform: Platform, sink: JsonSink
) -> None:
    cluster = Cluster(tmp_path, pg_url, platform.base, sink)
    try:
        await cluster.bring_up()

        platform.failing = {"bj", "sh"}
        [(incident,)] = await until(lambda: cluster.query("SELECT id FROM incident"), 120, "an incident")
        opened = f"incident:{incident}:opened"
        await until(lambda: opened in cluster.keys_at("a") and opened in cluster.keys_at("b"), 120, "opened sent")
        await until(cluster.outbox_settled, 120, "the deliveries recorded")

        assert cluster.cut("c1") >= 2  # its pool, its leadership and LISTEN connections
        cut_at = cluster.time()
        platform.failing = set()  # what follows (recovered, resolved) is the new leader's to send
        [lost] = await until(lambda: cluster.nodes["c1"].events("leadership.lost"), 120, "c1 to step down")
        [won] = await until(lambda: cluster.nodes["c2"].events("leadership.won"), 120, "c2 to lead")
        assert epoch(lost) - cut_at <= LEASE, "the cut-off leader stopped within its lease"
        assert epoch(lost) <= epoch(won), "and before the standby started"
        assert epoch(won) - cut_at <= 15.0

        resolved = f"incident:{incident}:resolved"
        await until(lambda: resolved in cluster.keys_at("a") and resolved in cluster.keys_at("b"), 120, "resolved sent")
        await until(cluster.outbox_settled, 120, "the outbox to settle")
        late = cluster.query("SELECT count(*) FROM delivery_attempt WHERE node = 'c1' AND at > :t",
                             t=cluster.as_stored(epoch(lost)))
        assert late == [(0,)], "c1 claimed nothing after it stepped down"
        cluster.assert_each_target_got_once(opened, resolved)
        assert cluster.nodes["c1"].proc is not None and cluster.nodes["c1"].proc.returncode is None, \
            "c1 is still running, as a standby"
        assert cluster.leader() == (2, "c2")
    finally:
        not_clean = await cluster.stop_all()
    assert not_clean == []
