"""The status page in a real headless Chromium: scripted scenarios, languages, JavaScript off,
tooltips, contrast, 360 px and 1280 px (screenshots saved under test-artifacts/statuspage/)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config.status_page import StatusPageSection
from monitor.server import make_app
from monitor.statuspage.model import SEVERITY
from monitor.statuspage.render import render_site
from monitor.statuspage.snapshot import build_snapshot
from tests.statuspage.statuspage_pages import ServerThread, Watch, artifacts_dir, fired
from tests.statuspage.statuspage_scenarios import NOW, SCENARIOS, components_yaml, scenario

pytestmark = pytest.mark.browser

# scenario -> (banner text, {component: status label}) in zh-CN
EXPECTED = {
    "all_up": ("所有系统运行正常", {"登录": "运行正常", "查询": "运行正常", "开票": "运行正常", "数据同步": "运行正常"}),
    "one_degraded": ("部分服务性能下降", {"登录": "运行正常", "查询": "性能下降", "开票": "运行正常", "数据同步": "运行正常"}),
    "major_with_announcement": ("服务严重中断", {"登录": "运行正常", "查询": "运行正常", "开票": "严重中断", "数据同步": "运行正常"}),
    "maintenance": ("系统维护中", {"登录": "运行正常", "查询": "运行正常", "开票": "运行正常", "数据同步": "维护中"}),
}
BANNER_CLASS = {"all_up": "none", "one_degraded": "minor", "major_with_announcement": "critical", "maintenance": "maintenance"}


@pytest.fixture(scope="module")
def server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Every scenario rendered into <root>/<scenario>/, served by the real server."""
    root = tmp_path_factory.mktemp("sites")
    for name in SCENARIOS:
        work = tmp_path_factory.mktemp(name)
        config, store, _ = scenario(name, work)
        render_site(build_snapshot(store, config, NOW), root / name)
        store.close()
    # one page with every status at once, for the shape and contrast checks
    work = tmp_path_factory.mktemp("mixed")
    config, store, seed = scenario("all_up", work, components=components_yaml([("extra", "备用", "Spare")]))
    for cid, status in (("query", "degraded_performance"), ("issuance", "partial_outage"), ("sync", "major_outage"),
                        ("extra", "under_maintenance")):
        seed.status(cid, status, NOW - timedelta(minutes=3))
    render_site(build_snapshot(store, config, NOW), root / "mixed")
    store.close()
    srv = ServerThread(make_app(root, StatusPageSection(internal="off")))
    yield srv.url
    srv.stop()


def open_page(browser: Any, url: str, *, width: int = 1280, js: bool = True) -> tuple[Any, Any, Watch]:
    ctx = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=js)
    watch = Watch(base=url.split("/", 3)[0] + "//" + url.split("/", 3)[2] + "/")
    page = watch.attach(ctx.new_page())
    page.goto(url)
    return ctx, page, watch


def component_statuses(page: Any) -> dict[str, str]:
    out = {}
    for card in page.locator("li.component").all():
        out[card.locator("h3").inner_text()] = card.locator(".cur .st").inner_text()
    return out


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_page_shows_the_right_status_for_each_scenario(browser: Any, server: str, name: str) -> None:
    banner, statuses = EXPECTED[name]
    for width in (1280, 360):
        ctx, page, watch = open_page(browser, f"{server}{name}/", width=width)
        try:
            assert page.locator("section.banner h2").inner_text() == banner
            assert BANNER_CLASS[name] in (page.locator("section.banner").get_attribute("class") or "")
            assert component_statuses(page) == statuses
            assert page.locator("ol.bars").count() == 4
            assert page.title().startswith(banner)
            # readable at this width: nothing wider than the viewport
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.screenshot(path=str(artifacts_dir() / f"{name}-{width}.png"), full_page=True)
            low = [(text[:40], round(ratio, 2)) for text, ratio in page.evaluate(CONTRAST_JS) if ratio < 4.5]
            assert low == [], f"text below WCAG AA contrast at {width} px"
            assert watch.errors == [] and watch.dialogs == [] and fired(page) == []
            assert watch.foreign_requests() == []
        finally:
            ctx.close()


