"""Late delivery: when a message that reaches people after it was decided must say so.

A message's text is rendered when it is decided (the outbox holds exactly what was decided),
so its times are absolute. When it goes out later than it was meant to (a channel that kept
failing, a database that refused writes, a held group), the dispatcher puts a line before it
naming when it was decided and when it was delivered (templates `<language>/late.txt.j2`).
Meant to go: at its decision, or at the end of its grouping window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

LATE_AFTER = timedelta(seconds=60)


def late_by(decided_at: datetime, now: datetime, group_until: datetime | None = None) -> timedelta | None:
    """How much later than meant a message goes out now; None when on time."""
    meant = max(decided_at, group_until) if group_until is not None else decided_at
    late = now - meant
    return (now - decided_at) if late >= LATE_AFTER else None
