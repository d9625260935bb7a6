"""Delivery around the outbox, for when the database refuses writes, and the journal that lets
the recovered database know what was already sent.

    deliver_directly(config, notice, skip)   render, redact and send one notice to each routed
                                             target now (Apprise, in the caller's thread);
                                             returns the targets that accepted it
    DirectJournal                            what was sent that way: one JSON line per
                                             delivered (key, target), in a file allocated
                                             in full while the disk had room

The outbox is how every message normally leaves (decided and stored in one transaction). A
full disk breaks that: the row that would carry the message cannot be written. The monitor's
own problem report (notifiers/selfcheck.py) and a decision that cannot be stored
(monitor/incidents/unstored.py) then go out directly, each with its idempotency key in the
`X-Invoicewatch-Key` header, and each delivery is written to the journal. When writes work
again, the stored outbox rows of those keys are inserted as already sent for the targets the
journal names, so nobody hears it twice; then the journal is emptied.

Why preallocated: the journal usually lives on the same full disk as the database. Its file
is allocated to `capacity` bytes (posix_fallocate, zeros) when the monitor starts, and
records are written over those zeros in place, which needs no new blocks (on copy-on-write
filesystems such as btrfs or ZFS even an overwrite may need space: put the journal elsewhere
there with `monitor.journal`). The content ends at the first NUL byte.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.core.events import Notice
from monitor.core.secrets import Redactor
from notifiers.outbox import environment_for
from notifiers.render import render
from notifiers.routing import body_format, targets_for
from notifiers.sender import notify_type, send, url_secrets

if TYPE_CHECKING:
    from monitor.config import Config

log = logging.getLogger(__name__)
CAPACITY = 256 * 1024
TargetKey = tuple[str, int]  # (channel, target index), as in monitor.store.outbox


def deliver_directly(
    config: Config, notice: Notice, *, skip: Iterable[TargetKey] = (), redactor: Redactor | None = None
) -> list[TargetKey]:
    """Send `notice` to every routed target not in `skip`, now, bypassing the outbox; return
    the targets that accepted it. Text is rendered and redacted exactly as `enqueue` does."""
    env = environment_for(config)
    redactor = redactor or Redactor(config.secrets)
    done = set(skip)
    delivered: list[TargetKey] = []
    for target in targets_for(notice, config):
        key = (target.channel.name, target.index)
        if key in done:
            continue
        channel = target.channel
        language = channel.language or config.monitor.language
        msg = render(env, notice, config, audience=channel.audience, language=language,
                     body_format=body_format(channel, target.url))
        outcome = send(target.url, title=redactor.redact(msg.title), body=redactor.redact(msg.body),
                       body_format=msg.body_format, kind=notify_type(notice.event, notice.severity),
                       timeout=channel.timeout.total_seconds(), key=notice.key, mentions=tuple(channel.mentions))
        if outcome.ok:
            delivered.append(key)
            log.warning("sent %s to %s[%d] directly (the database refuses writes)", notice.event, *key,
                        extra={"event": "message.delivered", "fields": {
                            "channel": key[0], "target": key[1], "events": [notice.event], "direct": True,
                            "key": notice.key}})
        else:
            error = redactor.redact(Redactor(url_secrets(target.url)).redact(outcome.error or ""))
            log.error("direct delivery of %s to %s[%d] failed: %s", notice.event, *key, error,
                      extra={"event": "message.failed", "fields": {
                          "channel": key[0], "target": key[1], "events": [notice.event], "direct": True,
                          "error": error}})
    return delivered


@dataclass(frozen=True)
class Sent:
    """One direct delivery: the notice's key, the target, when, and what it was about."""

    key: str
    target: TargetKey
    at: datetime
    event: str
    component: str | None = None
    started_at: datetime | None = None  # of an incident opened while unstored
    detected_at: datetime | None = None

    def to_json(self) -> str:
        return json.dumps({
            "key": self.key, "channel": self.target[0], "index": self.target[1], "at": self.at.isoformat(),
            "event": self.event, "component": self.component,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "detected_at": self.detected_at.isoformat() if self.detected_at else None,
        }, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> Sent:
        d: dict[str, Any] = json.loads(line)
        return cls(
            key=str(d["key"]), target=(str(d["channel"]), int(d["index"])), at=datetime.fromisoformat(d["at"]),
            event=str(d["event"]), component=d.get("component"),
            started_at=datetime.fromisoformat(d["started_at"]) if d.get("started_at") else None,
            detected_at=datetime.fromisoformat(d["detected_at"]) if d.get("detected_at") else None,
        )


class DirectJournal:
    """The file of direct deliveries not yet reconciled with the database (see the module
    docstring). Thread-safe; every method is cheap and never raises for I/O (a journal that
    cannot be written is logged: the message was delivered all the same)."""

    def __init__(self, path: str | Path, *, capacity: int = CAPACITY) -> None:
        self.path = Path(path)
        self.capacity = capacity
        self._lock = threading.Lock()
        self._entries: list[Sent] = []
        self._used = 0  # bytes of content in the file
        self._load()

    @property
    def entries(self) -> list[Sent]:
        with self._lock:
            return list(self._entries)

    def sent_to(self, key: str) -> set[TargetKey]:
        with self._lock:
            return {e.target for e in self._entries if e.key == key}

    def _load(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.error("cannot open the direct-delivery journal %s: %s", self.path, exc)
            return
        try:
            raw = os.pread(fd, self.capacity, 0)
            content = raw.split(b"\0", 1)[0]
            for line in content.decode("utf-8", "replace").splitlines():
                try:
                    self._entries.append(Sent.from_json(line))
                except (ValueError, KeyError, TypeError):
                    log.warning("ignoring an unreadable line of %s", self.path)
            self._used = len(content)
            size = os.fstat(fd).st_size
            if size < self.capacity:
                try:
                    os.posix_fallocate(fd, 0, self.capacity)
                except OSError:  # no fallocate here (or no room): zeros written the slow way
                    os.pwrite(fd, b"\0" * (self.capacity - size), size)
        except OSError as exc:
            log.error("cannot prepare the direct-delivery journal %s: %s", self.path, exc)
        finally:
            os.close(fd)

    def record(self, sent: Iterable[Sent]) -> None:
        lines = b"".join(s.to_json().encode() + b"\n" for s in sent)
        if not lines:
            return
        with self._lock:
            if self._used + len(lines) >= self.capacity:
                log.error("direct-delivery journal %s is full; a restart before the database recovers "
                          "may repeat these messages", self.path)
            else:
                try:
                    fd = os.open(self.path, os.O_RDWR)
                    try:
                        os.pwrite(fd, lines, self._used)
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    self._used += len(lines)
                except OSError as exc:
                    log.error("cannot write the direct-delivery journal %s: %s", self.path, exc)
            self._entries.extend(Sent.from_json(line) for line in lines.decode().splitlines())

    def clear(self, keys: Iterable[str] | None = None) -> None:
        """Forget the given keys (all when None): the database now holds them as sent."""
        with self._lock:
            drop = None if keys is None else set(keys)
            keep = [] if drop is None else [e for e in self._entries if e.key not in drop]
            content = b"".join(s.to_json().encode() + b"\n" for s in keep)
            try:
                fd = os.open(self.path, os.O_RDWR)
                try:
                    os.pwrite(fd, content + b"\0" * max(0, self._used - len(content)), 0)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                log.error("cannot empty the direct-delivery journal %s: %s", self.path, exc)
            self._entries = keep
            self._used = len(content)