def test_major_outage_shows_announcement_with_workaround_and_next_update(browser: Any, server: str) -> None:
    ctx, page, _ = open_page(browser, f"{server}major_with_announcement/")
    try:
        ann = page.locator("article.announcement")
        assert ann.locator("h3").inner_text() == "开票服务中断"
        assert "请暂时使用纸质发票" in ann.locator("dd.workaround").inner_text()
        assert ann.locator(".next").inner_text() == "下次更新：2026-03-02 15:00 UTC+08:00"
        incident = page.locator("article.incident")
        assert incident.locator("h3").inner_text() == "开票：服务中断"
        assert incident.locator("ol.timeline li").count() == 2
        assert "税局接口签名服务故障" in incident.locator("ol.timeline li").first.inner_text()
        assert "E1003" not in page.content()  # the raw check message stays internal
    finally:
        ctx.close()


def test_maintenance_is_listed_as_active_and_planned(browser: Any, server: str) -> None:
    ctx, page, _ = open_page(browser, f"{server}maintenance/")
    try:
        text = page.locator("main").inner_text()
        assert "正在进行的维护" in text and "数据同步服务升级" in text
        planned = page.locator("#maintenance").inner_text()
        assert "税局平台例行维护" in planned and "全部服务" in planned
        assert "内网交换机更换" not in text  # only a private component: not shown
    finally:
        ctx.close()


def test_language_switch_is_a_link_between_static_pages(browser: Any, server: str) -> None:
    ctx, page, watch = open_page(browser, f"{server}one_degraded/")
    try:
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        page.get_by_role("link", name="English").click()
        page.wait_for_url("**/one_degraded/en/index.html")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("section.banner h2").inner_text() == "Some services are degraded"
        assert component_statuses(page)["Query"] == "Degraded performance"
        page.get_by_role("link", name="中文").click()
        page.wait_for_url("**/one_degraded/index.html")
        assert page.locator("section.banner h2").inner_text() == "部分服务性能下降"
        page.get_by_role("link", name="查看事件历史").click()
        assert page.locator("h2#h-past").inner_text() == "过去 90 天的事件"
        assert watch.errors == []
    finally:
        ctx.close()


def test_page_works_with_javascript_disabled(browser: Any, server: str) -> None:
    ctx, page, watch = open_page(browser, f"{server}major_with_announcement/", js=False, width=360)
    try:
        assert page.evaluate("document.documentElement.className") == ""  # status.js did not run
        assert page.locator("section.banner h2").inner_text() == "服务严重中断"
        assert page.locator("ol.bars li").count() == 4 * 90
        assert page.locator("article.announcement dd.workaround").is_visible()
        assert page.locator("svg.chart polyline.p95").count() >= 1
        bar = page.locator("#component-issuance ol.bars li").last
        bar.focus()  # keyboard focus shows the tooltip through CSS alone
        tip = bar.locator("span")
        assert tip.is_visible() and tip.evaluate("el => el.getBoundingClientRect().width") > 50
        text = tip.inner_text()
        assert "2026-03-02" in text and "可用率" in text and "起事件" in text
        page.get_by_role("link", name="English").click()
        page.wait_for_url("**/en/index.html")
        assert page.locator("section.banner h2").inner_text() == "Major outage"
        page.locator("details#uptime-formula summary").click()
        assert "rounded down" in page.locator("details#uptime-formula").inner_text()
        page.screenshot(path=str(artifacts_dir() / "major_with_announcement-360-nojs.png"), full_page=True)
        assert watch.foreign_requests() == []
    finally:
        ctx.close()


