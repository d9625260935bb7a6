"""A check kind is one module in checks/ plus one registry line, and it is documented.

Every module in checks/ that looks like a kind (it defines `Spec` and `run`; helpers such as
net, timing, certs and the platform package do not) must be registered in checks/__init__.py, every registered module must import, and every kind must appear as
`kind: <name>` in config.example.yaml, the annotated reference admins copy from.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import checks
from checks import _KIND_MODULES, KINDS
from monitor.config import json_schema, load_config
from monitor.core.errors import ConfigError
from monitor.core.spec import CheckSpec

ROOT = Path(__file__).resolve().parents[2]
def kind_modules_on_disk() -> set[str]:
    found = set()
    for m in pkgutil.iter_modules(checks.__path__):
        module = importlib.import_module(f"checks.{m.name}")
        if hasattr(module, "Spec") and hasattr(module, "run"):
            found.add(module.__name__)
    return found


def test_every_check_module_is_registered() -> None:
    on_disk = kind_modules_on_disk()
    assert len(on_disk) >= 13  # the finder itself works
    assert on_disk <= set(_KIND_MODULES.values())


def test_every_registered_kind_follows_the_contract() -> None:
    for kind, module in KINDS.items():
        assert issubclass(module.Spec, CheckSpec), kind
        assert module.Spec.model_fields["kind"].annotation.__args__ == (kind,), kind
        assert callable(module.run), kind


def test_every_listed_kind_module_exists() -> None:
    for kind, path in _KIND_MODULES.items():
        importlib.import_module(path)
        assert kind in KINDS


def test_every_kind_is_documented_in_the_example_config() -> None:
    example = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\s*-?\s*kind:\s*([A-Za-z_][\w-]*)", example, flags=re.MULTILINE))
    missing = sorted(set(KINDS) - documented)
    assert not missing, f"kinds without an example in config.example.yaml: {missing}"


# --- a kind is imported when a config uses it ------------------------------------------------------

TCP_ONLY = """checks:
  - {name: a, kind: tcp, host: 127.0.0.1, port: 9}
  - {name: b, kind: tcp, host: 127.0.0.1, port: 10}
"""


def modules_after_loading(path: Path) -> set[str]:
    code = ("import sys\nfrom monitor.config import load_config\n"
            f"assert len(load_config({str(path)!r}).checks) == 2\nprint(' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=path.parent).stdout
    return set(out.split())


def test_a_config_imports_only_the_kinds_its_checks_use(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(TCP_ONLY)
    loaded = modules_after_loading(path)
    assert loaded & set(_KIND_MODULES.values()) == {"checks.tcp"}
    assert "httpx" not in loaded and "checks.platform.session" not in loaded


@pytest.mark.parametrize("unknown", [False, True], ids=["kinds_of_the_file", "every_kind"])
def test_each_check_s_problems_are_reported_whichever_kinds_the_file_uses(tmp_path: Path, unknown: bool) -> None:
    """Checks of known kinds only are validated against the union of those; one item of no
    known kind (or not a mapping) and the list is validated against every kind. Either way
    every problem is at its line, a mistyped key of a kind gets the kind's right name (the
    lines main printed before kinds were imported on demand)."""
    path = tmp_path / "c.yaml"
    odd = "  - {name: d, kind: tpc}\n  - {name: e, kind: [tcp]}\n  - just text\n" if unknown else ""
    path.write_text(TCP_ONLY + "  - {name: c, kind: tcp, host: h, port: 9, prot: 9}\n"
                    "  - {name: f, kind: dns, name_: x}\n" + odd + "  - {name: g, kind: tcp, host: h, port: 99999}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    n = 7 if unknown else 4
    assert [str(p) for p in err.value.problems] == [
        f"{path}:4:44: checks[2].prot: unknown key 'prot' (did you mean 'port'?)",
        f"{path}:5:5: checks[3].domain: required key is missing",
        f"{path}:5:26: checks[3].name_: unknown key 'name_' (did you mean 'name'?)",
        *([f"{path}:6:21: checks[4].kind: unknown check kind 'tpc' (did you mean 'tcp'?)",
           f"{path}:7:21: checks[5].kind: must be the name of a check kind, got a list",
           f"{path}:8:5: checks[6]: expected a mapping (key: value), got text 'just text'"] if unknown else []),
        f"{path}:{n + 2}:41: checks[{n}].port: must be at most 65535, got 99999",
    ]


def test_the_json_schema_offers_every_kind() -> None:
    schema = json_schema()
    items = schema["properties"]["checks"]["items"]
    assert set(items["discriminator"]["mapping"]) == set(KINDS)
    assert len(items["oneOf"]) == len(KINDS)
    for kind, ref in items["discriminator"]["mapping"].items():
        assert schema["$defs"][ref.rsplit("/", 1)[1]]["properties"]["kind"]["const"] == kind
