"""Fixtures for notifier tests: real receivers on 127.0.0.1 and migrated stores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from monitor.store import Store
from tests.notifiers.notify_helpers import JsonSink, Mail, free_port, make_smtp_handler


@pytest.fixture
async def json_sink(http_server: Callable[[web.Application], Any]) -> JsonSink:
    sink = JsonSink()
    app = web.Application()
    app.router.add_post("/{tail:.*}", sink.handle)
    sink.base = await http_server(app)
    return sink


@pytest.fixture
def smtp_sink() -> Iterator[tuple[int, list[Mail]]]:
    from aiosmtpd.controller import Controller

    handler = make_smtp_handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler.mails
    finally:
        controller.stop()


@pytest.fixture
def store_for() -> Iterator[Callable[[str], Store]]:
    stores: list[Store] = []

    def make(url: str) -> Store:
        store = Store(url)
        store.migrate()
        stores.append(store)
        return store

    yield make
    for s in stores:
        s.close()
