"""A page's renders keep what they read and rendered for the next one (PageService's PageMemo
and Fragments: rolled days and hours, incidents by version, day bars, cards): whatever
changes after a cached render — an incident's update, its resolution, a row changed by hand,
a component's status, the configuration — the next render shows it, and every file it writes
is what a render from nothing writes at that moment. Two pages in one process keep nothing
in common."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from monitor.config import Config
from monitor.core.bus import Bus
from monitor.core.clock import FakeClock
from monitor.core.secrets import Redactor
from monitor.housekeeping import roll_now
from monitor.incidents import manual
from monitor.statuspage.render import build_files
from monitor.statuspage.service import PageService, snapshot_digest
from monitor.statuspage.snapshot import PageMemo, build_snapshot
from monitor.store import Store
from tests.statuspage.statuspage_scenarios import NOW, background, components_yaml, make_config, open_store
from tests.statuspage.statuspage_seed import Seed

IDS = ["login", "query", "issuance", "sync"]


def page_of(tmp_path: Path, config: Config | None = None) -> tuple[PageService, Store, Seed, FakeClock]:
    config = config or make_config(tmp_path)
    store, seed = open_store(config)
    background(seed, IDS, NOW - timedelta(hours=3))
    roll_now(store, config, NOW - timedelta(hours=1))  # rolled days and hours, and a live tail after them
    clock = FakeClock(NOW)
    return PageService(store, config, clock=clock, bus=Bus(), redactor=Redactor([])), store, seed, clock


async def render(page: PageService, clock: FakeClock) -> dict[str, bytes]:
    """Render with what the page kept, then check every file against a render from nothing
    (a render skipped as unchanged: that a render from nothing says what the files say)."""
    clock.advance(30)
    skipped = page.health.skipped
    stats = await page.render_now()
    assert stats is not None and page.health.consecutive_failures == 0
    snap = build_snapshot(page.store, page.config, clock.now())
    written = {str(p.relative_to(page.out)): p.read_bytes() for p in page.out.rglob("*")
               if p.is_file() and not p.name.startswith(".")}
    if page.health.skipped > skipped:
        assert snapshot_digest(snap) == page._last_digest
        return written
    fresh = build_files(snap)
    assert written.keys() == fresh.keys()
    assert [name for name in fresh if written[name] != fresh[name]] == []
    return written


def post(store: Store, config: Config, incident: int, clock: FakeClock, status: str | None, message: str) -> None:
    with store.session() as s:
        manual.update(s, incident, status=status, message=message, who="oncall", now=clock.now(), config=config)
        s.commit()


def unresolved(files: dict[str, bytes]) -> list[tuple[int, str]]:
    return [(int(i["id"]), i["status"]) for i in json.loads(files["api/v2/summary.json"])["incidents"]]


def component_status(files: dict[str, bytes], cid: str) -> str:
    found = [c for c in json.loads(files["api/v2/summary.json"])["components"] if c["id"] == cid]
    return str(found[0]["status"])


async def test_an_incident_update_and_its_resolution_after_a_cached_render_are_on_the_next_render(
    tmp_path: Path,
) -> None:
    page, store, seed, clock = page_of(tmp_path)
    started = NOW - timedelta(minutes=20)
    incident = seed.incident("login", impact="critical", started_at=started)
    seed.update(incident, started, "investigating", "login fails")
    seed.status("login", "major_outage", started)
    old = seed.incident("query", impact="minor", status="resolved", started_at=NOW - timedelta(days=2),
                        resolved_at=NOW - timedelta(days=2) + timedelta(hours=1))
    seed.update(old, NOW - timedelta(days=2), "investigating", "slow")
    files = await render(page, clock)
    assert unresolved(files) == [(incident, "investigating")]
    assert component_status(files, "login") == "major_outage"

    post(store, page.config, incident, clock, "identified", "税局令牌服务过期，正在更换")  # as `incidents update` does
    files = await render(page, clock)
    assert unresolved(files) == [(incident, "identified")]
    assert "税局令牌服务过期，正在更换" in files["index.html"].decode()

    post(store, page.config, incident, clock, "resolved", "已恢复")
    seed.status("login", "operational", clock.now())
    files = await render(page, clock)
    assert unresolved(files) == []
    assert component_status(files, "login") == "operational"
    assert f'id="incident-{incident}"' in files["history.html"].decode()

    # A manual note on an incident resolved long ago (its row unchanged) is on the next render too.
    post(store, page.config, old, clock, None, "复盘：数据库连接池过小")
    files = await render(page, clock)
    assert "复盘：数据库连接池过小" in files["history.html"].decode()
    store.close()


async def test_a_row_or_timeline_changed_by_hand_after_a_cached_render_is_on_the_next_render(tmp_path: Path) -> None:
    page, store, seed, clock = page_of(tmp_path)
    incident = seed.incident("sync", impact="major", started_at=NOW - timedelta(minutes=5))
    files = await render(page, clock)
    assert unresolved(files) == [(incident, "investigating")]
    t = seed.t("incident")
    with store.engine.begin() as conn:  # no timeline entry, no updated_at: only the row says it
        conn.execute(sa.update(t).where(t.c.id == incident).values(public=False))
    files = await render(page, clock)
    assert unresolved(files) == []
    with store.engine.begin() as conn:
        conn.execute(sa.update(t).where(t.c.id == incident).values(public=True, impact="minor"))
    files = await render(page, clock)
    assert unresolved(files) == [(incident, "investigating")]
    assert json.loads(files["api/v2/summary.json"])["incidents"][0]["impact"] == "minor"
    seed.update(incident, clock.now(), "investigating", "同步任务排队中", kind="manual")  # the timeline alone
    files = await render(page, clock)
    assert "同步任务排队中" in files["index.html"].decode()
    with store.engine.begin() as conn:
        conn.execute(sa.delete(seed.t("incident_update")).where(seed.t("incident_update").c.incident_id == incident))
        conn.execute(sa.delete(t).where(t.c.id == incident))
    files = await render(page, clock)
    assert unresolved(files) == []
    store.close()


async def test_a_component_change_after_a_cached_render_is_on_the_next_render(tmp_path: Path) -> None:
    page, store, seed, clock = page_of(tmp_path)
    files = await render(page, clock)
    assert component_status(files, "issuance") == "operational"
    badge = files["badges/issuance.svg"]
    seed.status("issuance", "partial_outage", clock.now())
    files = await render(page, clock)
    assert component_status(files, "issuance") == "partial_outage" and files["badges/issuance.svg"] != badge
    clock.advance(3600)  # the hour rolled: the kept hours are read again
    roll_now(store, page.config, clock.now())
    files = await render(page, clock)
    assert component_status(files, "issuance") == "partial_outage"
    store.close()


async def test_a_new_configuration_after_a_cached_render_is_on_the_next_render(tmp_path: Path) -> None:
    page, store, seed, clock = page_of(tmp_path)
    incident = seed.incident("query", impact="critical", started_at=NOW - timedelta(minutes=5))
    files = await render(page, clock)
    (shown,) = json.loads(files["api/v2/summary.json"])["incidents"]
    assert "查询" in shown["name"] and "发票查询" not in shown["name"]
    renamed = components_yaml().replace("{zh-CN: 查询, en: Query}", "{zh-CN: 发票查询, en: Invoice query}")
    page.on_config(make_config(tmp_path, components=renamed))
    files = await render(page, clock)
    (shown,) = json.loads(files["api/v2/summary.json"])["incidents"]
    assert int(shown["id"]) == incident and "发票查询" in shown["name"]
    private = components_yaml(private=("network", "query")).replace("  - {id: query, name: {zh-CN: 查询, en: Query}}\n", "")
    page.on_config(make_config(tmp_path, components=private))
    files = await render(page, clock)
    assert unresolved(files) == []  # its only component is private now
    store.close()


async def test_two_pages_in_one_process_keep_nothing_in_common(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, store_a, _, clock_a = page_of(tmp_path / "a")
    b, store_b, seed_b, clock_b = page_of(tmp_path / "b", make_config(tmp_path / "b", language="en"))
    seed_b.status("login", "major_outage", NOW - timedelta(hours=2))  # same ids, other histories
    seed_b.incident("login", impact="critical", started_at=NOW - timedelta(hours=2))
    assert a.memo is not b.memo and a.fragments is not b.fragments
    for _ in range(2):
        files_a, files_b = await render(a, clock_a), await render(b, clock_b)
        assert component_status(files_a, "login") == "operational" and unresolved(files_a) == []
        assert component_status(files_b, "login") == "major_outage" and len(unresolved(files_b)) == 1
    store_a.close()
    store_b.close()


def test_a_snapshot_with_a_memo_says_what_one_without_says(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store, seed = open_store(config)
    background(seed, IDS, NOW - timedelta(hours=3))
    roll_now(store, config, NOW - timedelta(hours=1))
    memo = PageMemo()
    first = build_snapshot(store, config, NOW, memo)
    assert first == build_snapshot(store, config, NOW)
    assert memo.history.days is not None and memo.history.hours is not None
    kept_days, kept_hours = memo.history.days, memo.history.hours
    incident = seed.incident("login", started_at=NOW - timedelta(minutes=3))
    again = build_snapshot(store, config, NOW, memo)
    assert again == build_snapshot(store, config, NOW) and again != first
    assert memo.history.days is kept_days and memo.history.hours is kept_hours  # read once per mark
    assert memo.incidents.read == 1 and [i.id for i in again.active_incidents] == [incident]
    store.close()
