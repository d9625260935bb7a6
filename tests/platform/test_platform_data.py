"""Completeness and freshness against the real simulator: dropped fields (数电-aware), sync lag,
frozen sync, and a source of truth in a real SQLite "ERP" database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from monitor.core.clock import FakeClock
from monitor.core.results import Status
from tests.platform.platform_kit import SimHandle, platform_yaml

CHECKS = """
checks:
  - name: complete
    kind: completeness
    platform: sim
    window: 3h
    sample: 150
    thresholds: {degraded: 2%, down: 30%}
  - {name: fresh, kind: freshness, platform: sim, max_lag: {degraded: 3m, down: 10m}}
"""


async def test_complete_records_are_up_and_digital_invoices_need_no_code(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    result = await env.run("complete")
    assert result.status is Status.UP, result.message
    assert result.values["records"] == 150
    assert result.values["missing_records"] == 0
    # Most of the simulator's invoices are 数电 with an empty invoiceCode; none counted missing.
    records, _, _ = await env.registry.session("sim").list_records("list_invoices", {
        "since": env.clock.now() - timedelta(hours=3), "until": env.clock.now()}, limit=150)
    assert records is not None
    codeless = [r for r in records if r.is_digital and not r.has("code")]
    assert len(codeless) > 100


@pytest.mark.parametrize(
    ("rate", "how", "expected"),
    [(0.1, "mixed", Status.DEGRADED), (0.6, "null", Status.DOWN), (0.1, "empty", Status.DEGRADED), (0.1, "absent", Status.DEGRADED)],
)
async def test_dropped_fields_are_counted_with_examples(sim: SimHandle, make_env, rate: float, how: str, expected: Status) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("fields_dropped", rate=rate, how=how, fields=["invoiceDate", "totalAmount"])
    result = await env.run("complete")
    assert result.status is expected, result.message
    share = result.values["missing_share"]
    assert rate * 0.5 < share < rate * 1.6
    assert set(result.values["missing_fields"]) == {"date", "amount"}
    examples = result.values["examples"]
    assert len(examples) == 5 and all(len(e) in (8, 20) for e in examples)  # invoice numbers
    assert "miss fields" in result.message and "date" in result.message


async def test_a_missing_number_is_named_by_serial(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("fields_dropped", rate=0.5, how="empty", fields=["invoiceNo"])
    result = await env.run("complete")
    assert result.status is Status.DOWN
    assert result.values["missing_fields"].get("number", 0) > 0
    # Damaged old-style invoices (empty number, code present) show up as "serial ...".
    assert all(e.startswith("serial ") for e in result.values["examples"])


async def test_an_empty_code_on_an_old_style_invoice_is_missing(sim: SimHandle, make_env) -> None:
    """数电-awareness must not excuse an 电子普票 (8-digit number) without its code."""
    from checks.platform.models import Fields
    from checks.platform.records import extract

    fields = Fields(number="$.no", code="$.code", digital_number="$.digital")
    old = extract({"no": "12345678", "code": ""}, fields)
    digital = extract({"no": "", "code": "", "digital": "26112000000000000123"}, fields)
    digital_in_number = extract({"no": "26112000000000000123", "code": None}, fields)
    assert old.missing(["number", "code"]) == ["code"]
    assert digital.missing(["number", "code"]) == []
    assert digital_in_number.missing(["number", "code"]) == []
    assert extract({"no": None}, fields).missing(["number"]) == ["number"]


async def test_fresh_platform_is_up_with_a_small_lag(sim: SimHandle, make_env, clock: FakeClock) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    clock.advance(45)
    result = await env.run("fresh")
    assert result.status is Status.UP, result.message
    assert 0 <= result.values["lag_s"] < 60


async def test_sync_lag_degrades_then_downs_freshness(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("sync_lag", seconds=300)
    result = await env.run("fresh")
    assert result.status is Status.DEGRADED, result.message
    assert 300 <= result.values["lag_s"] < 360
    await sim.fault("sync_lag", seconds=900)
    result = await env.run("fresh")
    assert result.status is Status.DOWN
    assert "newest record is" in result.message


async def test_frozen_sync_grows_the_lag_until_down(sim: SimHandle, make_env, clock: FakeClock) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("sync_frozen")
    lags = []
    for _ in range(4):
        clock.advance(timedelta(minutes=4))
        result = await env.run("fresh")
        lags.append(result.values["lag_s"])
    assert lags == sorted(lags) and lags[-1] >= 16 * 60 - 60
    assert result.status is Status.DOWN


async def test_nothing_in_the_window_is_down_when_the_window_exceeds_the_down_lag(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + """
checks:
  - {name: fresh, kind: freshness, platform: sim, window: 15m, max_lag: 10m}
""")
    await sim.fault("sync_lag", seconds=3600)
    result = await env.run("fresh")
    assert result.status is Status.DOWN
    assert result.values["lag_s"] is None
    assert "no record in the last 900s" in result.message


def _erp(path: Path, sim: SimHandle, clock: FakeClock) -> str:
    """A real SQLite 'ERP' table holding what the company issued: the source of truth."""
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE issued (invoice_no TEXT, issued_at TEXT)"))
        sim.sim.book.generate()
        rows = [
            {"n": inv.invoice_no, "t": inv.issued_at.isoformat()}
            for inv in sim.sim.book.window(clock.now() - timedelta(minutes=30), clock.now())
        ]
        conn.execute(sa.text("INSERT INTO issued VALUES (:n, :t)"), rows)
    engine.dispose()
    return url


async def test_missing_records_against_an_sql_source_of_truth(sim: SimHandle, make_env, clock: FakeClock, tmp_path: Path) -> None:
    url = _erp(tmp_path / "erp.db", sim, clock)
    env = make_env(platform_yaml(sim.url) + f"""
checks:
  - name: fresh-vs-erp
    kind: freshness
    platform: sim
    window: 1h
    max_lag: {{degraded: 2m, down: 10m}}
    grace: 90s
    max_missing: {{degraded: 0, down: 20}}
    source:
      sql: {{url: "{url}", query: "SELECT invoice_no, issued_at FROM issued WHERE issued_at >= :since"}}
""")
    ok = await env.run("fresh-vs-erp")
    assert ok.status is Status.UP, ok.message
    assert ok.values["missing"] == 0 and ok.values["source_records"] == 31
    await sim.fault("sync_lag", seconds=600)
    lagging = await env.run("fresh-vs-erp")
    assert lagging.status is Status.DEGRADED, lagging.message
    # invoices of the last 10 minutes are not listed yet; those of the last 90 s are not expected
    assert 8 <= lagging.values["missing"] <= 10
    assert 540 <= lagging.values["lag_s"] <= 600
    assert len(lagging.values["missing_examples"]) == 5
    assert "source records missing in the platform" in lagging.message


async def test_an_unreadable_source_is_degraded_not_blamed_on_the_platform(sim: SimHandle, make_env, tmp_path: Path) -> None:
    env = make_env(platform_yaml(sim.url) + f"""
checks:
  - name: fresh-vs-erp
    kind: freshness
    platform: sim
    max_lag: 10m
    source: {{sql: {{url: "sqlite:///{tmp_path}/none.db", query: "SELECT no FROM missing_table"}}}}
""")
    result = await env.run("fresh-vs-erp")
    assert result.status is Status.DEGRADED
    assert "cannot read the source of truth" in result.message
