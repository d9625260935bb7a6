"""Named points where a test may have the process kill itself with SIGKILL.

`INVOICEWATCH_CRASH_AT=dispatch.after_send` (or `name@N`: on the N-th time the point is
reached) makes `crashpoint(name)` send SIGKILL to this very process: the crash tests drive a
real monitor through a scripted incident and kill it between every pair of durable steps.
Unset (always, in production) it costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "INVOICEWATCH_CRASH_AT"
_hits: dict[str, int] = {}


def crashpoint(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, nth = spec.partition("@")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)
