"""Past one machine, with real processes on a real PostgreSQL: two probe nodes at two
locations and two controllers. One location failing is no incident (no quorum); both failing
is one; the active controller is SIGKILLed mid-incident and the standby takes over within
15 s; every webhook target hears "opened" and "resolved" exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notifiers.notify_helpers import JsonSink
from tests.scaleout.cluster_kit import Cluster, Platform, epoch
from tests.selfwatch.selfwatch_kit import until

TAKEOVER = 15.0


@pytest.mark.slow
async def test_quorum_failover_and_every_message_once(tmp_path: Path, pg_url: str, platform: Platform, sink: JsonSink) -> None:
    cluster = Cluster(tmp_path, pg_url, platform.base, sink)
    try:
        await cluster.bring_up()

        platform.failing = {"bj"}  # the platform fails from one location only
        await until(lambda: cluster.location_health("bj") == "down", 120, "bj's verdict down at the controller")
        assert cluster.location_health("sh") == "up"
        assert cluster.query("SELECT id FROM incident") == [], "one location of two is no quorum: no incident"

        platform.failing = {"bj", "sh"}  # now from both
        [(incident,)] = await until(lambda: cluster.query("SELECT id FROM incident"), 120, "an incident")
        opened = f"incident:{incident}:opened"
        await until(lambda: opened in cluster.keys_at("a") and opened in cluster.keys_at("b"), 120,
                    "both targets told it opened")
        # Mid-incident, not mid-delivery: a process killed between a receiver's 200 and
        # recording it is the one documented at-least-once point (README, "Telling people").
        await until(cluster.outbox_settled, 120, "both deliveries recorded")

        killed_at = cluster.kill("c1")  # mid-incident
        won = await until(lambda: cluster.nodes["c2"].events("leadership.won"), 120, "c2 to lead")
        assert won[0]["fields"]["term"] == 2
        took = epoch(won[0]) - killed_at
        assert took <= TAKEOVER, f"the standby took {took:.1f}s to take over"

        platform.failing = set()
        resolved = f"incident:{incident}:resolved"
        await until(lambda: resolved in cluster.keys_at("a") and resolved in cluster.keys_at("b"), 120,
                    "both targets told it resolved")
        await until(cluster.outbox_settled, 120, "the outbox to settle")
        cluster.assert_each_target_got_once(opened, resolved)
        assert [i for (i,) in cluster.query("SELECT id FROM incident")] == [incident]
        assert cluster.query("SELECT DISTINCT node FROM delivery_attempt WHERE outbox_id IN "
                             "(SELECT id FROM outbox WHERE key = :k)", k=resolved) == [("c2",)]
    finally:
        not_clean = await cluster.stop_all()
    assert not_clean == []
