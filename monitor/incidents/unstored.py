"""Deciding while the database refuses writes (a full disk, a read-only file, a quota).

The deciding tick writes its decisions and their outbox rows in one transaction. When that
transaction is refused, detection must not wait for the disk: `Unstored` keeps deciding in
memory from the last picture (the engine is pure, so the same rules apply), sends every
notice those decisions deserve directly (notifiers/direct.py, the path the self-problem
report uses) and writes each delivery to the direct-delivery journal.

When a transaction works again, the service writes the decisions kept here first, in their
order and with their own times (an incident's `detected_at` is when it was detected, not
when the disk came back), and every notice whose key the journal names is stored under that
key as already sent to the targets that received it: nobody hears it twice. Then the
journal is emptied.

After a restart the in-memory decisions are gone, but the journal is not: an incident opened
from it gets the journal's detection time (`World.detected`), so its notice has the same key
and is stored as sent, not sent again.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from monitor.core.errors import StoreError
from monitor.core.events import INCIDENT_DEGRADED, INCIDENT_OPENED, Notice
from monitor.rulebook import notices
from monitor.rulebook.incident_book import Action, Book
from monitor.rulebook.incidents import World, reconcile
from notifiers.direct import DirectJournal, Sent, TargetKey, deliver_directly

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.core.secrets import Redactor

log = logging.getLogger(__name__)
RETRY_EVERY = timedelta(seconds=30)
HINT_TTL = timedelta(hours=1)  # a journal entry older than this no longer names the open outage  # a target that refused a direct delivery is tried again this often
_OPENINGS = (INCIDENT_OPENED, INCIDENT_DEGRADED)


def journal_path(config: Config) -> Path:
    """`monitor.journal`, or beside the SQLite file, or in $STATE_DIRECTORY (systemd), or in
    var/ beside the config file."""
    if config.monitor.journal:
        return Path(config.monitor.journal)
    url = sa.engine.make_url(config.monitor.database)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db = Path(url.database)
        return db.with_name(db.name + ".direct-journal")
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if state:
        return Path(state) / "invoicewatch.direct-journal"
    base = Path(config.file).parent if config.file else Path()
    return base / "var" / "invoicewatch.direct-journal"


def refused(exc: BaseException) -> bool:
    """An error of the database or the file system, not a bug of ours."""
    return isinstance(exc, sa.exc.SQLAlchemyError | StoreError | OSError)


class Unstored:
    def __init__(self, journal: DirectJournal, redactor: Redactor | None = None) -> None:
        self.journal = journal
        self.redactor = redactor
        self.book: Book | None = None  # the engine's picture, decisions not stored included
        self.actions: list[Action] = []  # in order, since the first refused transaction
        self.since: datetime | None = None
        self._tried: dict[str, datetime] = {}  # notice key -> last direct attempt
        self._reconciled = False  # this transaction stored a journalled notice as sent

    @property
    def active(self) -> bool:
        return self.book is not None

    def detected(self, now: datetime) -> dict[str, tuple[datetime, datetime]]:
        """Openings on-call was told of directly, from the journal (component -> (started_at,
        detected_at)): after a restart, the incident opened again keeps its time and key (the
        rulebook ignores one older than the component's last resolution). Older than
        HINT_TTL, an entry is about an outage long over and is not used."""
        return {e.component: (e.started_at or e.detected_at, e.detected_at) for e in self.journal.entries
                if e.event in _OPENINGS and e.component and e.detected_at is not None
                and now - e.detected_at <= HINT_TTL}

    def decide(self, load_book: Callable[[], Book], world: World, now: datetime, config: Config) -> int:
        """One deciding pass in memory, then the direct deliveries it calls for; returns how
        many decisions are waiting to be stored. `load_book` reads the stored picture (reads
        still work on a full disk) the first time."""
        if self.book is None:
            self.book = load_book()
            self.since = now
            log.error("the database refuses to store decisions; deciding goes on in memory and "
                      "messages go out directly until it accepts writes again",
                      extra={"event": "store.refused", "fields": {"since": now.isoformat()}})
        self.book, actions = reconcile(self.book, world, now)
        self.actions += actions
        self.send(config, now)
        return len(self.actions)

    def send(self, config: Config, now: datetime) -> None:
        for action in self.actions:
            notice = notices.unstored(action)
            if notice is None:
                continue
            last = self._tried.get(notice.key)
            if last is not None and now - last < RETRY_EVERY:
                continue
            self._tried[notice.key] = now
            delivered = deliver_directly(config, notice, skip=self.journal.sent_to(notice.key), redactor=self.redactor)
            inc = action.incident
            self.journal.record(
                Sent(notice.key, t, now, notice.event, inc.component, inc.started_at, inc.detected_at) for t in delivered
            )

    def stored_as(self, action: Action, notice: Notice) -> tuple[Notice, dict[TargetKey, datetime]]:
        """The notice to store for a decision now written: under its direct key, with the
        targets that already received it, when the journal says it went out directly."""
        direct = notices.unstored(action)
        if direct is None:
            return notice, {}
        sent = {e.target: e.at for e in self.journal.entries if e.key == direct.key}
        if not sent:
            return notice, {}
        self._reconciled = True
        return dataclasses.replace(notice, key=direct.key), sent

    def pending(self) -> list[Action]:
        return list(self.actions)

    def stored(self, now: datetime) -> None:
        """A transaction worked. What was kept here is in the database now: forget it, and
        empty the journal once its entries are reconciled (or too old to matter)."""
        if self.book is not None:
            log.warning("the database accepts writes again: %d decisions taken since %s stored",
                        len(self.actions), self.since.isoformat() if self.since else "?",
                        extra={"event": "store.recovered", "fields": {"decisions": len(self.actions)}})
        entries = self.journal.entries
        if entries and (self.book is not None or self._reconciled or not self.detected(now)):
            self.journal.clear()
        self.book, self.actions, self.since = None, [], None
        self._tried.clear()
        self._reconciled = False
