"""The generated folder: Statuspage JSON, feed, badges, languages, weight, atomic writes, no leaks."""

from __future__ import annotations

import json
import re
import threading
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest

from monitor.statuspage.catalog import CATALOGS
from monitor.statuspage.render import MANIFEST, SiteWriter, build_files, render_site
from monitor.statuspage.snapshot import build_snapshot
from tests.statuspage.statuspage_scenarios import (
    COMPONENTS,
    HOSTILE,
    NOW,
    PRIVATE,
    SCENARIOS,
    background,
    components_yaml,
    hostile_scenario,
    make_config,
    open_store,
    scenario,
)

SCHEMA = json.loads((Path(__file__).parent / "statuspage_summary.schema.json").read_text())
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_summary_json_validates_against_the_statuspage_schema(tmp_path: Path, name: str) -> None:
    config, store, _ = scenario(name, tmp_path)
    files = build_files(build_snapshot(store, config, NOW))
    summary = json.loads(files["api/v2/summary.json"])
    jsonschema.validate(summary, SCHEMA)
    assert {c["id"] for c in summary["components"]} == {c[0] for c in COMPONENTS}
    for doc in ("status.json", "components.json", "incidents.json", "incidents/unresolved.json",
                "scheduled-maintenances.json"):
        assert json.loads(files[f"api/v2/{doc}"])["page"] == summary["page"]


def test_summary_reports_outage_announced_incident_and_maintenance(tmp_path: Path) -> None:
    config, store, seed = scenario("major_with_announcement", tmp_path)
    seed.maintenance("升级", starts_at=NOW + timedelta(hours=5), ends_at=NOW + timedelta(hours=6), components=["sync"])
    summary = json.loads(build_files(build_snapshot(store, config, NOW))["api/v2/summary.json"])
    assert summary["status"] == {"indicator": "critical", "description": "服务严重中断"}
    assert {c["id"]: c["status"] for c in summary["components"]}["issuance"] == "major_outage"
    (incident,) = summary["incidents"]
    assert incident["name"] == "开票：服务中断" and incident["impact"] == "critical"
    assert [u["body"] for u in incident["incident_updates"]] == ["税局接口签名服务故障，供应商正在处理。", "我们发现开票出现异常，正在调查。"]
    assert incident["started_at"] == "2026-03-02T13:52:00.000+08:00"
    (mw,) = summary["scheduled_maintenances"]
    assert mw["status"] == "scheduled" and mw["scheduled_for"] == "2026-03-02T19:30:00.000+08:00"
    jsonschema.validate(summary, SCHEMA)


