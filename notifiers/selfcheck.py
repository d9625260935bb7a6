"""Problems of the monitor itself, told to on-call as monitor.problem notices: a config reload
that failed (the old config keeps running), results that cannot be written to the database.

A reload failure goes through the outbox like everything else (key per distinct set of
errors, so it is told once). A database that refuses writes cannot hold the outbox row that
would report it, so that one notice falls back to a direct Apprise send to the routed
targets (notifiers/direct.py), at most once per `DIRECT_EVERY` per process.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from monitor.core.errors import StoreError
from monitor.core.events import MONITOR_PROBLEM, Notice
from notifiers.direct import deliver_directly
from notifiers.outbox import enqueue

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.store import Store

log = logging.getLogger(__name__)
DIRECT_EVERY = timedelta(minutes=30)


class SelfCheck:
    def __init__(self) -> None:
        self._writer_failures = 0
        self._told_config: str | None = None
        self._last_direct: datetime | None = None

    def notices(self, health: Any, writer: Any, now: datetime) -> list[Notice]:
        """What to report now, given Monitor.health and its ResultWriter."""
        out = []
        errors = list(getattr(health, "config_errors", []) or [])
        if not getattr(health, "last_reload_ok", True) and errors:
            digest = hashlib.sha1("\n".join(errors).encode()).hexdigest()[:12]
            if digest != self._told_config:
                out.append(Notice(
                    event=MONITOR_PROBLEM, key=f"monitor:config-reload-failed:{digest}", at=now, severity="major",
                    title="config reload failed; the monitor keeps running the previous config",
                    data={"detail": "\n".join(errors[:10]), "problem": "config"},
                ))
        failures = int(getattr(writer, "failures", 0) or 0)
        if failures > self._writer_failures and getattr(writer, "last_error", None):
            out.append(Notice(
                event=MONITOR_PROBLEM, key=f"monitor:store-write-failed:{now:%Y%m%d%H}", at=now, severity="major",
                title="check results cannot be written to the database",
                data={"detail": str(writer.last_error)[:1000], "problem": "store"},
            ))
        self._writer_failures = failures
        return out

    def report(self, store: Store, config: Config, notices: list[Notice], now: datetime) -> int:
        """Enqueue the notices; if the database refuses, send them directly instead."""
        if not notices:
            return 0
        try:
            with store.session() as session:
                added = sum(enqueue(session, n, config, now=now) for n in notices)
                session.commit()
        except (SQLAlchemyError, StoreError, OSError) as exc:
            log.error("cannot queue a monitor problem (%s); sending it directly", type(exc).__name__)
            self.send_directly(config, notices, now)
            return 0
        for n in notices:
            if n.data.get("problem") == "config":
                self._told_config = n.key.rsplit(":", 1)[1]
        return added

    def send_directly(self, config: Config, notices: list[Notice], now: datetime) -> None:
        if self._last_direct is not None and now - self._last_direct < DIRECT_EVERY:
            return
        self._last_direct = now
        for notice in notices:
            deliver_directly(config, notice)
