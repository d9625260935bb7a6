"""Channel URLs are checked by the one Apprise plugin their scheme names (monitor/config/
apprise_urls.py), with the answers Apprise's own full lookup gives, and validate still
reports a URL Apprise cannot use on its line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import apprise
import pytest

from monitor.config import apprise_urls
from monitor.config.apprise_urls import apprise_supports, scheme_table

ROOT = Path(__file__).resolve().parents[2]

# (url, uses the table): good and broken URLs of the channels the README names, and of
# schemes Apprise finds only by asking every plugin (a service's own https:// webhook).
URLS = [
    ("json://127.0.0.1:8900/_admin/inbox/oncall", True),
    ("jsons://hooks.example.com:8443/x?:token=abc", True),
    ("JSON://Host/Upper", True),
    ("json://", True),
    ("form://127.0.0.1/x", True),
    ("xml://127.0.0.1/x", True),
    ("wecombot://0123456789abcdef", True),
    ("wecombot://", True),
    ("dingtalk://secret@token/13800138000/", True),
    ("dingtalk://", True),
    ("feishu://abcdef0123456789/", True),
    ("feishu://", True),
    ("lark://abcdef0123456789/", True),
    ("mailtos://alerts:pw@mail.example.com?to=finance@example.com", True),
    ("mailto://", True),
    ("mailto://user@", True),
    ("ntfy://topic", True),
    ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#channel", True),
    ("tgram://", True),
    ("nosuch://token@host", False),
    ("https://open.feishu.cn/open-apis/bot/v2/hook/abcdef01-2345-6789-abcd-ef0123456789", False),
    ("https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", False),
    ("https://example.com/not-a-service", False),
    ("just text", False),
]


@pytest.mark.parametrize(("url", "tabled"), URLS)
def test_a_url_gets_the_answer_apprise_itself_gives(url: str, tabled: bool) -> None:
    assert (apprise_urls._plugin(url, apprise.__version__) is not None) is tabled
    assert apprise_supports(url) is (apprise.Apprise.instantiate(url) is not None)


def test_the_scheme_table_is_the_one_of_the_installed_apprise() -> None:
    table = json.loads(apprise_urls.TABLE.read_text(encoding="utf-8"))
    if table["apprise"] != apprise.__version__:
        pytest.skip(f"apprise_schemes.json is of Apprise {table['apprise']}, {apprise.__version__} is installed: "
                    "URLs take Apprise's full lookup until `python scripts/apprise_schemes.py` rewrites it")
    assert table == scheme_table()


def test_another_apprise_version_takes_the_full_lookup() -> None:
    assert apprise_urls._plugin("json://h/x", apprise.__version__) is not None
    assert apprise_urls._plugin("json://h/x", "0.0.1") is None


def imported_plugins(code: str) -> int:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(sum(m.startswith('apprise.plugins.') "
                          "for m in sys.modules))"], capture_output=True, text=True, timeout=60, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    return int(out.split()[-1])


def test_a_known_scheme_imports_its_plugin_not_all_of_them() -> None:
    one = imported_plugins("from monitor.config.apprise_urls import apprise_supports\n"
                           "assert apprise_supports('json://127.0.0.1/x')\nassert not apprise_supports('wecombot://')")
    every = imported_plugins("import apprise\nassert apprise.Apprise.instantiate('json://127.0.0.1/x')")
    assert one <= 6 < 50 < every


def test_validate_names_the_line_of_each_url_apprise_cannot_use(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("channels:\n"
                    "  - {name: a, urls: \"json://127.0.0.1/x\"}\n"
                    "  - {name: b, urls: [\"wecombot://\", \"json://127.0.0.1/y\"]}\n"
                    "  - name: c\n"
                    "    urls: \"nosuch://secret-token@host\"\n")
    env = {k: v for k, v in os.environ.items() if k != "INVOICEWATCH_CONFIG"}
    proc = subprocess.run([sys.executable, "-m", "monitor", "validate", str(path)], capture_output=True, text=True,
                          timeout=60, env={**env, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"{path}:3:22: channels[1].urls[0]: Apprise cannot use this wecombot:// URL (unknown scheme or missing/invalid "
        "parts; value not shown as it may hold a secret)",
        f"{path}:5:11: channels[2].urls[0]: Apprise cannot use this nosuch:// URL (unknown scheme or missing/invalid "
        "parts; value not shown as it may hold a secret)",
    ]
    assert "secret-token" not in proc.stdout + proc.stderr
