"""Many components: the first page stays small and shows every problem, the rest go on
components-N.html with a pager in both languages; an unchanged page is not rendered again, and
a re-render renders only the pieces that changed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from monitor.core.bus import Bus
from monitor.core.clock import FakeClock
from monitor.core.secrets import Redactor
from monitor.statuspage.render import Fragments, build_files
from monitor.statuspage.service import STALE_AFTER, PageService
from monitor.statuspage.snapshot import build_snapshot
from tests.statuspage.statuspage_scenarios import NOW, components_yaml, make_config, open_store

IDS = ["login", "query", "issuance", "sync", *(f"c{i:03d}" for i in range(4, 120))]


def many(tmp_path: Path, *, outage: bool = True):  # type: ignore[no-untyped-def]
    comps = components_yaml([(cid, f"组件{cid}", f"Part {cid}") for cid in IDS[4:]])
    config = make_config(tmp_path, components=comps)
    store, seed = open_store(config)
    for cid in IDS:
        seed.history(cid, [(NOW - timedelta(days=30), "operational")])
    if outage:
        seed.status("c110", "major_outage", NOW - timedelta(minutes=5))
    return config, store, seed


def test_components_are_paged_with_problems_on_the_first_page(tmp_path: Path) -> None:
    config, store, _ = many(tmp_path)
    files = build_files(build_snapshot(store, config, NOW))
    assert {"index.html", "components-2.html", "components-3.html", "en/components-3.html"} <= set(files)
    assert "components-4.html" not in files
    first = files["index.html"].decode()
    assert first.count('class="card component"') == 50
    assert 'id="component-c110"' in first  # the one with a problem, though configured 111th
    assert 'href="components-2.html"' in first and "第 1/3 页" in first
    second = files["components-2.html"].decode()
    assert second.count('class="card component"') == 50 and 'aria-current="page"' in second
    assert "Page 3 of 3" in files["en/components-3.html"].decode()
    shown = [cid for name in ("index.html", "components-2.html", "components-3.html") for cid in IDS
             if f'id="component-{cid}"' in files[name].decode()]
    assert sorted(shown) == sorted(IDS)  # each exactly once
    store.close()


async def test_an_unchanged_page_is_not_rendered_again(tmp_path: Path) -> None:
    config, store, seed = many(tmp_path, outage=False)  # all calm: time passing changes nothing
    clock = FakeClock(NOW)
    page = PageService(store, config, clock=clock, bus=Bus(), redactor=Redactor([]))
    first = await page.render_now()
    assert first is not None and first.written > 0
    clock.advance(60)
    again = await page.render_now()
    assert again is not None and again.files == 0 and page.health.skipped == 1
    seed.status("c005", "partial_outage", clock.now())
    changed = await page.render_now()
    assert changed is not None and changed.written > 0
    clock.advance(STALE_AFTER * config.status_page.refresh.total_seconds())
    stale = await page.render_now()  # unchanged, but "last updated" would be too old
    assert stale is not None and stale.files > 0
    store.close()


def test_a_re_render_renders_only_what_changed_and_says_what_a_fresh_render_says(tmp_path: Path) -> None:
    config, store, seed = many(tmp_path, outage=False)
    incident = seed.incident("c007", impact="major", status="resolved", started_at=NOW - timedelta(days=3),
                             resolved_at=NOW - timedelta(days=3) + timedelta(hours=1))
    fragments = Fragments()
    files = build_files(build_snapshot(store, config, NOW), fragments)
    assert fragments.made > 2 * len(IDS) and fragments.reused == 0
    assert "Part c007: partial outage" in card(files, "c007")

    seed.status("c005", "partial_outage", NOW - timedelta(minutes=5))
    snap = build_snapshot(store, config, NOW)
    assert build_files(snap, fragments) == build_files(snap)  # the same bytes as a render from nothing
    assert fragments.made == 3  # c005's card in zh-CN and en, and its pair of badges

    # c007's bars name its incident by impact: a new impact is a new card, not the kept one.
    with store.engine.begin() as conn:
        conn.execute(sa.update(seed.t("incident")).where(seed.t("incident").c.id == incident).values(impact="minor"))
    snap = build_snapshot(store, config, NOW)
    files = build_files(snap, fragments)
    assert files == build_files(snap)
    assert "Part c007: degraded performance" in card(files, "c007")
    store.close()


def card(files: dict[str, bytes], cid: str) -> str:
    page = files["en/index.html"].decode()
    start = page.index(f'id="component-{cid}"')
    return page[start : page.index("</li>\n<li", start)]
