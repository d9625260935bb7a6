"""`invoicewatch status`: since, next run, the full reason, disabled / inhibited / silenced
checks named, the summary line, exit 1 on down, --json against its schema, --watch."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli.output import schema
from tests.cli.cli_kit import CHECKS, REASON, config_text, invoke, run_pty, seed, valid, words_whole


def by_check(doc: dict) -> dict:
    return {r["check"]: r for r in doc["checks"]}


def test_status_json_is_typed_and_matches_its_schema(seeded: Path) -> None:
    out = invoke("-c", str(seeded), "status", "--json")
    assert out.exit_code == 1  # 登录 is down
    doc = valid(out.output, "status")
    rows = by_check(doc)
    assert rows["登录"]["status"] == "down" and rows["登录"]["message"] == REASON  # whole, never cut
    assert rows["登录"]["latency_ms"] == 43.6 and rows["登录"]["incident"] == 1
    assert rows["发票查询"]["inhibited_by"] == 1 and "inhibited: a symptom of incident #1" in rows["发票查询"]["note"]
    assert rows["平台证书"]["status"] == "disabled" and rows["平台证书"]["next_run_at"] is None
    assert rows["新检查"]["status"] == "pending" and 0 <= rows["新检查"]["first_run_within_s"] < 60
    assert "first run within" in rows["新检查"]["note"] and "staggered start" in rows["新检查"]["note"]
    assert rows["北京节点"]["note"] == "runs only at beijing (this node is local)"
    assert rows["数据同步"]["silenced_until"] is not None and "silenced until" in rows["数据同步"]["note"]
    assert "recovering: 1 of 2 good results" in rows["数据同步"]["note"]
    assert doc["summary"] == {"up": 1, "degraded": 0, "down": 3, "unknown": 0, "maintenance": 0, "pending": 2,
                              "disabled": 1, "inhibited": 1, "down_enabled": 3}
    assert rows["本地网关"]["next_run_at"] > rows["本地网关"]["last_result_at"]


def test_status_table_names_everything_and_summarises(seeded: Path) -> None:
    out = invoke("-c", str(seeded), "status", columns=120)
    assert out.exit_code == 1
    lines = out.output.splitlines()
    assert lines[0].split()[:4] == ["CHECK", "COMPONENT", "KIND", "STATUS"]
    assert all(len(line) <= 120 for line in lines)
    text = out.output
    for word in ("disabled in the config (enabled: false)", "staggered start", "runs only at beijing"):
        assert word in " ".join(text.split())
    assert "\x1b[" not in text  # not a terminal: no colour
    assert lines[-1].startswith("1 up, 3 down (1 inhibited), 2 pending, 1 disabled")
    assert words_whole(lines, [REASON]) == []  # the reason wraps at spaces only


def test_status_says_when_the_monitor_seems_not_to_run(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    db = f"sqlite:///{tmp_path}/m.db"
    seed(db, datetime.now(UTC) - timedelta(hours=2))
    path = tmp_path / "c.yaml"
    path.write_text(config_text(db, CHECKS), encoding="utf-8")
    out = invoke("-c", str(path), "status", columns=200)
    assert out.output.splitlines()[-1].startswith("no check has run since ")
    assert out.output.splitlines()[-1].endswith(f"(2h ago): the monitor does not seem to be running; start it with: "
                                                f"invoicewatch -c {path} run")
    assert valid(invoke("-c", str(path), "status", "--json").output, "status")["monitor_running"] is False


def test_status_exit_0_when_nothing_enabled_is_down(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/m.db"
    seed(db)
    path = tmp_path / "c.yaml"
    path.write_text(config_text(db, CHECKS.replace("name: 登录, kind: tcp", "name: 登录, enabled: false, kind: tcp")
                                .replace("depends_on: [登录]", "enabled: false").replace("name: 数据同步, kind", "name: 数据同步, enabled: false, kind")))
    assert invoke("-c", str(path), "status").exit_code == 0


@pytest.mark.parametrize("columns", [80, 120])
def test_status_on_a_terminal_fits_colours_and_never_wraps_mid_word(seeded: Path, columns: int) -> None:
    screen = run_pty("-c", str(seeded), "status", columns=columns, cwd=seeded.parent)
    assert screen.code == 1, screen.text
    assert screen.coloured
    lines = [line for line in screen.lines if line]
    assert max(len(line) for line in lines) <= columns
    assert words_whole(lines, [REASON, "disabled in the config (enabled: false)", "newest record is 4s old"]) == []
    assert "1 up, 3 down (1 inhibited)" in lines[-1]
    plain = run_pty("-c", str(seeded), "status", columns=columns, cwd=seeded.parent, env={"NO_COLOR": "1"})
    assert not plain.coloured
    assert [line.split()[:1] for line in plain.lines] == [line.split()[:1] for line in screen.lines]  # same layout


def test_status_watch_refreshes_in_place_until_ctrl_c(seeded: Path) -> None:
    screen = run_pty("-c", str(seeded), "status", "--watch", "--every", "0.2", columns=100, cwd=seeded.parent,
                     timeout=120, interrupt_when=lambda text: text.count("as of") >= 2)
    assert screen.code == 0
    assert screen.raw.count("as of") >= 2
    assert "\x1b[2K" in screen.raw or "\x1b[1A" in screen.raw  # the table is redrawn, not appended


def test_every_schema_is_a_json_schema() -> None:
    import jsonschema

    for path in sorted((Path(__file__).resolve().parents[2] / "monitor" / "cli" / "schemas").glob("*.json")):
        jsonschema.Draft202012Validator.check_schema(schema(path.stem))
