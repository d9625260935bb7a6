"""`invoicewatch report` over SQLite and PostgreSQL: figures from the rollups and incidents
match what was seeded (uptime, downtime, time to detect, recovery counted to the last failing
result), in every format, and `invoicewatch prune` bounds the history."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from monitor.cli import cli
from monitor.core.results import Result, Status
from monitor.store import Store
from monitor.store.incidents import CHANGES, INCIDENTS

NOW = datetime.now(UTC)
START = (NOW - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)


def config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"""
monitor: {{database: "{url}", timezone: UTC}}
components:
  - {{id: login, name: 登录}}
  - {{id: query, name: 查询}}
checks:
  - {{name: login-check, kind: tcp, host: 127.0.0.1, port: 9, component: login}}
slos:
  - {{component: login, objective: 99%}}
""", encoding="utf-8")
    return path


def seed(store: Store) -> tuple[datetime, datetime]:
    """Three days of login results every minute, one 30-minute outage with its incident."""
    outage = START + timedelta(days=1, hours=5)
    last_fail = outage + timedelta(minutes=29)
    results = []
    t = START
    while t < NOW - timedelta(hours=2):
        down = outage <= t <= last_fail
        results.append(Result(check="login-check", status=Status.DOWN if down else Status.UP, started_at=t,
                              latency_ms=100.0 if not down else 5000.0, location="local"))
        t += timedelta(minutes=1)
    store.write_results(results)
    with store.engine.begin() as conn:
        conn.execute(sa.insert(CHANGES), [
            {"component": "login", "at": START - timedelta(days=10), "status": "operational"},
            {"component": "login", "at": outage + timedelta(minutes=2), "status": "major_outage"},
            {"component": "login", "at": last_fail + timedelta(minutes=3), "status": "operational"},
        ])
        conn.execute(sa.insert(INCIDENTS).values(
            component="login", title="login down", status="resolved", impact="critical", started_at=outage,
            detected_at=outage + timedelta(minutes=2), resolved_at=last_fail + timedelta(minutes=15),
            root_check="login-check", public=True,
            data={"checks": ["login-check"], "recovered_at": (last_fail + timedelta(minutes=3)).isoformat()},
        ))
    return outage, last_fail


def test_report_reads_rollups_and_counts_recovery_to_the_last_failing_result(tmp_path: Path, db_url: str) -> None:
    store = Store(db_url)
    store.migrate()
    outage, last_fail = seed(store)
    cfg = config(tmp_path, db_url)
    runner = CliRunner()
    pruned = runner.invoke(cli, ["-c", str(cfg), "prune"], catch_exceptions=False)
    assert pruned.exit_code == 0 and "check_result" in pruned.output
    out = runner.invoke(cli, ["-c", str(cfg), "report", "--since", "3d", "--format", "json"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    login, query = data["components"]
    assert login["component"] == "login" and login["incidents"] == 1
    assert login["downtime_min"] == 30.0
    assert login["detect_median_s"] == 120.0 and login["detect_max_s"] == 120.0
    assert login["recover_median_s"] == (last_fail - outage).total_seconds()  # not to the resolution
    assert 99.2 < login["uptime_pct"] < 99.4
    assert abs(login["latency_p95_ms"] - 100.0) <= 2.0
    assert login["slo_objective_pct"] == 99.0 and login["slo_attained_pct"] is not None
    assert query["uptime_pct"] is None and query["incidents"] == 0
    table = runner.invoke(cli, ["-c", str(cfg), "report", "--since", "3d"], catch_exceptions=False).output
    assert table.splitlines()[1].startswith("COMPONENT") and "login" in table
    rows = list(csv.DictReader(io.StringIO(runner.invoke(cli, ["-c", str(cfg), "report", "--format", "csv"]).output)))
    assert rows[0]["component"] == "login" and rows[0]["incidents"] == "1"
    md = runner.invoke(cli, ["-c", str(cfg), "report", "--format", "markdown"]).output
    assert "| component | uptime_pct |" in md
    month = runner.invoke(cli, ["-c", str(cfg), "report", "--month", "2026-13"])
    assert month.exit_code == 2 and "--month" in month.output
    store.close()
