"""One incident per fault (issue 15.3), against the bundled simulator on a moved clock: every
platform check kind of the example runs through the real deciding service, the watcher and
the outbox (tests/evaluator/fault_story.py).

- one latency fault across every operation: one platform incident naming the components it
  affects, one on-call page, one staff announcement;
- a 30% error rate: never a major outage; the intermittent failure is partial or degraded,
  with the share of failed runs in the title;
- a symptom after its root resolves: it closes with its root and opens nothing on evidence
  from during the fault; one that still fails on evidence taken after the root recovered is
  an incident of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from tests.evaluator.fault_story import CONFIG, FAULT_AT, Outcome, Script, play
from tests.statuspage.statuspage_story import in_thread


def played(tmp: Path, script: Script, text: str = CONFIG) -> Outcome:
    """Play a story in a thread of its own (module fixtures are synchronous)."""
    return in_thread(lambda: play(tmp, script, text=text), "fault-story")


@pytest.fixture(scope="module")
def latency(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    yield played(tmp_path_factory.mktemp("latency"), Script(
        "latency", {"seconds": 0.6}, span=timedelta(minutes=2), end=timedelta(minutes=9),
        moments={"during": FAULT_AT + timedelta(minutes=1, seconds=30)}))


@pytest.fixture(scope="module")
def error_rate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    yield played(tmp_path_factory.mktemp("errors"), Script(
        "error_rate", {"rate": 0.3, "status": 500}, span=timedelta(minutes=8), end=timedelta(minutes=16)))


def test_one_latency_fault_is_one_incident_one_page_one_announcement(latency: Outcome) -> None:
    (inc,) = latency.incidents
    data = inc["data"]
    assert inc["component"] == "platform:sim" and data["kind"] == "platform" and data["platform"] == "sim"
    assert data["cause"] == "platform_overloaded"
    assert set(data["affected"]) >= {"login", "query", "issuance", "sync", "data"}, data["affected"]
    assert inc["impact"] == "minor" and inc["resolved_at"] is not None
    assert [m.event for m in latency.to("oncall")] == ["incident.degraded", "incident.updated", "incident.resolved"]
    (page,) = latency.pages
    assert page.title.startswith("【性能下降】登录、发票查询、开票") and "数据同步" in page.title
    (en,) = [m for m in latency.to("oncall-en") if m.event == "incident.degraded"]
    assert "Login, Invoice query, Invoice issuance" in en.title
    (ann,) = latency.announcements
    assert ann.title.startswith("【系统公告】登录、发票查询、开票") and "响应缓慢" in ann.title
    assert [m.event for m in latency.to("staff")] == [
        "announcement.published", "announcement.updated", "announcement.closed"]


def test_the_page_and_the_cli_show_the_platform_incident_with_its_components(latency: Outcome) -> None:
    site = latency.sites["during"]
    html = (site / "index.html").read_text(encoding="utf-8")
    assert "登录、发票查询、开票" in html
    summary = json.loads((site / "api" / "v2" / "summary.json").read_text(encoding="utf-8"))
    (inc,) = summary["incidents"]
    assert {c["id"] for c in inc["components"]} >= {"login", "query", "issuance", "sync", "data"}
    result = CliRunner().invoke(cli, ["-c", str(_config_path(latency)), "incidents", "--all", "--json"])
    assert result.exit_code == 0, result.output
    (doc,) = json.loads(result.output)["incidents"]
    assert doc["component"] == "platform:sim" and set(doc["affected"]) >= {"login", "query", "issuance"}
    table = CliRunner().invoke(cli, ["-c", str(_config_path(latency)), "incidents", "--all"], env={"COLUMNS": "200"})
    assert "platform:sim" in table.output and "login, query" in table.output, table.output
    shown = CliRunner().invoke(cli, ["-c", str(_config_path(latency)), "incidents", "show", str(doc["id"])])
    assert "affects:" in shown.output and "login" in shown.output, shown.output


def test_a_30_percent_error_rate_is_never_a_major_outage_and_shows_its_rate(error_rate: Outcome) -> None:
    seen = error_rate.seen
    assert not any("major_outage" in statuses for statuses in seen.values()), seen
    assert any("partial_outage" in s or "degraded_performance" in s for c, s in seen.items() if c != "network"), seen
    assert all(inc["impact"] != "critical" for inc in error_rate.incidents)
    titles = [m.title for m in error_rate.to("oncall")]
    assert any("间歇失败" in t and "%" in t for t in titles), titles
    en = [m.title for m in error_rate.to("oncall-en")]
    assert any("intermittent:" in t and "runs failed" in t for t in en), en
    assert len(error_rate.pages) == 1, titles  # one fault of the platform: paged once


# A symptom checked every 4 minutes (at 4:00 it fails: login is refused from 2:00 to 5:00):
# after its root recovers (about 5:30) and resolves (2 minutes later), it still shows the
# failures it saw during the fault until it runs again (8:20).
SLOW_SYMPTOM = CONFIG.replace("component: data, interval: 1m", "component: data, interval: 4m")


@pytest.fixture(scope="module")
def symptom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    yield played(tmp_path_factory.mktemp("symptom"), Script("login_refused", span=timedelta(minutes=3),
                                                             end=timedelta(minutes=16)), text=SLOW_SYMPTOM)


def test_a_symptom_closes_with_its_root(symptom: Outcome) -> None:
    (inc,) = symptom.incidents  # login's, and nothing after it
    assert inc["component"] == "login" and inc["resolved_at"] is not None
    assert "发票字段完整性" in inc["data"]["symptoms"]
    assert [m.event for m in symptom.to("staff")] == [
        "announcement.published", "announcement.updated", "announcement.closed"]
    assert not [m for m in symptom.to("oncall") if m.event in ("incident.opened", "incident.degraded")][1:]
    assert symptom.seen["data"] <= {"operational"}, symptom.seen["data"]  # never an outage of its own


@pytest.fixture(scope="module")
def still_failing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    # The records lose fields from the start, but nothing can be read while login is refused:
    # only after login recovers does the completeness check see (new) evidence of its own.
    script = Script("login_refused", span=timedelta(minutes=3), end=timedelta(minutes=16),
                    also=((timedelta(0), "fields_dropped", {"rate": 0.5}, timedelta(minutes=12)),))
    yield played(tmp_path_factory.mktemp("still"), script, text=SLOW_SYMPTOM)


def test_a_symptom_failing_on_evidence_after_the_root_recovered_is_its_own_incident(still_failing: Outcome) -> None:
    by = {i["component"]: i for i in still_failing.incidents}
    assert len(by) == len(still_failing.incidents), "one incident per component"
    login, data = by["login"], by["data"]
    recovered = datetime.fromisoformat(login["data"]["recovered_at"])
    evidence_at = datetime.fromisoformat(data["data"]["evidence"]["at"])
    assert evidence_at > recovered, (evidence_at, recovered)
    assert data["data"]["evidence"]["cause"]["kind"] == "platform_data_sync"
    assert data["detected_at"] > datetime.fromisoformat(login["data"]["recovered_at"])


def _config_path(outcome: Outcome) -> Path:
    url: str = outcome.config.monitor.database
    return Path(url.removeprefix("sqlite:///")).parent / "config.yaml"


def test_a_tax_bureau_logout_pages_with_the_bureau_state_and_no_empty_code(tmp_path: Path) -> None:
    """The platform answered success (no error code) but the account is logged out at the tax
    bureau: the page says what the platform said, never a code it did not give ("None")."""
    out = played(tmp_path, Script("tax_logged_out", span=timedelta(minutes=2), end=timedelta(minutes=8)))
    for channel in ("oncall", "oncall-en"):
        (page,) = [m for m in out.to(channel) if m.event == "incident.opened"]
        assert "None" not in page.title + page.body, page.body
        assert "  " not in page.body.replace("\n  ", "\n"), page.body  # no gap where a code would be
    (zh,) = out.to("oncall", "incident.opened")
    assert "可能原因：凭据或权限（很可能）" in zh.body and "平台在 HTTP 200 的返回内容中报错：tax bureau:" in zh.body, zh.body
    (en,) = out.to("oncall-en", "incident.opened")
    assert "the platform reported an error inside an HTTP 200 answer: tax bureau:" in en.body, en.body
