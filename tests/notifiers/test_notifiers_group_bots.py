"""WeCom, DingTalk and Feishu / Lark bots: the exact request body each receives, through the
real outbox, dispatcher and Apprise, captured at a local HTTPS receiver (bot_receiver.py:
HTTPS_PROXY + a test CA, nothing patched, nothing leaves 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.core.clock import FakeClock
from monitor.core.events import Notice
from notifiers.channelstyle import STYLES, fit, to_markdown
from notifiers.dispatcher import Dispatcher
from notifiers.outbox import enqueue
from tests.notifiers.bot_receiver import BotReceiver
from tests.notifiers.notify_helpers import write_config

WECOM_KEY = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
DING_TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
FEISHU_TOKEN = "b1b2c3d4-e5f6-7890-abcd-ef1234567890"

CAUSE = {"kind": "credentials_permission", "confidence": "likely", "step": "authenticated call", "evidence": [
    {"fact": "step", "step": "authenticated call"}, {"fact": "via_token"},
    {"fact": "envelope", "code": "E1001", "message": "appKey或appSecret错误", "http_status": 200}]}


@pytest.fixture
def bots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BotReceiver]:
    receiver = BotReceiver(tmp_path)
    for name, value in receiver.environment.items():
        monkeypatch.setenv(name, value)
    yield receiver
    receiver.stop()
    assert receiver.refused == [], "a request tried to go somewhere else"


def opened(clock: FakeClock, results: int = 2) -> Notice:
    return Notice(
        event="incident.opened", key="incident:3:opened", at=clock.now(), incident_id=3, component="login",
        severity="critical", title="登录服务中断",
        data={"check": "登录", "step": "authenticated call", "envelope_code": "E1001",
              "envelope_message": "appKey或appSecret错误", "http_status": 200, "cause": CAUSE,
              "since": (clock.now() - timedelta(minutes=1)).isoformat(), "symptoms": ["发票查询", "数据同步"],
              "title_i18n": {"zh-CN": "登录服务中断", "en": "Login: major outage"},
              "runbook": "https://wiki.example.com/runbooks/einvoice-login",
              "last_results": [{"at": clock.now().isoformat(), "status": "down", "latency_ms": 12.0 + i,
                                "message": "authenticated call: certification: no token: envelope code E1001"}
                               for i in range(results)]},
    )


async def deliver(tmp_path: Path, sqlite_url: str, store_for, clock: FakeClock, channels: str, notice: Notice) -> None:  # type: ignore[no-untyped-def]
    config = write_config(tmp_path, sqlite_url, channels + "notifications: {status_page_url: 'http://127.0.0.1:8080/'}\n")
    store = store_for(sqlite_url)
    with store.session() as s:
        assert enqueue(s, notice, config) >= 1
        s.commit()
    dispatcher = Dispatcher(store, config, clock=clock)
    await dispatcher.run_due()
    await dispatcher.close()


async def test_each_bot_gets_a_body_that_reads_well_there(tmp_path: Path, sqlite_url: str, store_for, clock: FakeClock,  # type: ignore[no-untyped-def]
                                                          bots: BotReceiver) -> None:
    await deliver(tmp_path, sqlite_url, store_for, clock, f"""
channels:
  - {{name: wecom, urls: "wecombot://{WECOM_KEY}", mentions: [wang]}}
  - {{name: ding, urls: "dingtalk://{DING_TOKEN}/", mentions: ["13800000000"]}}
  - {{name: feishu, urls: "feishu://{FEISHU_TOKEN}", mentions: [ou_7d8a6e6df7621556ce0d21922b676706]}}
  - {{name: lark, urls: "lark://{FEISHU_TOKEN}", language: en}}
""", opened(clock))
    (wecom,) = bots.at("qyapi.weixin.qq.com")
    assert wecom.path == "/cgi-bin/webhook/send" and wecom.query == {"key": [WECOM_KEY]}
    doc = wecom.json
    assert doc["msgtype"] == "text"
    text = doc["text"]["content"]
    assert text.startswith("【故障·严重】登录服务中断")
    for line in ("可能原因：凭据或权限（很可能）", "平台在 HTTP 200 的返回内容中报错 E1001：appKey或appSecret错误",
                 "并入本故障的检查（因本故障而失败）：发票查询、数据同步", "确认（停止提醒和升级）：invoicewatch ack 3", "@wang"):
        assert line in text, line
    assert len(text.encode("utf-8")) <= 2048

    (ding,) = bots.at("oapi.dingtalk.com")
    assert ding.path == "/robot/send" and ding.query["access_token"] == [DING_TOKEN]
    doc = ding.json
    assert doc["msgtype"] == "markdown" and doc["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}
    md = doc["markdown"]["text"]
    assert doc["markdown"]["title"] == "【故障·严重】登录服务中断"
    assert md.startswith("# 【故障·严重】登录服务中断\n")
    assert "**可能原因**：凭据或权限（很可能）  \n" in md  # bold label, a hard line break DingTalk keeps
    assert "**处理手册**：https://wiki.example.com/runbooks/einvoice-login" in md  # links stay clickable
    assert md.rstrip().endswith("@13800000000")

    (feishu,) = bots.at("open.feishu.cn")
    assert feishu.path == f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}/"
    card = feishu.json["card"]
    assert feishu.json["msg_type"] == "interactive"
    assert card["header"]["title"]["content"] == "【故障·严重】登录服务中断"
    content = card["elements"][0]["text"]["content"]
    assert card["elements"][0]["text"]["tag"] == "lark_md"
    assert "**先查**：先查我们的配置" in content
    assert content.rstrip().endswith("<at id=ou_7d8a6e6df7621556ce0d21922b676706></at>")

    (lark,) = bots.at("open.larksuite.com")
    content = lark.json["card"]["elements"][0]["text"]["content"]
    assert lark.json["card"]["header"]["title"]["content"] == "[DOWN · critical] Login: major outage"
    assert "**Probable cause**: credentials or permission (likely)" in content
    assert "登录服务中断" not in content  # the English channel reads English titles


async def test_a_long_message_is_cut_at_a_line_to_the_wecom_limit_keeping_the_mention(  # type: ignore[no-untyped-def]
    tmp_path: Path, sqlite_url: str, store_for, clock: FakeClock, bots: BotReceiver
) -> None:
    notice = opened(clock)
    notice.data["envelope_message"] = "很长的错误说明" * 200
    await deliver(tmp_path, sqlite_url, store_for, clock, f"""
channels:
  - {{name: wecom, urls: "wecombot://{WECOM_KEY}", mentions: [wang]}}
""", notice)
    (wecom,) = bots.at("qyapi.weixin.qq.com")
    text = wecom.json["text"]["content"]
    assert len(text.encode("utf-8")) <= 2048
    assert text.startswith("【故障·严重】登录服务中断") and "可能原因：凭据或权限" in text
    assert text.rstrip().endswith("…\n\n@wang")


def test_markdown_escapes_what_would_change_the_meaning() -> None:
    style = STYLES["dingtalk"]
    md = to_markdown("平台返回：E*1001* _x_ [link]\n\n最近结果：\n  09:00 故障", style)
    assert md == "**平台返回**：E\\*1001\\* \\_x\\_ \\[link\\]\n\n**最近结果**：  \n  09:00 故障"


def test_fit_keeps_short_messages_whole() -> None:
    assert fit("t", "a\nb", STYLES["wecombot"], "@x") == "a\nb\n\n@x"
