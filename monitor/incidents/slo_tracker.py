"""SLOs at run time: per-minute series kept in memory, loaded once from `check_result`, fed
by every result, evaluated periodically into `slo_status` with a notice when an alert rises.
The arithmetic is in `monitor.rulebook.slo`; the rows in `monitor.store.slo`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from monitor.core.events import Notice
from monitor.core.results import Result
from monitor.core.spec import CheckSpec
from monitor.rulebook import notices, slo
from monitor.rulebook.maintenance import past_intervals
from monitor.rulebook.topology import Topology
from monitor.store import maintenance, rollups
from monitor.store import slo as slo_rows
from monitor.store.slo import SloStatus

if TYPE_CHECKING:
    from monitor.config import Config


class SloTracker:
    def __init__(self, config: Config, topology: Topology) -> None:
        self.slos = list(config.slos)
        self.series: dict[str, slo.Series] = {s.id: slo.Series() for s in self.slos}
        self.members: dict[str, list[Any]] = {}  # check name -> SLOs counting it
        for s in self.slos:
            for check in s.checks or topology.by_component.get(s.component, ()):
                self.members.setdefault(check, []).append(s)

    def load(self, session: Session, now: datetime) -> None:
        """Fill each series from stored results of its window, minus maintenance."""
        if not self.slos:
            return
        windows = maintenance.all_windows(session)
        for s in self.slos:
            since = now - s.window
            checks = [c for c, ss in self.members.items() if s in ss]
            if not checks:
                continue
            excluded = [
                span
                for w in windows
                if not w.components or s.component in w.components
                for span in past_intervals(w, since, now)
            ]
            rows = rollups.outcomes(session, checks, since)  # raw, and rollups where raw is pruned
            threshold = s.latency.total_seconds() if s.latency is not None else None
            self.series[s.id] = slo.series_from(rows, threshold, excluded)

    def add(self, spec: CheckSpec, result: Result, in_maintenance: Any) -> None:
        for s in self.members.get(spec.name, ()):
            if in_maintenance(s.component):
                continue
            threshold = s.latency.total_seconds() if s.latency is not None else None
            self.series[s.id].add(result.started_at, slo.is_good(str(result.status), result.latency_ms, threshold))

    def evaluate(self, session: Session, now: datetime) -> list[Notice]:
        """Write every SLO's figures; return notices for alerts that rose."""
        out: list[Notice] = []
        current = slo_rows.statuses(session)
        for s in self.slos:
            series = self.series[s.id]
            series.prune(now - s.window)
            rep = slo.report(series, now, s.objective, s.window)
            row = current.get(s.id) or SloStatus(slo=s.id, component=s.component, objective=s.objective, updated_at=now)
            old = row.alert
            if rep.alert != old:
                row.alert_since = now if rep.alert != "none" else None
            row.component, row.objective = s.component, s.objective
            row.good, row.total, row.budget_remaining = rep.good, rep.total, rep.budget_remaining
            row.burn = {k: round(v, 4) for k, v in rep.burn.items()}
            row.alert, row.updated_at = rep.alert, now
            slo_rows.save(session, row)
            if slo.rises(old, rep.alert):
                assert row.alert_since is not None
                figures = {
                    **rep.figures(),
                    "objective": s.objective,
                    "message": _summary(rep, s.objective),
                }
                out.append(notices.slo_alert(s.id, s.component, rep.alert, row.alert_since, figures))
        return out


def _summary(rep: slo.SloReport, objective: float) -> str:
    budget = "n/a" if rep.budget_remaining is None else f"{rep.budget_remaining:.1%}"
    burns = ", ".join(f"{k} {v:.1f}x" for k, v in rep.burn.items())
    return f"objective {objective:.3%}; error budget remaining {budget}; burn rates {burns}; rule {rep.rule}"
