"""Shared by the browser test modules: a server thread for the sync Playwright API, and a watch
on everything a page does (dialogs, console errors, CSP violations, requests)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "statuspage"

# Runs before any page script: records dialogs by any route and CSP violations.
WATCH_SCRIPT = """
window.__fired = [];
window.alert = window.confirm = window.prompt = function (m) { window.__fired.push(String(m)); };
document.addEventListener('securitypolicyviolation', function (e) {
  window.__fired.push('csp:' + e.violatedDirective + ':' + e.blockedURI);
});
"""


class ServerThread:
    """The real aiohttp app from monitor.server on 127.0.0.1:0, run by a loop in a thread
    (the synchronous Playwright API cannot share a thread with a running event loop)."""

    def __init__(self, app: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._app = app
        self._ready = threading.Event()
        self._runner: Any = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, name="statuspage-test-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("test server did not start within 10 s")

    def _run(self) -> None:
        from monitor.server import start

        asyncio.set_event_loop(self.loop)
        self._runner, self.port = self.loop.run_until_complete(start(self._app, "127.0.0.1", 0))
        self._ready.set()
        self.loop.run_forever()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@dataclass
class Watch:
    """Dialogs, console errors, page errors and requests of one page."""

    base: str
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> Any:
        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.add_init_script(WATCH_SCRIPT)
        return page

    def foreign_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(self.base) and not u.startswith("data:")]


def fired(page: Any) -> list[str]:
    return list(page.evaluate("window.__fired || []"))


def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
