"""What the YAML stage hands on: the data, and where in the file each key path sits.

Every later stage (validation, cross-checks) reports a problem by key path; `Source.where`
turns that path into the line and column of the value (or key) in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.core.errors import ConfigProblem

Path_ = tuple[str | int, ...]


@dataclass
class Source:
    """Parsed YAML data plus where each key path sits in the file."""

    file: str
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    defaults: set[str] = field(default_factory=set)  # values of ${NAME:-default} used because NAME was unset
    inherited: set[Path_] = field(default_factory=set)  # (checks, i, key) copied from defaults:
    problems: list[ConfigProblem] = field(default_factory=list)
    echoes: set[str] = field(default_factory=set)  # key paths whose validation errors repeat a problem above
    # Read-only loading (load_config(allow_unset=True)): a ${VAR} that is not set, or a
    # ${file:} that cannot be read, is not a problem; its value's path -> the reference.
    allow_unset: bool = False
    unset: dict[Path_, str] = field(default_factory=dict)

    def where(self, path: Path_, *, key: bool = False) -> tuple[int | None, int | None]:
        """The (line, col) of a path, or of its nearest ancestor we know. A value a check
        inherited from `defaults:` is found where it is written, under defaults:."""
        p = tuple(path)
        if p[:3] in self.inherited:
            p = ("defaults", *p[2:])
        table = self.key_positions if key else self.positions
        while True:
            if p in table:
                return table[p]
            if key and p in self.positions:
                return self.positions[p]
            if not p:
                return (1, 1) if self.data is not None else (None, None)
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
