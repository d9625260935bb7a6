"""Telling people: channels (Apprise URLs), routing, templates, the durable outbox, dispatch.

Public surface (CONTRACTS.md): `Notice` and the event names in `notifiers.events`, and
`enqueue(session, notice, config) -> int`, which adds outbox rows to the caller's session
without committing. Everything else is reached through its module.

Import order matters once: monitor.config.models imports notifiers.config (the section
models), which subclasses monitor.config.models.Strict. Importing monitor.config first here
makes either entry point (`import notifiers...` or `import monitor.config`) work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import monitor.config  # noqa: F401  (see the docstring: import order)
from notifiers.events import Notice

if TYPE_CHECKING:
    from sqlmodel import Session

    from monitor.config import Config


def enqueue(session: Session, notice: Notice, config: Config) -> int:
    """Add one outbox row per routed channel target; return how many rows were added.

    Does not commit: the caller commits with the change that caused the notice and then
    publishes "outbox_added" on the bus. Idempotent on (notice.key, channel, target).
    """
    from notifiers.outbox import enqueue as _enqueue

    return _enqueue(session, notice, config)


__all__ = ["Notice", "enqueue"]
