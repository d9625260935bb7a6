"""A check kind is one module in checks/ plus one registry line, and it is documented.

Every module in checks/ that looks like a kind (it defines `Spec` and `run`; helpers such as
net, timing, certs and the platform package do not) must be registered in checks/__init__.py, every registered module must import, and every kind must appear as
`kind: <name>` in config.example.yaml, the annotated reference admins copy from.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import checks
from checks import _KIND_MODULES, KINDS
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