def test_component_without_status_is_no_data_in_the_json_too(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store, _ = open_store(config)
    summary = json.loads(build_files(build_snapshot(store, config, NOW))["api/v2/summary.json"])
    assert all(c["status"] == "no_data" and c["no_data"] for c in summary["components"])
    assert summary["status"]["indicator"] == "none"
    jsonschema.validate(summary, SCHEMA)


def test_every_language_has_its_own_static_pages_linked_to_each_other(tmp_path: Path) -> None:
    config, store, _ = scenario("one_degraded", tmp_path)
    files = build_files(build_snapshot(store, config, NOW))
    zh, en = files["index.html"].decode(), files["en/index.html"].decode()
    assert '<html lang="zh-CN">' in zh and '<html lang="en">' in en
    assert 'href="en/index.html" hreflang="en"' in zh
    assert 'href="../index.html" hreflang="zh-CN"' in en
    assert "部分服务性能下降" in zh and "Some services are degraded" in en
    assert 'href="../static/status.css' in en and 'href="en/history.html"' not in en
    assert "en/history.html" in files and "history.html" in files


def test_english_default_puts_chinese_under_its_own_folder(tmp_path: Path) -> None:
    config = make_config(tmp_path, language="en")
    store, _ = open_store(config)
    files = build_files(build_snapshot(store, config, NOW))
    assert '<html lang="en">' in files["index.html"].decode()
    assert '<html lang="zh-CN">' in files["zh-CN/index.html"].decode()


def test_times_are_shown_in_the_configured_zone_with_the_zone(tmp_path: Path) -> None:
    config, store, _ = scenario("major_with_announcement", tmp_path)
    html = build_files(build_snapshot(store, config, NOW))["index.html"].decode()
    assert "最后更新：2026-03-02 14:30 UTC+08:00" in html
    assert "所有时间均为 Asia/Shanghai (UTC+08:00)" in html
    assert "下次更新：2026-03-02 15:00 UTC+08:00" in html


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    zh, en = CATALOGS["zh-CN"], CATALOGS["en"]
    assert set(zh) == set(en)
    fields = re.compile(r"\{(\w+)\}")
    for key in zh:
        assert set(fields.findall(zh[key])) == set(fields.findall(en[key])), key


def test_page_shows_the_uptime_formula(tmp_path: Path) -> None:
    config, store, _ = scenario("all_up", tmp_path)
    files = build_files(build_snapshot(store, config, NOW))
    assert "严重中断计为不可用，部分中断计一半" in files["index.html"].decode()
    assert "rounded down to two decimals" in files["en/index.html"].decode()


def test_page_for_20_components_weighs_under_200_kb(tmp_path: Path) -> None:
    extra = [(f"svc{i:02d}", f"服务组件{i:02d}", f"Service {i:02d}") for i in range(16)]
    config = make_config(tmp_path, components=components_yaml(extra))
    store, seed = open_store(config)
    ids = [c[0] for c in (*COMPONENTS, *extra)]
    background(seed, ids, outages=12)
    for cid in ids[:5]:
        seed.incident(cid, status="resolved", started_at=NOW - timedelta(days=2), resolved_at=NOW - timedelta(days=2, minutes=-30))
    seed.incident("query", started_at=NOW - timedelta(minutes=10))
    files = build_files(build_snapshot(store, config, NOW))
    assert files["index.html"].decode().count('<li tabindex="0"') == 20 * 90
    for page in ("index.html", "en/index.html"):
        weight = len(files[page]) + len(files["static/status.css"]) + len(files["static/status.js"])
        assert weight < 200 * 1024, f"{page}: {weight / 1024:.0f} KB"


def test_feed_is_well_formed_atom_with_incidents_and_announcements(tmp_path: Path) -> None:
    config, store, _ = scenario("major_with_announcement", tmp_path)
    root = ET.fromstring(build_files(build_snapshot(store, config, NOW))["feed.atom"])
    entries = root.findall(f"{ATOM}entry")
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert "开票服务中断" in titles and "开票：服务中断 (调查中)" in titles
    assert all(e.findtext(f"{ATOM}id", "").startswith("urn:uuid:") for e in entries)
    announcement = entries[titles.index("开票服务中断")].findtext(f"{ATOM}content")
    assert "临时办法: 请暂时使用纸质发票" in (announcement or "")


@pytest.mark.parametrize(("name", "status_text"), [("all_up", "运行正常"), ("one_degraded", "性能下降")])
def test_badges_show_status_and_uptime_per_component(tmp_path: Path, name: str, status_text: str) -> None:
    config, store, _ = scenario(name, tmp_path)
    files = build_files(build_snapshot(store, config, NOW))
    status = ET.fromstring(files["badges/query.svg"])
    assert status.get("aria-label") == f"查询: {status_text}"
    uptime = ET.fromstring(files["badges/uptime/query.svg"])
    assert re.fullmatch(r"查询 可用率 30 天: \d+\.\d\d%", uptime.get("aria-label") or "")
    assert "badges/network.svg" not in files


def test_latency_chart_is_server_rendered_svg_with_p50_and_p95(tmp_path: Path) -> None:
    config, store, _ = scenario("all_up", tmp_path)
    html = build_files(build_snapshot(store, config, NOW))["index.html"].decode()
    svg = html[html.index('<svg class="chart"'): html.index("</svg>") + 6]
    assert svg.count('class="p50" points=') == 1 and svg.count('class="p95" points=') == 1
    assert "查询响应时间（过去 24 小时）" in svg
    assert html.count("<tr><td>") == 24  # the data table beside the chart


def test_public_files_carry_no_raw_evidence_hosts_or_check_names(tmp_path: Path) -> None:
    config, store, _ = hostile_scenario(tmp_path)
    files = build_files(build_snapshot(store, config, NOW))
    for rel, data in files.items():
        text = data.decode("utf-8", "replace")
        for secret in [*PRIVATE, "auto: ", "chk", "root_check", "envelope"]:
            assert secret not in text, f"{secret!r} leaked into {rel}"


def test_hostile_text_is_escaped_in_every_html_svg_and_atom_file(tmp_path: Path) -> None:
    config, store, _ = hostile_scenario(tmp_path)
    files = build_files(build_snapshot(store, config, NOW))
    markup = {rel: data.decode() for rel, data in files.items() if rel.endswith((".html", ".svg", ".atom"))}
    for rel, text in markup.items():
        for raw in ("<script>alert", "<img src=x", "<svg onload", "<iframe", '<a href="javascript:'):
            assert raw not in text, f"{raw!r} unescaped in {rel}"
        if rel.endswith((".svg", ".atom")):
            ET.fromstring(text.encode())  # still well-formed XML
    assert "{{ 7*7 }}{% raw %}" in files["api/v2/summary.json"].decode()  # shown literally, not evaluated
    assert "&lt;script&gt;alert(&#34;xss-script&#34;)&lt;/script&gt;" in markup["index.html"]
    assert HOSTILE[0] in json.loads(files["api/v2/summary.json"])["components"][0]["name"]


def test_writer_skips_unchanged_files_and_removes_files_no_longer_rendered(tmp_path: Path) -> None:
    config, store, _ = scenario("all_up", tmp_path)
    out = tmp_path / "out"
    first = render_site(build_snapshot(store, config, NOW), out)
    assert first.written == first.files
    writer = SiteWriter(out)  # a fresh writer (as after a restart) compares with the files on disk
    again = writer.write(build_files(build_snapshot(store, config, NOW)))
    assert again.written == 0
    later = writer.write(build_files(build_snapshot(store, config, NOW + timedelta(minutes=1))))
    assert 0 < later.written < later.files  # pages and JSON move on; static files and badges do not
    (tmp_path / "p").mkdir()
    private = make_config(tmp_path / "p", components=components_yaml().replace(
        "{id: sync, name: {zh-CN: 数据同步, en: Data sync}}", "{id: sync, name: 数据同步, public: false}"))
    stats = writer.write(build_files(build_snapshot(store, private, NOW)))
    assert stats.removed == 2
    assert not (out / "badges/sync.svg").exists() and not (out / "badges/uptime/sync.svg").exists()
    leftovers = [p.name for p in out.rglob(".*") if p.name != MANIFEST]
    assert leftovers == []


def test_readers_never_see_a_half_written_page(tmp_path: Path) -> None:
    config, store, _ = scenario("major_with_announcement", tmp_path)
    out = tmp_path / "out"
    writer = SiteWriter(out)
    snaps = [build_files(build_snapshot(store, config, NOW + timedelta(minutes=k))) for k in range(2)]
    writer.write(snaps[0])
    stop = threading.Event()
    bad: list[int] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set() and reads[0] < 100_000:
            data = (out / "index.html").read_bytes()
            reads[0] += 1
            if not data.endswith(b"</html>\n"):
                bad.append(len(data))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for k in range(40):
            writer.write(snaps[k % 2])
    finally:
        stop.set()
        thread.join(10)
    assert reads[0] > 0 and bad == []


def test_cli_render_writes_the_folder(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from monitor.cli import cli

    config, _, _ = scenario("maintenance", tmp_path)
    out = tmp_path / "cli-site"
    result = CliRunner().invoke(cli, ["-c", config.file, "render", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 public components" in result.output
    assert (out / "index.html").exists() and (out / "api/v2/summary.json").exists()
    summary = json.loads((out / "api/v2/summary.json").read_text())
    assert summary["page"]["time_zone"] == "Asia/Shanghai"
