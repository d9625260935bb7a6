"""`${...}` in config strings: `${ENV}`, `${ENV:-default}`, `${file:PATH}`; `$$` is a `$`.

Every expanded value is a secret (masked wherever text leaves the process). Reading is bounded
(`Limits.secret_file_bytes` per file, `Limits.expanded_bytes` for all references together), so
`${file:/dev/zero}` reads 64 KiB and is refused instead of filling memory; a FIFO without a
writer reads as empty instead of hanging. Problems are recorded on the Source at the value's
key path; an expansion that fails becomes "" (its echoes in validation are dropped).

Read-only loading (`Source.allow_unset`) records a variable that is not set, or a secret file
that cannot be read, in `Source.unset` instead, and puts UNSET in its place: commands that
only read the database do not need the secrets of checks and channels.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from monitor.config.limits import Limits, size
from monitor.config.reading import BadText, TooLarge, decode, read_bounded
from monitor.config.source import Path_, Source, format_path

# `$$`, a complete `${...}`, or an opening `${` that is never closed (an error, not text).
_REF = re.compile(r"\$\$|\$\{([^}]*)\}|\$\{")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
UNSET = "unset"  # what an unavailable reference reads as when Source.allow_unset


class Expander:
    """Expands the references of one file's strings, remembering what it read."""

    def __init__(self, src: Source, env: Mapping[str, str], base_dir: Path, limits: Limits) -> None:
        self.src = src
        self.env = env
        self.base_dir = base_dir
        self.limits = limits
        self.expanded_bytes = 0
        self.file_cache: dict[Path, str | None] = {}

    def expand(self, value: str, path: Path_) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            if match.group(1) is None:
                self.src.problems.append(self.src.problem(path, "${ is never closed with } (write $$ for a literal $)"))
                return ""
            resolved = self.resolve(match.group(1).strip(), path)
            if resolved is None:
                return ""
            self.expanded_bytes += len(resolved)
            if self.expanded_bytes > self.limits.expanded_bytes:
                if self.expanded_bytes - len(resolved) <= self.limits.expanded_bytes:
                    self.src.problems.append(self.src.problem(
                        path, f"${{...}} references add more than {size(self.limits.expanded_bytes)} of text in all, "
                              "the limit for a config file"))
                self.src.echoes.add(format_path(path))  # said once, above; not again per value
                return ""
            return resolved

        return _REF.sub(replace, value)

    def resolve(self, ref: str, path: Path_) -> str | None:
        if ref.startswith("file:"):
            return self.read_secret(ref[5:].strip(), path)
        name, _, default = ref.partition(":-")
        if not _VARIABLE.fullmatch(name):
            self.src.problems.append(self.src.problem(path, f"${{{ref}}} is not a variable name (write $$ for a literal $)"))
            return None
        if name in self.env:
            self.src.secrets.add(self.env[name])
            return self.env[name]
        if ":-" in ref:
            self.src.defaults.add(default)
            return default
        if self.src.allow_unset:
            self.src.unset[path] = f"${{{name}}}"
            return UNSET
        self.src.problems.append(self.src.problem(path, f"environment variable {name} is not set"))
        return None

    def read_secret(self, name: str, path: Path_) -> str | None:
        file = Path(os.path.expanduser(name))
        if not file.is_absolute():
            file = self.base_dir / file
        if file in self.file_cache:
            cached = self.file_cache[file]
            if cached is not None:
                return cached
        limit = self.limits.secret_file_bytes
        reason: str | None = None
        secret: str | None = None
        try:
            decoded = decode(read_bounded(file, limit))
        except TooLarge:
            reason = f"larger than {size(limit)}, the limit for a ${{file:}} secret"
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
        else:
            if isinstance(decoded, BadText):
                reason = "not UTF-8 text"
            else:
                secret = decoded.strip()
        self.file_cache[file] = secret
        if secret is None and self.src.allow_unset:
            self.src.unset[path] = f"${{file:{name}}}"
            return UNSET
        if secret is None:
            self.src.problems.append(self.src.problem(path, f"cannot read secret file {name!r}: {reason}"))
            return None
        self.src.secrets.add(secret)
        return secret
