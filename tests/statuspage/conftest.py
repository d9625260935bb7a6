"""Fixtures for the status page browser tests: one headless Chromium per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.statuspage.statuspage_pages import CHROMIUM, CHROMIUM_ARGS


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
        require(False, f"a launchable Chromium ({exc.__class__.__name__}: {exc})")
        raise
    yield b
    b.close()
    pw.stop()
