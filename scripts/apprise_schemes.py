"""Write monitor/config/apprise_schemes.json for the installed Apprise: each scheme and the
plugin class that serves it, from Apprise's own plugin manager. Run it after upgrading
Apprise (tests/notifiers/test_notifiers_apprise_urls.py says when the table is stale):

    .venv/bin/python scripts/apprise_schemes.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.config.apprise_urls import TABLE, scheme_table

if __name__ == "__main__":
    table = scheme_table()
    TABLE.write_text(json.dumps(table, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{TABLE}: {len(table['schemes'])} schemes of Apprise {table['apprise']}")
