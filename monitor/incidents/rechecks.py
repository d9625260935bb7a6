"""Fast re-checks where the probing is, not where the deciding is.

After a first failure the evaluator asks for the check to run again after `retry_interval`,
so a 60 s check confirms an outage in ~20 s. On a probe node (and on any node whose results
an elected controller elsewhere decides on) nobody here decides; this service runs the same
pure evaluator over this node's own results only, to ask its scheduler for those re-checks.
It keeps nothing and writes nothing: the verdicts that count are the leader's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from monitor.core.results import Result
from monitor.core.spec import CheckSpec
from monitor.rulebook.check_events import Recheck
from monitor.rulebook.check_state import CheckState
from monitor.rulebook.evaluate import evaluate, new_state, rules_for

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.core.clock import Clock


class LocalRechecks:
    def __init__(self, config: Config, *, clock: Clock, recheck: Callable[[str, timedelta], None]) -> None:
        self.clock = clock
        self.recheck = recheck
        self.states: dict[str, CheckState] = {}
        self.on_config(config)

    def on_config(self, config: Config) -> None:
        self.rules = rules_for(config.evaluation, config.monitor.tz)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def on_result(self, spec: CheckSpec, result: Result) -> None:
        now = self.clock.now()
        state = self.states.get(spec.name) or new_state(spec.name, now)
        self.states[spec.name], events = evaluate(state, result, now, spec, self.rules)
        for ev in events:
            if isinstance(ev, Recheck):
                self.recheck(ev.check, ev.delay)
