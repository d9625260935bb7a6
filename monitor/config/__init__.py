"""Load and validate a config file: `load_config(path) -> Config`, or ConfigError with every problem.

Order: read (bounded: monitor/config/limits.py) -> parse YAML with positions -> expand
`${ENV}` / `${file:...}` -> merge `defaults:` into each check -> validate every section with
the pydantic models, the check kinds resolving their platform references -> cross-check
references (unique names, known components, known dependencies, no cycles). Each problem names
FILE:LINE:COL and the key path, e.g. `config.yaml:41:14: checks[3].timeout: must be longer than
zero`; a problem about the whole file is at line 1, column 1. Linear in the size of the file.

`allow_unset=True` is for commands that only read the database (status, incidents, outbox,
render): a `${VAR}` that is not set (or a `${file:}` that cannot be read) is not a problem
there. Its value reads as "unset", or, where that does not validate (an Apprise or database
URL given whole by one variable), as the first of PLACEHOLDERS that does; `Config.unset`
lists each such key path with its reference, so a command that does need one can say so.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from monitor.config.limits import DEFAULT_LIMITS, Limits
from monitor.config.models import CheckDefaults, Component, Config
from monitor.config.notifications import READ_ONLY
from monitor.config.problems import problems_from
from monitor.config.references import cross_check, validation_context
from monitor.config.source import Path_, format_path
from monitor.config.yamlsource import Source, load_source
from monitor.core.errors import ConfigError, ConfigProblem
from monitor.core.text import LANGUAGES, Text, text_in

__all__ = [
    "DEFAULT_LIMITS",
    "LANGUAGES",
    "Component",
    "Config",
    "ConfigError",
    "Limits",
    "Text",
    "json_schema",
    "load_config",
    "text_in",
]


def load_config(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    text: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    allow_unset: bool = False,
) -> Config:
    """Load, validate and return the config; raise ConfigError listing every problem.
    `allow_unset`: see the module docstring.

    The cyclic garbage collector is paused meanwhile: loading allocates hundreds of thousands
    of small containers, none in a cycle, and the collector's passes over them cost as much as
    the validation itself (0.6 of 1.5 s CPU at 10,000 checks). Reference counting frees them.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return _load(path, env, text, limits, allow_unset)
    except (RecursionError, MemoryError) as exc:  # bounded by Limits; a last guard all the same
        what = "nests too deeply" if isinstance(exc, RecursionError) else "needs more memory than there is"
        raise ConfigError([ConfigProblem(str(path), 1, 1, "", f"the config {what} to be validated")]) from None
    finally:
        if paused:
            gc.enable()


def _load(
    path: str | Path, env: Mapping[str, str] | None, text: str | None, limits: Limits, allow_unset: bool
) -> Config:
    src = load_source(path, env=env, text=text, limits=limits, allow_unset=allow_unset)
    if src.data is None:
        raise ConfigError(src.problems)
    if not isinstance(src.data, dict):
        raise ConfigError([*src.problems, src.problem((), "the file must be a mapping of sections (monitor:, checks:, ...)")])
    _merge_defaults(src)
    config, problems = _validate(src)
    if problems and src.unset:
        config, problems = _with_placeholders(src, problems)
    if problems:
        raise ConfigError(_sorted(problems))
    assert config is not None
    config._file = str(path)
    config._secrets = frozenset(src.secrets)
    config._unset = {format_path(p): ref for p, ref in src.unset.items()}
    return config


def _validate(src: Source) -> tuple[Config | None, list[ConfigProblem]]:
    problems = list(src.problems)
    config: Config | None = None
    try:
        context = {**validation_context(src.data), READ_ONLY: src.allow_unset}
        config = Config.model_validate(src.data, context=context)
    except ValidationError as exc:
        problems.extend(problems_from(exc, src))
    problems.extend(cross_check(src.data, src))
    return config, _without_echoes(problems, src.problems, src.echoes)