def test_every_daily_bar_has_a_hover_and_focus_tooltip(browser: Any, server: str) -> None:
    ctx, page, _ = open_page(browser, f"{server}one_degraded/")
    try:
        bars = page.locator("#component-query ol.bars li")
        assert bars.count() == 90
        labels = bars.evaluate_all("els => els.map(e => [e.tabIndex, e.textContent])")
        assert all(tab == 0 and label for tab, label in labels)
        assert labels[-1][1].startswith("2026-03-02：可用率")
        tip_width = "el => el.querySelector('span').getBoundingClientRect().width"
        assert bars.nth(45).evaluate(tip_width) <= 1  # hidden until hovered or focused
        bars.nth(45).hover()
        assert bars.nth(45).evaluate(tip_width) > 50
        assert bars.nth(45).locator("span").is_visible()
        page.keyboard.press("Tab")  # focus moves bar to bar with the keyboard
        bars.nth(10).focus()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == labels[11][1]
        assert page.evaluate("document.activeElement.querySelector('span').getBoundingClientRect().width") > 50
    finally:
        ctx.close()


def test_status_is_never_colour_alone_and_text_meets_wcag_aa(browser: Any, server: str) -> None:
    shapes: dict[str, str] = {}
    ctx, page, _ = open_page(browser, f"{server}mixed/")
    try:
        assert page.evaluate("document.documentElement.className") == "js"  # the enhancement ran
        for classes, text, shape in page.evaluate(SHAPES_JS):
            status = next(c for c in classes.split() if c in SEVERITY or c == "no_data")
            assert text.strip(), "a status without a text label"
            shapes[status] = shape
        low = [(text[:40], round(ratio, 2)) for text, ratio in page.evaluate(CONTRAST_JS) if ratio < 4.5]
        assert low == [], "text below WCAG AA contrast"
        page.screenshot(path=str(artifacts_dir() / "every-status-1280.png"), full_page=True)
    finally:
        ctx.close()
    assert set(shapes) == set(SEVERITY)
    assert len(set(shapes.values())) == len(shapes), f"two statuses share a shape: {shapes}"


SHAPES_JS = """
() => [...document.querySelectorAll('.st')].map(e => {
  const s = getComputedStyle(e, '::before');
  return [e.className, e.innerText, [s.clipPath, s.borderRadius, s.backgroundColor === 'rgba(0, 0, 0, 0)'].join('|')];
})
"""

# WCAG 2.x contrast of each visible text element against the first opaque background behind it.
CONTRAST_JS = """
() => {
  const rgb = c => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = e => {
    let bg = [255, 255, 255];
    for (let n = e; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || c[3] === 1) { bg = c.slice(0, 3); break; }
    }
    const a = lum(rgb(getComputedStyle(e).color).slice(0, 3)), b = lum(bg);
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  };
  return [...document.querySelectorAll('.st, p, dt, dd, time, h1, h2, h3, a, td, th, summary, .scale span')]
    .filter(e => e.offsetWidth > 0 && e.innerText.trim())
    .map(e => [e.innerText, ratio(e)]);
}
"""


def test_narrow_screen_shows_the_last_30_days(browser: Any, server: str) -> None:
    ctx, page, _ = open_page(browser, f"{server}all_up/", width=360)
    try:
        bars = page.locator("#component-login ol.bars li")
        visible = bars.evaluate_all("els => els.filter(e => e.offsetWidth > 0).length")
        assert visible == 30
        assert page.locator("#component-login .scale").inner_text().startswith("30 天前")
    finally:
        ctx.close()


def test_history_page_lists_past_incidents_by_day(browser: Any, server: str, tmp_path: Path) -> None:
    ctx, page, _ = open_page(browser, f"{server}all_up/history.html")
    try:
        assert page.locator("h2#h-past").inner_text() == "过去 90 天的事件"
        assert page.get_by_role("link", name="返回当前状态").is_visible()
    finally:
        ctx.close()
