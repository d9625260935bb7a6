"""Whether Apprise can use a channel URL, asking only the plugin the URL's scheme names.

Apprise 2.x finds the plugin of a scheme by importing every plugin it ships (~190 modules,
about 0.3 s of CPU) the first time any URL is parsed. `apprise_schemes.json`, beside this
file, is that scheme -> plugin class table for one Apprise version, written by
`python scripts/apprise_schemes.py` from Apprise's own plugin manager. With it, checking
a URL imports Apprise's core and the one plugin, and asks it exactly what
`Apprise.instantiate(url)` asks (parse the URL, build the service, `enabled` before and
after). A scheme the table does not know (a service's own https:// webhook URL, which
Apprise matches by asking every plugin, or an unknown scheme) and any other installed Apprise
version take Apprise's full path, so the answer never depends on the table being current;
tests/notifiers/test_notifiers_apprise_urls.py holds both paths to the same answers.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("apprise_schemes.json")


def apprise_supports(url: str) -> bool:
    """True when Apprise can build a notifier from `url` (scheme known and arguments valid)."""
    import apprise  # lazy: CLI start time (Apprise's core; a plugin only when a URL names it)

    # Apprise logs its complaint with the URL in it; the caller reports a redacted problem.
    alog = logging.getLogger("apprise")
    level = alog.level
    alog.setLevel(logging.CRITICAL)
    try:
        plugin = _plugin(url, apprise.__version__)
        if plugin is None:
            return apprise.Apprise.instantiate(url) is not None
        return _instantiate(plugin, url, apprise.AppriseAsset())
    finally:
        alog.setLevel(level)


def _plugin(url: str, version: str) -> Any:
    """The plugin class the table names for `url`'s scheme, or None (not in the table, or the
    table is of another Apprise version)."""
    from apprise.utils.parse import GET_SCHEMA_RE

    table = _load_table()
    if table.get("apprise") != version:
        return None
    match = GET_SCHEMA_RE.match(url.replace("/#", "/%23"))
    where = table["schemes"].get(match.group("schema").lower()) if match else None
    if where is None:
        return None
    module, _, name = where.partition(":")
    return getattr(importlib.import_module(module), name)


def _instantiate(plugin: Any, url: str, asset: Any) -> bool:
    """What Apprise.instantiate(url) does once it has found the plugin (apprise/apprise.py,
    2.3): parse, refuse a disabled plugin, build, format the URL for its log line, refuse
    a service that disabled itself."""
    results = plugin.parse_url(url.replace("/#", "/%23"))
    if not results or not plugin.enabled:
        return False
    results["tag"] = set()
    results["asset"] = asset
    try:
        service = plugin(**results)
        service.url(privacy=asset.secure_logging)
    except Exception:
        return False
    return bool(service.enabled)


@functools.cache  # read once per process
def _load_table() -> dict[str, Any]:
    try:
        table: dict[str, Any] = json.loads(TABLE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return table


def preload_plugins() -> None:
    """Import Apprise and every plugin the table names (the warm command server's preload:
    monitor/cli/warm.py), so a fork checks any channel URL without importing."""
    import apprise

    table = _load_table()
    if table.get("apprise") != apprise.__version__:
        return
    for module in sorted({where.partition(":")[0] for where in table["schemes"].values()}):
        importlib.import_module(module)


def scheme_table() -> dict[str, Any]:
    """The table for the installed Apprise, from its plugin manager (imports every plugin)."""
    import apprise
    from apprise.manager_plugins import NotificationManager

    untyped: Any = NotificationManager  # Apprise's manager has no type hints
    manager = untyped()
    schemes = {}
    for scheme in sorted(manager.schemas()):
        plugin = manager[scheme]
        schemes[scheme] = f"{plugin.__module__}:{plugin.__qualname__}"
    return {"apprise": apprise.__version__, "schemes": schemes}

