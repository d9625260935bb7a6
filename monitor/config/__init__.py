"""Load and validate a config file: `load_config(path) -> Config`, or ConfigError with every problem.

Order: read (bounded: monitor/config/limits.py) -> parse YAML with positions -> expand
`${ENV}` / `${file:...}` -> merge `defaults:` into each check -> validate every section with
the pydantic models, the check kinds resolving their platform references -> cross-check
references (unique names, known components, known dependencies, no cycles). Each problem names
FILE:LINE:COL and the key path, e.g. `config.yaml:41:14: checks[3].timeout: must be longer than
zero`; a problem about the whole file is at line 1, column 1. Linear in the size of the file.
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
from monitor.config.problems import problems_from
from monitor.config.references import cross_check, validation_context
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
) -> Config:
    """Load, validate and return the config; raise ConfigError listing every problem.

    The cyclic garbage collector is paused meanwhile: loading allocates hundreds of thousands
    of small containers, none in a cycle, and the collector's passes over them cost as much as
    the validation itself (0.6 of 1.5 s CPU at 10,000 checks). Reference counting frees them.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return _load(path, env, text, limits)
    except (RecursionError, MemoryError) as exc:  # bounded by Limits; a last guard all the same
        what = "nests too deeply" if isinstance(exc, RecursionError) else "needs more memory than there is"
        raise ConfigError([ConfigProblem(str(path), 1, 1, "", f"the config {what} to be validated")]) from None
    finally:
        if paused:
            gc.enable()


def _load(path: str | Path, env: Mapping[str, str] | None, text: str | None, limits: Limits) -> Config:
    src = load_source(path, env=env, text=text, limits=limits)
    if src.data is None:
        raise ConfigError(src.problems)
    problems = list(src.problems)
    data = src.data
    if not isinstance(data, dict):
        problems.append(src.problem((), "the file must be a mapping of sections (monitor:, checks:, ...)"))
        raise ConfigError(problems)
    _merge_defaults(src)
    config: Config | None = None
    try:
        config = Config.model_validate(data, context=validation_context(data))
    except ValidationError as exc:
        problems.extend(problems_from(exc, src))
    problems.extend(cross_check(data, src))
    problems = _without_echoes(problems, src.problems, src.echoes)
    if problems:
        raise ConfigError(_sorted(problems))
    assert config is not None
    config._file = str(path)
    config._secrets = frozenset(src.secrets)
    return config


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
