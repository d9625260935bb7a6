"""The login-outage story on the status page, in headless Chromium: zh-CN and en, 360 px and
1280 px. During the outage no component claims an outage it does not have (query, sync and
data fail only because login is down); after recovery no page shows "all operational" beside
an open workaround. Screenshots: test-artifacts/statuspage/story-<moment>-<lang>-<width>.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from monitor.config.status_page import StatusPageSection
from monitor.server import make_app
from tests.statuspage.statuspage_pages import ServerThread, Watch, artifacts_dir
from tests.statuspage.statuspage_story import Story, play

pytestmark = pytest.mark.browser

LANGS = {"zh-CN": "", "en": "en/"}
WIDTHS = (360, 1280)
OUTAGE = {"zh-CN": ("严重中断", "部分中断"), "en": ("Major outage", "Partial outage")}
ALL_OK = {"zh-CN": "所有系统运行正常", "en": "All systems operational"}
EXPECTED_DURING = {
    "zh-CN": {"登录": "严重中断", "发票查询": "受登录故障影响", "数据同步": "登录中断期间无法测量",
              "发票数据完整性": "登录中断期间无法测量"},
    "en": {"Login": "Major outage", "Invoice query": "Affected by the Login outage",
           "Data sync": "Not measurable while Login is down", "Invoice data completeness": "Not measurable while Login is down"},
}


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    return play(tmp_path_factory.mktemp("story"))


@pytest.fixture(scope="module")
def server(browser: Any, story: Story) -> Iterator[str]:
    srv = ServerThread(make_app(story.sites, StatusPageSection(internal="off")))
    yield srv.url
    srv.stop()


def visit(browser: Any, url: str, width: int) -> tuple[Any, Any, Watch]:
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    watch = Watch(base=url.split("/", 3)[0] + "//" + url.split("/", 3)[2] + "/")
    page = watch.attach(ctx.new_page())
    page.goto(url)
    return ctx, page, watch


def statuses(page: Any) -> dict[str, str]:
    return {card.locator("h3").inner_text(): card.locator(".cur .st").inner_text()
            for card in page.locator("li.component").all()}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", LANGS)
def test_during_the_outage_only_login_claims_an_outage(browser: Any, server: str, lang: str, width: int) -> None:
    ctx, page, watch = visit(browser, f"{server}outage/{LANGS[lang]}index.html", width)
    try:
        assert statuses(page) == EXPECTED_DURING[lang]
        banner = page.locator("section.banner h2").inner_text()
        assert banner == ("服务严重中断" if lang == "zh-CN" else "Major outage")
        for card in page.locator("li.component").all()[1:]:
            assert not any(word in card.inner_text() for word in OUTAGE[lang])
        assert page.locator("article.announcement dd.workaround").is_visible()  # staff know what to do
        incidents = page.locator("article.incident")
        assert incidents.count() == 1 and "acknowledged" not in incidents.inner_text().lower()
        page.screenshot(path=str(artifacts_dir() / f"story-outage-{lang}-{width}.png"), full_page=True)
        assert watch.foreign_requests() == []
    finally:
        ctx.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("moment", ["recovered", "resolved"])
def test_after_recovery_no_page_shows_all_operational_beside_a_workaround(
    browser: Any, server: str, moment: str, lang: str, width: int
) -> None:
    for page_name in ("index.html", "history.html"):
        ctx, page, _ = visit(browser, f"{server}{moment}/{LANGS[lang]}{page_name}", width)
        try:
            text = page.locator("main").inner_text()
            workaround = page.locator("dd.workaround")
            assert not (ALL_OK[lang] in text and workaround.count() > 0), f"{moment} {page_name}"
            assert not any(word in s for s in statuses(page).values() for word in OUTAGE[lang])
            if page_name == "index.html":
                if moment == "recovered":
                    ann = page.locator("article.announcement")
                    assert ann.count() == 1 and ("已恢复，正在观察" if lang == "zh-CN" else "is back") in ann.inner_text()
                    assert ann.locator("dd.after").is_visible()  # what to do now, what to re-enter
                else:
                    assert page.locator("article.announcement").count() == 0
                    recent = page.locator("section[aria-labelledby='h-recent'] article.incident")
                    assert recent.count() == 1  # the resolved incident stays on the main page for 7 days
                page.screenshot(path=str(artifacts_dir() / f"story-{moment}-{lang}-{width}.png"), full_page=True)
        finally:
            ctx.close()
