"""Fixtures for the status page tests: a real SQLite store with the contract tables, a server
on 127.0.0.1 in its own thread (for the synchronous Playwright API), one Chromium per module."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "statuspage"


class ServerThread:
    """The real aiohttp app from monitor.server, on 127.0.0.1:0, run by a loop in a thread."""

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
        fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop)
        fut.result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def root_require(config: pytest.Config) -> Any:
    """tests/conftest.py's `require` (skip locally, fail on CI). Several conftest.py files share
    the module name "conftest", so it is fetched from the plugin manager by its path."""
    plugin = config.pluginmanager.get_plugin(str(Path(__file__).resolve().parents[1] / "conftest.py"))
    assert plugin is not None, "tests/conftest.py not loaded"
    return plugin.require


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """One headless Chromium for the whole module (skipped locally when absent, required on CI)."""
    require = root_require(request.config)
    require(Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover
        require(False, "playwright (Python)")
        raise
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as exc:
        pw.stop()
        require(False, f"a launchable Chromium ({exc.__class__.__name__})")
        raise
    yield b
    b.close()
    pw.stop()


def wait_until(predicate: Any, timeout: float = 5.0, every: float = 0.03) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)
