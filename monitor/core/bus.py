"""In-process signals between the running services, and the monitor's own health.

The bus only says "look again now" ("state_changed", "incident_changed", "component_changed",
"outbox_added", "announcement_changed"); durable facts live in the database, so a missed
signal costs at most one poll interval, never a decision.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


class Bus:
    """Publishing never fails the publisher: a subscriber's exception is logged."""

    def __init__(self) -> None:
        self._subs: dict[str, list[Callable[[Any], Any]]] = {}

    def subscribe(self, topic: str, callback: Callable[[Any], Any]) -> None:
        self._subs.setdefault(topic, []).append(callback)

    def publish(self, topic: str, payload: Any = None) -> None:
        for cb in self._subs.get(topic, []):
            try:
                out = cb(payload)
                if asyncio.iscoroutine(out):
                    asyncio.get_running_loop().create_task(out)
            except Exception:
                log.exception("subscriber of %s failed", topic)


@dataclass
class Health:
    """The monitor's own state that /healthz and the self-problem alerts read."""

    started: bool = False
    config_errors: list[str] = field(default_factory=list)
    last_reload_ok: bool = True
