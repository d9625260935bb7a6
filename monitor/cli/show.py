"""Showing results to a person: one check's run (`check`) and every check's state (`status`)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from monitor.config import Config
from monitor.core.clock import Clock, SystemClock
from monitor.core.results import Result
from monitor.store import Store

_MARK = {True: "ok  ", False: "FAIL"}


def result_json(result: Result) -> dict[str, Any]:
    return dataclasses.asdict(result)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _conditions(conds: list[Any], indent: str) -> list[str]:
    out = []
    for c in conds:
        actual = f"actual: {c.actual!r}" if c.error is None else f"error: {c.error}"
        out.append(f"{indent}{_MARK[c.ok]} {c.condition}   ({actual})")
    return out


def format_result(result: Result) -> str:
    lines = [f"{result.check}: {str(result.status).upper()}  {_ms(result.latency_ms)}"]
    if result.message:
        lines.append(f"  {result.message}")
    if result.phases:
        lines.append("  phases: " + ", ".join(f"{k} {v:.1f} ms" for k, v in result.phases.items()))
    lines.extend(_conditions(result.conditions, "  "))
    for i, step in enumerate(result.steps, 1):
        lines.append(f"  step {i} {step.name}: {str(step.status).upper()}  {_ms(step.latency_ms)}  {step.message}".rstrip())
        if step.phases:
            lines.append("    phases: " + ", ".join(f"{k} {v:.1f} ms" for k, v in step.phases.items()))
        lines.extend(_conditions(step.conditions, "    "))
        for k, v in step.values.items():
            lines.append(f"    {k} = {v!r}")
    for k, v in result.values.items():
        lines.append(f"  {k} = {v!r}")
    return "\n".join(lines)


def _age(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    seconds = int((now - then).total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def status_rows(config: Config, store: Store, clock: Clock | None = None) -> list[dict[str, Any]]:
    """One row per configured check (and location seen), newest state from the store."""
    now = (clock or SystemClock()).now()
    states: dict[str, list[Any]] = {}
    for row in store.states():
        states.setdefault(row.check, []).append(row)
    rows = []
    for spec in config.checks:
        seen = states.get(spec.name) or [None]
        for st in seen:
            rows.append(
                {
                    "check": spec.name,
                    "kind": spec.kind,
                    "component": spec.component or "",
                    "location": st.location if st else "",
                    "status": (st.last_status if st else None) or "no data",
                    "latency": _ms(st.last_latency_ms) if st else "-",
                    "age": _age(now, st.last_result_at if st else None),
                    "message": ((st.last_message if st else "") or "")[:80],
                }
            )
    return rows
