"""The incident service on a real database, driven by hand: a config writer and `Running`
(a Monitor that does not probe, with its IncidentService ticked by the test)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from monitor.config import Config, load_config
from monitor.incidents.service import IncidentService
from monitor.runtime import Monitor

BASE = """
monitor: {{database: "{db}", location: local, timezone: Asia/Shanghai, language: zh-CN}}
incidents: {{resolve_after: 5m}}
channels:
  - {{name: oncall, urls: ["json://127.0.0.1:9/hook"]}}
components:
  - {{id: api, name: {{zh-CN: 接口, en: API}}}}
  - {{id: network, name: 本地网络, public: false}}
checks:
  - {{name: api, kind: tcp, host: 127.0.0.1, port: 9, component: api, interval: 10s, timeout: 2s, retry_interval: 5s, description: "token ${{API_TOKEN}}"}}
"""


def write_config(tmp_path: Path, db_url: str, extra: str = "") -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(BASE.format(db=db_url) + extra, encoding="utf-8")
    return load_config(path, env={"API_TOKEN": "tok-secret-123456"})


class Running:
    """A Monitor (not probing) with the incident service driven by hand."""

    def __init__(self, monitor: Monitor, svc: IncidentService) -> None:
        self.monitor, self.svc = monitor, svc
        self.closed = False

    @property
    def store(self) -> Any:
        return self.monitor.store

    async def close(self) -> None:
        self.closed = True
        await self.svc.stop()
        await self.monitor.http.aclose()
        await asyncio.to_thread(self.monitor.store.close)
