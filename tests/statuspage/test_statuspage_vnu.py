"""The pages pass the Nu HTML checker (vnu.jar, from npm's vnu-jar; installed by
scripts/system-deps.sh): no errors and no warnings, for every scenario, both languages, the
history page and the internal page."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from monitor.core.secrets import Redactor
from monitor.statuspage.internal import render_internal
from monitor.statuspage.render import render_site
from monitor.statuspage.snapshot import build_snapshot
from tests.conftest import require
from tests.statuspage.statuspage_scenarios import NOW, SCENARIOS, scenario

ROOT = Path(__file__).resolve().parents[2]
VNU = Path(os.environ.get("VNU_JAR", ROOT / ".venv/vnu/node_modules/vnu-jar/build/dist/vnu.jar"))


def test_every_page_passes_the_nu_html_checker(tmp_path: Path) -> None:
    require(VNU.exists() and shutil.which("java") is not None, f"the Nu HTML checker ({VNU}) and Java")
    pages: list[Path] = []
    sites = tmp_path / "sites"
    for name in SCENARIOS:
        (tmp_path / name).mkdir()
        config, store, _ = scenario(name, tmp_path / name)
        site = sites / name
        render_site(build_snapshot(store, config, NOW), site)
        internal = site / "internal.html"
        internal.write_text(render_internal(store, config, NOW, Redactor()), encoding="utf-8")
        store.close()
        pages += sorted(site.rglob("*.html"))
    assert len(pages) >= 5 * len(SCENARIOS)
    # Checked as files: their origin is then file://, which the pages' CSP 'self' does not
    # match, so vnu's "resource violates Content Security Policy" notes are an artefact of
    # checking files (vnu refuses to fetch from 127.0.0.1) and are filtered; nothing else is.
    run = subprocess.run(
        ["java", "-jar", str(VNU), "--format", "json", "--stdout",
         "--filterpattern", ".*Resource violates Content Security Policy.*", *map(str, pages)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    messages = json.loads(run.stdout or "{}").get("messages", [])
    problems = [f"{m.get('url', '')[len(sites.as_uri()):]}:{m.get('lastLine')}: {m.get('type')}/{m.get('subType', '')}: {m['message']}"
                for m in messages if m.get("type") != "info" or m.get("subType") == "warning"]
    assert problems == [], "\n".join(problems[:30])
