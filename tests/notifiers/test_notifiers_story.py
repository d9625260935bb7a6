"""The login-outage story (tests/statuspage/statuspage_story.py), message by message: the exact
text every audience is sent (the outbox rows the dispatcher delivers), in both languages,
with the durations (outage from first failure to recovery, the quiet period named apart)
and the names (the acker)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.core.durations import human_duration
from tests.statuspage.statuspage_story import ACKER, FAULT_AT, START, Story, play


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    yield play(tmp_path_factory.mktemp("story"))


def _local(when) -> str:  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return when.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%H:%M")


def test_each_audience_gets_each_event_once_in_its_language(story: Story) -> None:
    for channel in ("oncall", "oncall-en"):
        assert [m.event for m in story.to(channel)] == [
            "incident.opened", "incident.acked", "incident.updated", "incident.resolved"]
    for channel in ("staff", "staff-en"):
        assert [m.event for m in story.to(channel)] == [
            "announcement.published", "announcement.updated", "announcement.closed"]
    chinese = re.compile(r"[\u4e00-\u9fff]")
    for m in story.to("oncall-en") + story.to("staff-en"):
        # English channels: no Chinese but the names configured in Chinese (checks) and what
        # the platform itself said.
        text = m.title + m.body
        for allowed in ("登录", "发票查询", "数据同步", "发票字段完整性", "appKey或appSecret错误"):
            text = text.replace(allowed, "")
        assert not chinese.search(text), (m.event, m.title, m.body)
    for m in story.to("oncall") + story.to("staff"):
        words = set(re.findall(r"\b(monitoring|investigating|acknowledged|resolved|down|up|step|token request)\b",
                               m.title + m.body))
        assert not words, (m.event, words, m.body)


def test_the_page_on_call_gets(story: Story) -> None:
    (zh,) = story.to("oncall", "incident.opened")
    (en,) = story.to("oncall-en", "incident.opened")
    assert zh.at - START - FAULT_AT <= human_timedelta("1m")
    assert zh.title == "【故障·严重】登录服务中断"
    for line in ("可能原因：凭据或权限（很可能）", "· 平台在 HTTP 200 的返回内容中报错 E1001：appKey或appSecret错误",
                 "· 失败发生在获取 token 时", "先查：先查我们的配置：appKey/appSecret 是否被修改或过期",
                 "失败检查：登录，步骤：获取 token", "平台返回：HTTP 200，但返回内容中报错 E1001 appKey或appSecret错误",
                 "开始于：2026-03-02 09:02", "处理手册：https://wiki.example.com/runbooks/einvoice-login",
                 "状态页：http://127.0.0.1:8080/", "内部页面（检查明细）：http://127.0.0.1:8080/internal/",
                 "确认（停止提醒和升级）：invoicewatch ack 1"):
        assert line in zh.body, line
    assert en.title == "[DOWN · critical] Login: major outage"
    for line in ("Probable cause: credentials or permission (likely)",
                 "- the platform reported error E1001 inside an HTTP 200 answer: appKey或appSecret错误",
                 "Check first: Check our configuration first", "Failed check: 登录, step: token",
                 "Platform said: HTTP 200, but an error inside the answer: E1001", "Internal page (check detail): http://127.0.0.1:8080/internal/",
                 "Ack (stops reminders and escalation): invoicewatch ack 1"):
        assert line in en.body, line


def test_the_ack_names_who(story: Story) -> None:
    (zh,) = story.to("oncall", "incident.acked")
    (en,) = story.to("oncall-en", "incident.acked")
    assert zh.title == "【已确认】登录服务中断" and zh.body == f"{ACKER} 已确认故障 #1，提醒和升级已停止。"
    assert en.body == f"{ACKER} acknowledged incident #1; reminders and escalation stopped."


def test_staff_hear_after_the_delay_with_the_workaround(story: Story) -> None:
    (zh,) = story.to("staff", "announcement.published")
    (en,) = story.to("staff-en", "announcement.published")
    assert zh.at - START - FAULT_AT == human_timedelta("5m")
    assert zh.title == "【系统公告】登录暂时无法使用"
    assert "现象：登录暂时无法使用，操作会失败或无响应。" in zh.body and "临时办法：请改用手机App登录开票。" in zh.body
    assert "下次更新时间：2026-03-02 09:37" in zh.body
    assert en.title == "[Notice] Login is unavailable"
    assert "Meanwhile: Please sign in with the mobile app instead." in en.body


def test_recovery_is_told_at_once_and_sends_staff_back_to_the_normal_process(story: Story) -> None:
    inc = story.incident
    recovered = inc["started_at"] + outage(story)
    (oncall,) = story.to("oncall", "incident.updated")
    (staff,) = story.to("staff", "announcement.updated")
    (staff_en,) = story.to("staff-en", "announcement.updated")
    assert oncall.at == staff.at == recovered, "staff hear of the recovery when it happens"
    span = human_duration(outage(story))
    assert oncall.title == "【已恢复·观察中】登录服务中断"
    assert oncall.body.startswith(f"登录的所有检查已恢复正常（中断 {span}）。进入 10m 观察期")
    assert staff.title == "【公告更新】登录已恢复，正在观察"
    assert staff.body.startswith("登录已恢复，请恢复正常流程。")
    assert f"现象：登录已于 {_local(recovered)} 恢复正常（中断 {span}）" in staff.body
    assert "现在请：请恢复正常流程，直接在系统中开票。故障期间用纸质发票或手机App开具的票据，请在系统中补录。" in staff.body
    assert "临时办法" not in staff.body and "暂时无法使用" not in staff.body, "the outage text is not repeated"
    assert staff_en.body.startswith("Login is back: please return to the normal process.")
    assert "Meanwhile:" not in staff_en.body and "What to do now: Please return to the normal process." in staff_en.body


def test_resolution_gives_the_outage_and_the_quiet_period_apart(story: Story) -> None:
    inc = story.incident
    span = human_duration(outage(story))
    recovered = inc["started_at"] + outage(story)
    (zh,) = story.to("oncall", "incident.resolved")
    (en,) = story.to("oncall-en", "incident.resolved")
    assert inc["resolved_at"] - recovered == human_timedelta("10m")
    assert zh.title == "【已解决】登录服务中断"
    assert f"中断时段：2026-03-02 {_local(inc['started_at'])} 至 {_local(recovered)}（中断 {span}）" in zh.body
    assert f"此后观察 10m 无异常，于 {_local(inc['resolved_at'])} 关闭。" in zh.body
    assert f"(down for {span})" in en.body and "Then watched for 10m without a failure" in en.body
    (closed,) = story.to("staff", "announcement.closed")
    assert closed.title == "【已恢复】登录故障已结束"
    assert closed.body.startswith(f"登录已稳定运行 10m，本次故障结束。中断时段：2026-03-02 {_local(inc['started_at'])} 至 "
                                  f"{_local(recovered)}（中断 {span}）。")
    assert "暂时无法使用" not in closed.body and "临时办法" not in closed.body
    (closed_en,) = story.to("staff-en", "announcement.closed")
    assert closed_en.title == "[Resolved] Login: incident over"


def outage(story: Story):  # type: ignore[no-untyped-def]
    """First failure to recovery, as the incident recorded it."""
    (update,) = story.to("oncall", "incident.updated")
    return update.at - story.incident["started_at"]


def human_timedelta(text: str):  # type: ignore[no-untyped-def]
    from monitor.core.durations import parse_duration

    return parse_duration(text)


def test_story_artifacts_are_kept(story: Story) -> None:
    folder = Path(__file__).resolve().parents[2] / "test-artifacts" / "story"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for m in story.messages:
        lines += [f"== {m.at - START} {m.channel} {m.event}", m.title, m.body, ""]
    (folder / "messages.txt").write_text("\n".join(lines), encoding="utf-8")
    assert len(story.messages) == 14
