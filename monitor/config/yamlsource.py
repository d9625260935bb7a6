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

from monitor.errors import ConfigProblem

Path_ = tuple[str | int, ...]
_REF = re.compile(r"\$\$|\$\{([^}]*)\}")


@dataclass
class Source:
    """Parsed YAML data plus where each key path sits in the file."""

    file: str
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
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
        msg = f"YAML syntax: {exc.problem or exc}"
        src.problems.append(ConfigProblem(file, line, col, "", msg))
        return src
    except yaml.YAMLError as exc:
        src.problems.append(ConfigProblem(file, None, None, "", f"YAML syntax: {exc}"))
        return src
    if node is None:
        src.data = {}
        return src
    builder = _Builder(src, env if env is not None else os.environ, Path(file).parent)
    src.data = builder.build(node, ())
    return src


class _Builder:
    def __init__(self, src: Source, env: Mapping[str, str], base_dir: Path) -> None:
        self.src = src
        self.env = env
        self.base_dir = base_dir
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.src.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            self.constructor.flatten_mapping(node)
            for key_node, value_node in node.value:
                key = self.constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool) or key is None:
                    self.src.problems.append(self.src.problem(path, "mapping keys must be text"))
                    continue
                key = str(key) if not isinstance(key, str) else key
                child = (*path, key)
                self.src.key_positions[child] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                if key in out:
                    self.src.problems.append(
                        self.src.problem(child, f"duplicate key {key!r}", key=True)
                    )
                    continue
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self.constructor.construct_object(node, deep=True)
        if isinstance(value, str) and "$" in value:
            return self.expand(value, path)
        return value

    def expand(self, value: str, path: Path_) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
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
