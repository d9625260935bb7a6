"""Read YAML keeping where every value came from, and expand `${...}` references.

Order (documented in README): read the file, parse YAML into nodes, build plain data while
recording each value's (line, column) by key path, expand `${ENV}` / `${file:PATH}` in string
scalars (`$$` is a literal `$`), then hand the data to the pydantic models. Problems found here
(duplicate keys, missing variables, unreadable secret files) are collected, not raised one by one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.core.errors import ConfigProblem

Path_ = tuple[str | int, ...]
# `$$`, a complete `${...}`, or an opening `${` that is never closed (an error, not text).
_REF = re.compile(r"\$\$|\$\{([^}]*)\}|\$\{")
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class Source:
    """Parsed YAML data plus where each key path sits in the file."""

    file: str
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    inherited: set[Path_] = field(default_factory=set)  # (checks, i, key) copied from defaults:
    problems: list[ConfigProblem] = field(default_factory=list)

    def where(self, path: Path_, *, key: bool = False) -> tuple[int | None, int | None]:
        """The (line, col) of a path, or of its nearest ancestor we know."""
        table = self.key_positions if key else self.positions
        p = tuple(path)
        while True:
            if p in table:
                return table[p]
            if key and p in self.positions:
                return self.positions[p]
            if not p:
                return (None, None)
            p = p[:-1]

    def problem(self, path: Path_, message: str, *, key: bool = False) -> ConfigProblem:
        line, col = self.where(path, key=key)
        return ConfigProblem(self.file, line, col, format_path(path), message)


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_source(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    text: str | None = None,
) -> Source:
    """Parse a YAML config file. Never raises for content; problems land in `source.problems`."""
    file = str(path)
    src = Source(file=file, data=None)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            src.problems.append(ConfigProblem(file, None, None, "", "file not found"))
            return src
        except (OSError, UnicodeDecodeError) as exc:
            src.problems.append(ConfigProblem(file, None, None, "", f"cannot read: {exc}"))
            return src
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        problem = exc.problem or str(exc)
        if "'\\t'" in problem:
            problem = "a tab character; indent YAML with spaces"
        src.problems.append(ConfigProblem(file, line, col, "", f"YAML syntax: {problem}"))
        return src
    except yaml.YAMLError as exc:
        src.problems.append(ConfigProblem(file, None, None, "", f"YAML syntax: {exc}"))
        return src
    if node is None:
        src.problems.append(
            ConfigProblem(file, None, None, "", "the file is empty; expected sections like monitor:, components:, checks:")
        )
        return src
    loop = _alias_loop(node)
    if loop is not None:
        line, col = loop.start_mark.line + 1, loop.start_mark.column + 1
        src.problems.append(ConfigProblem(file, line, col, "", "YAML syntax: this anchor is used inside itself (recursive alias)"))
        return src
    builder = _Builder(src, env if env is not None else os.environ, Path(file).parent)
    src.data = builder.build(node, ())
    return src


def _alias_loop(root: yaml.Node) -> yaml.Node | None:
    """The first node that contains itself through an alias, or None.

    PyYAML composes `a: &x [*x]` into a node that is its own child; building data from it
    would recurse until Python gives up, so we look for such a loop first (linear DFS).
    """
    state: dict[int, int] = {}  # 1 = on the current path, 2 = done
    stack: list[tuple[yaml.Node, int]] = [(root, 0)]
    while stack:
        node, i = stack.pop()
        if i == 0:
            state[id(node)] = 1
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if i < len(children):
            stack.append((node, i + 1))
            child = children[i]
            seen = state.get(id(child))
            if seen == 1:
                return child
            if seen is None:
                stack.append((child, 0))
        else:
            state[id(node)] = 2
    return None


class _Builder:
    def __init__(self, src: Source, env: Mapping[str, str], base_dir: Path) -> None:
        self.src = src
        self.env = env
        self.base_dir = base_dir
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.src.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            return self.build_mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self.scalar(node, path)
        if isinstance(value, str) and "$" in value:
            return self.expand(value, path)
        return value

    def build_mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        """Keys written in this mapping override keys merged in with `<<: *anchor` (YAML's
        merge-key rule); only a key written twice in the mapping itself is a duplicate."""
        own = {id(k) for k, _ in node.value if k.tag != _MERGE_TAG}
        try:
            self.constructor.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            self.src.problems.append(self.src.problem(path, f"YAML syntax: {exc.problem}"))
            return {}
        out: dict[str, Any] = {}
        written: set[str] = set()
        for key_node, value_node in node.value:
            key = self.scalar(key_node, path) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int | float | bool) or key is None:
                self.src.problems.append(self.src.problem(path, "mapping keys must be text"))
                continue
            key = str(key) if not isinstance(key, str) else key
            child = (*path, key)
            where = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if id(key_node) in own:
                if key in written:
                    problem = ConfigProblem(self.src.file, *where, format_path(child), f"duplicate key {key!r}")
                    self.src.problems.append(problem)
                    continue
                written.add(key)
            self.src.key_positions[child] = where
            out[key] = self.build(value_node, child)
        return out

    def scalar(self, node: yaml.Node, path: Path_) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError:
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
            self.src.problems.append(
                ConfigProblem(self.src.file, line, col, format_path(path), f"YAML: unsupported tag {node.tag!r}")
            )
            return None

    def expand(self, value: str, path: Path_) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            if match.group(1) is None:
                self.src.problems.append(
                    self.src.problem(path, "${ is never closed with } (write $$ for a literal $)")
                )
                return ""
            ref = match.group(1).strip()
            resolved = self.resolve(ref, path)
            return "" if resolved is None else resolved

        return _REF.sub(replace, value)

    def resolve(self, ref: str, path: Path_) -> str | None:
        if ref.startswith("file:"):
            name = ref[5:].strip()
            file = Path(os.path.expanduser(name))
            if not file.is_absolute():
                file = self.base_dir / file
            try:
                secret = file.read_text(encoding="utf-8").strip()
                self.src.secrets.add(secret)
                return secret
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                self.src.problems.append(
                    self.src.problem(path, f"cannot read secret file {name!r}: {reason}")
                )
                return None
        name, _, default = ref.partition(":-")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            self.src.problems.append(
                self.src.problem(path, f"${{{ref}}} is not a variable name (write $$ for a literal $)")
            )
            return None
        if name in self.env:
            self.src.secrets.add(self.env[name])
            return self.env[name]
        if ":-" in ref:
            return default
        self.src.problems.append(
            self.src.problem(path, f"environment variable {name} is not set")
        )
        return None
