"""Hostile text in every field that can reach a page never executes in Chromium.

Fields: component names and descriptions, page title and description, announcement title and
body, incident titles and updates (manual and automatic), maintenance titles, check names and
check messages (internal page), incident evidence. Each page is opened twice: as served (strict
CSP) and with CSP bypassed, so escaping is proven on its own and not hidden by the policy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from monitor.core.secrets import Redactor
from monitor.server import make_app
from monitor.statuspage.internal import render_internal
from monitor.statuspage.render import render_site
from monitor.statuspage.snapshot import build_snapshot
from tests.statuspage.statuspage_pages import ServerThread, Watch, fired
from tests.statuspage.statuspage_scenarios import HOSTILE, NOW, PRIVATE, hostile_scenario

pytestmark = pytest.mark.browser

HTML_PAGES = ["", "en/", "history.html", "en/history.html", "internal/"]
OTHER_DOCS = ["badges/evil.svg", "badges/uptime/evil.svg", "feed.atom", "api/v2/summary.json"]

DOM_JS = """
() => ({
  handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]
      .filter(a => a.name.toLowerCase().startsWith('on')).map(a => e.tagName + '@' + a.name)),
  scripts: [...document.scripts].map(s => s.src || 'inline:' + s.textContent.slice(0, 40)),
  embedded: [...document.querySelectorAll('iframe, img, object, embed, frame, svg script, foreignObject')]
      .map(e => e.tagName),
  jsLinks: [...document.querySelectorAll('[href], [src], [action], [formaction]')]
      .map(e => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action') || '')
      .filter(v => /^\\s*(javascript|vbscript|data:text)/i.test(v)),
  text: document.body ? document.body.innerText : document.documentElement.textContent,
})
"""


@pytest.fixture(scope="module")
def server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("hostile")
    config, store, _ = hostile_scenario(work)
    render_site(build_snapshot(store, config, NOW), work / "site")

    async def internal() -> str:
        return await asyncio.to_thread(render_internal, store, config, NOW, Redactor([PRIVATE[-1]]))

    srv = ServerThread(make_app(work / "site", config.status_page, internal=internal))
    yield srv.url
    srv.stop()
    store.close()


def visit(browser: Any, url: str, *, bypass_csp: bool) -> tuple[Any, Any, Watch]:
    ctx = browser.new_context(bypass_csp=bypass_csp, viewport={"width": 1280, "height": 900})
    watch = Watch(base=url.split("/", 3)[0] + "//" + url.split("/", 3)[2] + "/")
    page = watch.attach(ctx.new_page())
    page.goto(url)
    return ctx, page, watch


@pytest.mark.parametrize("bypass_csp", [False, True], ids=["with-csp", "csp-bypassed"])
@pytest.mark.parametrize("path", HTML_PAGES)
def test_hostile_text_never_executes_on_html_pages(browser: Any, server: str, path: str, bypass_csp: bool) -> None:
    ctx, page, watch = visit(browser, server + path, bypass_csp=bypass_csp)
    try:
        for bar in page.locator("ol.bars li").all()[-3:]:  # tooltips show the bar's own text via CSS
            bar.hover()
            bar.focus()
        for summary in page.locator("details summary").all():
            summary.click()
        dom = page.evaluate(DOM_JS)
        assert dom["handlers"] == [] and dom["embedded"] == [] and dom["jsLinks"] == []
        assert all(src.endswith(".js") or src.split("?")[0].endswith("status.js") for src in dom["scripts"]), dom["scripts"]
        assert HOSTILE[0] in dom["text"] and HOSTILE[1] in dom["text"]  # shown as text, literally
        assert watch.dialogs == [] and fired(page) == [] and watch.errors == []
        assert watch.foreign_requests() == []
    finally:
        ctx.close()


@pytest.mark.parametrize("path", OTHER_DOCS)
def test_hostile_text_never_executes_in_svg_feed_and_json(browser: Any, server: str, path: str) -> None:
    ctx, page, watch = visit(browser, server + path, bypass_csp=True)
    try:
        dom = page.evaluate(DOM_JS)
        assert dom["handlers"] == [] and dom["jsLinks"] == []
        assert not any(s.startswith("inline:") for s in dom["scripts"]), dom["scripts"]
        assert watch.dialogs == [] and fired(page) == []
        assert "xss-" in page.content()  # the text is there, inert
    finally:
        ctx.close()


def test_public_pages_show_no_raw_evidence_but_internal_does(browser: Any, server: str) -> None:
    for path, visible in (("", False), ("history.html", False), ("internal/", True)):
        ctx, page, _ = visit(browser, server + path, bypass_csp=False)
        try:
            text = page.evaluate(DOM_JS)["text"]
            assert ("10.20.30.40" in text) is visible and ("Traceback" in text) is visible
            assert PRIVATE[-1] not in text  # the secret is masked even internally
        finally:
            ctx.close()
