"""Where persistence may live: every table and query in monitor/store, which stands on
monitor.core alone, and checks that never import the store (they get the canary ledger and
SQL engines through ctx)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("monitor", "checks", "notifiers")
STORE = ROOT / "monitor" / "store"
# Probes of *other* databases: the sql kind runs the admin's read-only statement, freshness the
# admin's source-of-truth query. They are checks, not persistence.
PROBES = {ROOT / "checks" / "sql.py", ROOT / "checks" / "freshness.py"}
SQL = re.compile(r"\bselect\(|\bsa\.(insert|update|delete)\b|session\.(exec|add|get|delete|merge|flush)\(|"
                 r"\.__table__\b|\.execute\(|\bSQLModel\b|table=True")


def sources(*roots: Path) -> list[Path]:
    return sorted(p for r in roots for p in r.rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module a file imports (absolute names), at any depth, TYPE_CHECKING included."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", [p for p in sources(*(ROOT / p for p in PACKAGES))
                                  if STORE not in p.parents and p not in PROBES], ids=_rel)
def test_no_sql_outside_the_store(path: Path) -> None:
    found = [f"{i}: {line.strip()}" for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if SQL.search(line)]
    assert found == [], f"{_rel(path)} queries the database itself; move it into monitor/store"


@pytest.mark.parametrize("path", sources(STORE), ids=_rel)
def test_the_store_stands_on_monitor_core_alone(path: Path) -> None:
    ours = {m for m in imported(path) if m.split(".")[0] in PACKAGES}
    wrong = sorted(m for m in ours if not m.startswith(("monitor.core", "monitor.store")) and m != "monitor")
    assert wrong == [], f"{_rel(path)} imports {wrong}"


@pytest.mark.parametrize("path", sources(ROOT / "checks"), ids=_rel)
def test_checks_never_import_the_store(path: Path) -> None:
    wrong = sorted(m for m in imported(path) if m.startswith("monitor.store") or m.startswith("sqlmodel"))
    assert wrong == [], f"{_rel(path)} imports {wrong}; take what it needs from ctx.services"
