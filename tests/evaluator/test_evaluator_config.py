"""Config sections of deciding: every mistake is one line naming file:line and the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.config import load_config
from monitor.core import cron
from monitor.core.errors import ConfigError

HEAD = "components:\n  - {id: api, name: API}\nchecks:\n  - {name: api, kind: tcp, host: 127.0.0.1, port: 9, component: api}\n"

BAD = [
    ("maintenance:\n  - {title: x, cron: '0 2 * * 8', duration: 1h}\n", "6:", "maintenance[0].cron: not a crontab expression: weekday '8' is not 0-7"),
    ("maintenance:\n  - {title: x, cron: '0 2 * * 0'}\n", "6:", "maintenance[0]: a recurring window (cron) needs a duration"),
    ("maintenance:\n  - {title: x, start: '2026-03-10 22:00'}\n", "6:", "maintenance[0]: a one-off window needs exactly one of end or duration"),
    ("maintenance:\n  - {title: x, start: '2026-03-10 22:00', end: '2026-03-10 21:00'}\n", "6:", "end must be after start"),
    ("maintenance:\n  - {title: x, start: '2026-03-10 22:00', duration: 1h, components: [apj]}\n", "6:", "maintenance[0].components[0]: unknown component 'apj' (did you mean 'api'?)"),
    ("maintenance:\n  - {title: x, start: '2026-03-10 22:00', duration: 1h, timezone: Mars/Olympus}\n", "6:", "unknown time zone 'Mars/Olympus'"),
    ("slos:\n  - {component: api, objective: 100}\n", "6:", "slos[0].objective: objective must be between 0 and 100%"),
    ("slos:\n  - {component: apx, objective: 99.5%}\n", "6:", "slos[0].component: unknown component 'apx'"),
    ("slos:\n  - {component: api, objective: 99.5, checks: [ghost]}\n", "6:", "slos[0].checks[0]: unknown check 'ghost'"),
    ("slos:\n  - {component: api, objective: 99.5}\n  - {component: api, objective: 99}\n", "7:", "duplicate SLO 'api'"),
    ("incidents: {resolve_after: 10x}\n", "5:", "incidents.resolve_after: '10x' is not a duration"),
    ("incidents: {resolve_in: 10m}\n", "5:", "unknown key 'resolve_in' (did you mean 'resolve_after'?)"),
    ("evaluation: {flapping: {changes: 1}}\n", "5:", "evaluation.flapping.changes"),
    ("defaults: {quorum: 0}\n", "5:", "defaults.quorum"),
]


@pytest.mark.parametrize(("extra", "line", "message"), BAD, ids=[b[2][:40] for b in BAD])
def test_bad_deciding_config_is_one_clear_line(tmp_path, extra: str, line: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HEAD + extra, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    problems = [str(p) for p in err.value.problems]
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{line}") and message in problems[0], problems[0]


def test_deciding_sections_have_sane_defaults(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HEAD, encoding="utf-8")
    config = load_config(path)
    assert config.incidents.resolve_after == timedelta(minutes=10)
    assert config.evaluation.flapping.changes == 5
    assert config.maintenance == [] and config.slos == []
    assert config.checks[0].failure_threshold == 3 and config.checks[0].quorum is None


def test_objective_reads_percent_or_fraction(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HEAD + "slos:\n  - {component: api, objective: 99.5%}\n  - {name: b, component: api, objective: 0.99}\n", encoding="utf-8")
    assert [s.objective for s in load_config(path).slos] == [pytest.approx(0.995), 0.99]


SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("expr", "weekday"),
    [("0 2 * * 0", "Sunday"), ("0 2 * * 7", "Sunday"), ("0 2 * * 1", "Monday"), ("0 2 * * sat", "Saturday"), ("0 2 * * 5-7", "Friday")],
)
def test_crontab_weekdays_mean_what_admins_mean(expr: str, weekday: str) -> None:
    monday = datetime(2026, 3, 2, 0, 0, tzinfo=SHANGHAI)
    first = next(cron.starts_between(expr, SHANGHAI, monday, monday + timedelta(days=8)))
    assert first.astimezone(SHANGHAI).strftime("%A %H:%M") == f"{weekday} 02:00"


def test_active_occurrence_of_a_recurring_window() -> None:
    sunday_0230 = datetime(2026, 3, 8, 2, 30, tzinfo=SHANGHAI)
    start = cron.active_start("0 2 * * 0", SHANGHAI, timedelta(hours=1), sunday_0230)
    assert start == datetime(2026, 3, 8, 2, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert cron.active_start("0 2 * * 0", SHANGHAI, timedelta(hours=1), sunday_0230 + timedelta(minutes=30)) is None


def test_every_platform_check_depends_on_that_platforms_login() -> None:
    """A login outage folds every other check of the platform (a flow included) into one incident."""
    from monitor.rulebook.topology import effective_dependencies

    config = load_config("config.example.yaml")
    deps = effective_dependencies(config.checks)
    logins = {s.name for s in config.checks if s.kind == "login"}
    platform_checks = [s for s in config.checks if getattr(s, "platform", None) and s.kind != "login"]
    assert {s.kind for s in platform_checks} >= {"query", "flow", "issuance", "lifecycle", "permission"}
    for s in platform_checks:
        assert logins <= set(deps[s.name]), s.name
    for name in logins:
        assert not set(deps[name]) & logins
