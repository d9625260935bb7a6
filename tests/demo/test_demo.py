"""`invoicewatch demo` for real, with a short story: the simulator, the monitor, the page and
the inbox in one process; the terminal shows the on-call page, the staff announcement, the
page change and the recovery, and stopping stops everything."""

from __future__ import annotations

import asyncio
import io
import socket
from pathlib import Path

from monitor.config import load_config
from monitor.demo import DEMO_TIMING, END, STORY, Demo, demo_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config_text(tmp: Path, sim_port: int) -> str:
    inbox = f"json://127.0.0.1:{sim_port}/_admin/inbox"
    return f"""
monitor: {{database: "sqlite:///{tmp}/unused.db", timezone: Asia/Shanghai}}
components:
  - {{id: login, name: {{zh-CN: 登录, en: Login}}}}
platforms:
  sim:
    profile: simulator
    base_url: http://127.0.0.1:{sim_port}
    credentials: {{appKey: sim-admin, appSecret: sim-admin-secret}}
checks:
  - {{name: 登录, kind: login, platform: sim, component: login, interval: 1s, timeout: 1s,
      failure_threshold: 1, success_threshold: 1, retry_interval: 1s}}
channels:
  - {{name: oncall, urls: "{inbox}/oncall", audience: oncall}}
  - {{name: staff, urls: "{inbox}/staff", audience: staff}}
incidents: {{resolve_after: 2s}}
announcements: {{delay: 1s, min_impact: minor}}
notifications: {{poll_interval: 1s}}
status_page: {{port: 0, debounce: 100ms}}
simulator: {{enabled: true, port: {sim_port}}}
"""


async def test_the_story_is_told_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "config.yaml"
    path.write_text(config_text(tmp_path, port), encoding="utf-8")
    config = load_config(path)
    story = (
        (0.5, "the tax bureau logs the platform out", (), ("tax_logged_out", {})),
        (6.0, "the tax bureau login works again", ("tax_logged_out",), None),
    )
    out = io.StringIO()
    demo = Demo(config, tmp_path / "demo", out, story=story, end=7.0)
    assert demo.config.monitor.database == f"sqlite:///{tmp_path / 'demo' / 'demo.db'}"
    task = asyncio.create_task(demo.run())
    wanted = ("on-call   <- 【故障", "staff     <- 【系统公告】", "page      login: no data -> major_outage",
              "login: major_outage -> operational", "on-call   <- 【已解决】")
    loop = asyncio.get_running_loop()
    end = loop.time() + 60
    while loop.time() < end and not all(w in out.getvalue() for w in wanted) and not task.done():
        await asyncio.sleep(0.2)
    demo.done.set()  # what Ctrl-C does
    await asyncio.wait_for(task, 30)
    text = out.getvalue()
    missing = [w for w in wanted if w not in text]
    assert not missing, text
    assert text.index("on-call   <- 【故障") < text.index("on-call   <- 【已解决】")
    assert "http://127.0.0.1:" in text.splitlines()[1]  # where to look
    assert text.rstrip().endswith("stopped")
    with socket.socket() as s:  # nothing listens on the simulator's port any more
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()


def test_the_demo_only_shortens_waits_and_keeps_its_own_data(tmp_path: Path) -> None:
    config = load_config(Path(__file__).resolve().parents[2] / "config.example.yaml")
    demo = demo_config(config, tmp_path)
    assert demo.announcements.delay.total_seconds() == 30 and demo.incidents.resolve_after.total_seconds() == 30
    assert demo.status_page.output_dir == str(tmp_path / "status")
    assert {s.name: s.interval.total_seconds() for s in demo.checks if s.kind in ("query", "freshness")} == {
        "发票查询": 20, "数据同步": 20}
    sql = next(s for s in demo.checks if s.kind == "sql")
    assert sql.url == demo.monitor.database  # "the monitor's database" follows the demo's
    assert config.monitor.database != demo.monitor.database


def test_the_story_fits_in_about_five_minutes() -> None:
    """README: about five minutes, the last fault cleared early enough for its recovery and
    its resolution (up again, then resolve_after without a failure) to be told before END."""
    times = [at for at, *_ in STORY]
    assert times == sorted(times) and END <= 5.5 * 60
    recovery = 2 * DEMO_TIMING["interval of 发票查询 (query) and 数据同步 (freshness)"].total_seconds()
    assert times[-1] + recovery + DEMO_TIMING["incidents.resolve_after"].total_seconds() + 5 <= END
