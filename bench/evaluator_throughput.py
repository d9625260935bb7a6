"""How much deciding costs: evaluate() per result, and one reconcile pass over N checks.

    PYTHONPATH=. python bench/evaluator_throughput.py [checks]

Prints medians of 5 runs. Not a test: figures for the README and for regressions by eye.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from monitor.config.models import Component
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec
from monitor.rulebook.evaluate import evaluate, new_state, sweep
from monitor.rulebook.incident_book import EMPTY_BOOK
from monitor.rulebook.incidents import World, component_statuses, reconcile
from monitor.rulebook.topology import Topology

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def main(n: int) -> None:
    specs = [CheckSpec(name=f"c{i}", kind="tcp", component=f"comp{i % 200}", interval=60, timeout=5) for i in range(n)]
    comps = [Component(id=f"comp{i}", name=f"comp{i}") for i in range(200)]
    topo = Topology.build(specs, comps)
    results = [Result(s.name, Status.DOWN if i % 7 == 0 else Status.UP, T0, 12.0, "x") for i, s in enumerate(specs)]

    def once() -> tuple[float, float, float]:
        states = {s.name: new_state(s.name, T0) for s in specs}
        t = time.perf_counter()
        for _ in range(4):
            for spec, r in zip(specs, results, strict=True):
                states[spec.name], _ = evaluate(states[spec.name], r, T0, spec)
        per_result = (time.perf_counter() - t) / (4 * n)
        t = time.perf_counter()
        for spec in specs:
            states[spec.name], _ = sweep(states[spec.name], T0 + timedelta(seconds=1), spec)
        per_sweep = time.perf_counter() - t
        t = time.perf_counter()
        world = World(topo, states)
        book, actions = reconcile(EMPTY_BOOK, world, T0)
        component_statuses(world)
        per_pass = time.perf_counter() - t
        assert book.open and actions
        return per_result, per_sweep, per_pass

    runs = [once() for _ in range(5)]
    print(f"checks: {n}")
    print(f"evaluate(): {statistics.median(r[0] for r in runs) * 1e6:.1f} µs per result (median of 5)")
    print(f"sweep of all checks: {statistics.median(r[1] for r in runs) * 1e3:.1f} ms (median of 5)")
    print(f"reconcile + component status, {sum(1 for _ in range(0, n, 7))} failing checks: "
          f"{statistics.median(r[2] for r in runs) * 1e3:.1f} ms (median of 5)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
