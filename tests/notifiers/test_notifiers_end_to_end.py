"""From a failing probe to on-call's webhook and back, in one real Monitor: the evaluator
opens the incident and enqueues its notice; the notifier service delivers it; resolution
reaches everyone who was told."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from monitor.runtime import Monitor
from tests.notifiers.notify_helpers import JsonSink, free_port, until, write_config


async def test_failing_check_pages_on_call_and_recovery_sends_resolved(
    tmp_path: Path, sqlite_url: str, json_sink: JsonSink, http_server
) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    config = write_config(tmp_path, sqlite_url, f"""
checks:
  - {{name: 开票端口, kind: tcp, component: issuance, host: 127.0.0.1, port: {port}, interval: 1s, timeout: 500ms,
     failure_threshold: 1, success_threshold: 1, retry_interval: 200ms, runbook: "http://wiki.local/issuance"}}
channels:
  - {{name: oncall, urls: "{json_sink.url('oncall')}", language: en}}
announcements: {{enabled: false}}
incidents: {{resolve_after: 1s}}
notifications: {{poll_interval: 200ms}}
""")
    monitor = Monitor(config)
    await monitor.start()
    runner = None
    try:
        await until(lambda: any("DOWN" in r.payload["title"] for r in json_sink.at("oncall")), timeout=30,
                    what="the incident page")
        page = json_sink.at("oncall")[0]
        assert page.key.startswith("incident:") and page.key.endswith(":opened")
        assert "Invoice issuing" in page.payload["title"] and "invoicewatch ack" in page.payload["message"]
        # The port starts answering: the incident resolves, and on-call hears it.
        app = web.Application()
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await until(lambda: any(r.key.endswith(":resolved") for r in json_sink.at("oncall")), timeout=15,
                    what="the resolved notice")
        resolved = next(r for r in json_sink.at("oncall") if r.key.endswith(":resolved"))
        assert resolved.payload["title"].startswith("[RESOLVED] Invoice issuing")
    finally:
        await monitor.stop()
        if runner is not None:
            await runner.cleanup()