# Inert values of the shapes a whole-value secret usually has, tried in order where "unset"
# does not validate: an http(s) URL, an Apprise URL, a database URL. Never used to connect:
# only commands that read the database load with allow_unset.
PLACEHOLDERS = ("http://unset.invalid/", "json://unset.invalid/", "sqlite://")


def _with_placeholders(src: Source, problems: list[ConfigProblem]) -> tuple[Config | None, list[ConfigProblem]]:
    """Give each unavailable value that fails validation the next placeholder, until the
    config validates or the placeholders run out (then the value's problem is that its
    variable is not set, as without allow_unset)."""
    config: Config | None = None
    for placeholder in PLACEHOLDERS:
        failing = [p for p in src.unset if _concerns(p, problems)]
        if not failing:
            break
        for p in failing:
            _put(src.data, p, placeholder)
        config, problems = _validate(src)
        if not problems:
            return config, problems
    left = [p for p in src.unset if _concerns(p, problems)]
    said = {format_path(p) for p in left}
    problems = [q for q in problems if q.path not in said and not any(_related(p, q.path) for p in left)]
    return None, problems + [src.problem(p, f"{src.unset[p]} is not set (or cannot be read)") for p in left]


def _concerns(path: Path_, problems: list[ConfigProblem]) -> bool:
    return any(_related(path, q.path) for q in problems)


def _related(path: Path_, problem_path: str) -> bool:
    """A problem at the value, inside it, or at a section holding it (a platform that says
    its credentials are missing)."""
    text = format_path(path)
    if not problem_path:
        return False
    return text == problem_path or text.startswith((problem_path + ".", problem_path + "[")) or problem_path.startswith(
        (text + ".", text + "[")
    )


def _put(data: Any, path: Path_, value: str) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file, for editors (yaml-language-server) and docs."""
    schema = Config.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "invoicewatch config"
    return schema


def _merge_defaults(src: Source) -> None:
    """Copy each valid `defaults:` key into every check that does not set it.

    Invalid default keys are not copied: their error is reported once, under defaults:, by
    the full validation, instead of once per check. An inherited value is recorded in
    `src.inherited`; `Source.where` finds it under defaults: (so this is one pass over the
    checks, not over every position for every check), and its errors say so.
    """
    data = src.data
    defaults = data.get("defaults")
    checks = data.get("checks")
    if not isinstance(defaults, dict) or not isinstance(checks, list):
        return
    invalid: set[Any] = set()
    try:
        CheckDefaults.model_validate(defaults)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            invalid.update(err["loc"][:1] or ("interval", "timeout"))
    inherit = [(key, value) for key, value in defaults.items() if value is not None and key not in invalid]
    for i, check in enumerate(checks):
        if not isinstance(check, dict):
            continue
        for key, value in inherit:
            if key not in check:
                check[key] = value
                src.inherited.add(("checks", i, key))
                if ("defaults", key) in src.unset:
                    src.unset["checks", i, key] = src.unset["defaults", key]


def _without_echoes(problems: list[ConfigProblem], first: list[ConfigProblem], echoes: set[str]) -> list[ConfigProblem]:
    """Drop validation errors about a value the YAML stage already reported (an unset
    ${VAR} becomes "", an unknown tag null: saying "must not be empty" too is noise)."""
    roots = {p.path for p in first if p.path} | echoes
    if not roots:
        return problems
    kept = set(first)

    def echoed(path: str) -> bool:
        # The path itself or any ancestor (cut before each "." or "[") is a root.
        if path in roots:
            return True
        return any(path[:i] in roots for i, ch in enumerate(path) if ch in ".[")

    return [p for p in problems if p in kept or not echoed(p.path)]


def _sorted(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    seen: set[str] = set()
    unique = []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            unique.append(p)
    return sorted(unique, key=lambda p: (p.line or 0, p.column or 0))


def dump_schema() -> str:
    return json.dumps(json_schema(), ensure_ascii=False, indent=2)
