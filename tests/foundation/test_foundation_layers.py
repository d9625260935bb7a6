"""The house's dependency order holds: each layer imports only the layers before it, there is
no import circle between packages, and no import hides inside a function to dodge one.

The order (README, "Layout"): the core vocabulary; checks; the config file; the store, the
rulebook, the simulator, the probe scheduler and logging, each on the layers above;
notifiers; incidents; the status page, the monitor's self-watch (systemd notify,
watchdog, self heartbeat) and housekeeping (rollups, pruning); the connection guard, the metrics,
the heartbeat endpoint and the warm command server; the server; the runtime; the command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from checks import _KIND_MODULES

ROOT = Path(__file__).resolve().parents[2]

LAYERS: list[tuple[str, ...]] = [
    ("monitor.core",),
    ("checks",),
    ("monitor.config",),
    ("monitor.store", "monitor.rulebook", "monitor.simulator", "monitor.scheduler", "monitor.logs"),
    ("notifiers",),
    ("monitor.incidents",),
    ("monitor.statuspage", "monitor.selfwatch", "monitor.housekeeping", "monitor.quota"),
    ("monitor.webguard", "monitor.metrics", "monitor.push", "monitor.warm"),
    ("monitor.server",),
    ("monitor.runtime",),
    ("monitor.cli", "monitor"),
    ("monitor.__main__",),
]
# Command bodies import what only they need, so `--help` and read-only commands start fast.
LAZY_IMPORTS_ALLOWED = ("monitor.cli",)
# A package may also re-export its own modules' names lazily, in its module-level __getattr__
# (PEP 562): monitor.store names Store without building the ORM for a command that reads
# through monitor.store.readout. Only the package's own modules, never another layer's.
LAZY_REEXPORT = "__getattr__"


def package_of(module: str) -> str:
    """The layer entry a module belongs to (the longest listed prefix)."""
    best = ""
    for layer in LAYERS:
        for name in layer:
            if (module == name or module.startswith(name + ".")) and len(name) > len(best):
                best = name
    return best


def rank(module: str) -> int:
    name = package_of(module)
    return next(i for i, layer in enumerate(LAYERS) if name in layer)


def project_modules() -> dict[str, Path]:
    out = {}
    for top in ("monitor", "checks", "notifiers"):
        for path in (ROOT / top).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imports_of(module: str, path: Path) -> list[tuple[str, int, str, bool]]:
    """(imported module, line, the outermost function it is inside ("" at module level), only
    for type checking?) of every import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, int, str, bool]] = []

    def visit(node: ast.AST, in_function: str, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            func = in_function or (child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else "")
            typing = typing_only or (
                isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
            )
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function, typing_only) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                found.append((target, child.lineno, in_function, typing_only))
            visit(child, func, typing)

    visit(tree, "", False)
    return [f for f in found if f[0].split(".")[0] in ("monitor", "checks", "notifiers")]


MODULES = project_modules()


def test_every_module_belongs_to_a_layer() -> None:
    assert [m for m in MODULES if not package_of(m)] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_run_down_the_layers(module: str) -> None:
    mine = rank(module)
    upward = [
        f"{module}:{line} imports {target}"
        for target, line, _, _ in imports_of(module, MODULES[module])
        if package_of(target) != package_of(module) and rank(target) >= mine and target != "monitor"
    ]
    assert upward == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_hides_inside_a_function(module: str) -> None:
    if package_of(module) in LAZY_IMPORTS_ALLOWED:
        return
    package = MODULES[module].name == "__init__.py"
    hidden = [
        f"{module}:{line} imports {target} inside a function"
        for target, line, in_function, _ in imports_of(module, MODULES[module])
        if in_function and not (package and in_function == LAZY_REEXPORT and target.startswith(module + "."))
    ]
    assert hidden == []


def test_no_import_circle_between_modules() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, _, in_function, typing_only in imports_of(module, path):
            if in_function or typing_only:
                continue
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != module:
                graph[module].add(target)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*trail[trail.index(dep):], dep])
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    # A package's __init__ importing its own modules is how packages work, not a circle.
    real = [c for c in cycles if len({package_of(m) for m in c}) > 1 or not any(m == package_of(m) for m in c)]
    assert real == []


def test_the_kind_registry_names_only_modules_of_the_checks_layer() -> None:
    """checks.KINDS imports a kind's module when the kind is first looked up (a config load
    imports only the kinds its file uses). That import is by name, not an import statement
    the tests above see, so it is held to the layers here: every name is a module of checks."""
    assert [p for p in _KIND_MODULES.values() if p not in MODULES or package_of(p) != "checks"] == []
