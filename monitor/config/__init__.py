"""Load and validate a config file: `load_config(path) -> Config`, or ConfigError with every problem.

Order: read -> parse YAML with positions -> expand `${ENV}` / `${file:...}` -> merge `defaults:`
into each check -> validate every section with the pydantic models -> cross-check references
(unique names, known components, known dependencies). Each problem names FILE:LINE:COL and the
key path, e.g. `config.yaml:41:14: checks[3].timeout: must be longer than zero`.
"""

from __future__ import annotations

import difflib
import importlib
import json
import typing
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Any

from pydantic import BaseModel, ValidationError

from monitor.config.models import LANGUAGES, CheckDefaults, Component, Config, Text, text_in
from monitor.config.yamlsource import Path_, Source, format_path, load_source
from monitor.errors import ConfigError, ConfigProblem

__all__ = [
    "LANGUAGES",
    "Component",
    "Config",
    "ConfigError",
    "Text",
    "json_schema",
    "load_config",
    "text_in",
]


def load_config(
    path: str | Path, *, env: Mapping[str, str] | None = None, text: str | None = None
) -> Config:
    """Load, validate and return the config; raise ConfigError listing every problem."""
    src = load_source(path, env=env, text=text)
    if src.data is None:
        raise ConfigError(src.problems)
    problems = list(src.problems)
    data = src.data
    if not isinstance(data, dict):
        problems.append(src.problem((), "the file must be a mapping of sections (monitor:, checks:, ...)"))
        raise ConfigError(problems)
    _merge_defaults(src, problems)
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, src))
    problems.extend(_cross_check(data, src))
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


def _merge_defaults(src: Source, problems: list[ConfigProblem]) -> None:
    data = src.data
    defaults = data.get("defaults")
    checks = data.get("checks")
    if not isinstance(defaults, dict) or not isinstance(checks, list):
        return
    try:
        CheckDefaults.model_validate(defaults)
    except ValidationError:
        return  # reported once, under defaults:, by the full validation
    for i, check in enumerate(checks):
        if not isinstance(check, dict):
            continue
        for key, value in defaults.items():
            if value is None or key in check:
                continue
            check[key] = value
            # Errors about an inherited value point at the line under defaults:.
            for p, pos in list(src.positions.items()):
                if p[:2] == ("defaults", key):
                    src.positions[("checks", i, *p[1:])] = pos


def _sorted(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    seen: set[str] = set()
    unique = []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            unique.append(p)
    return sorted(unique, key=lambda p: (p.line or 0, p.column or 0))


def _problems_from(exc: ValidationError, src: Source) -> list[ConfigProblem]:
    out = []
    for err in exc.errors(include_url=False):
        raw_loc = tuple(err["loc"])
        path = _data_path(src.data, raw_loc)
        kind = err["type"]
        message = str(err["msg"])
        if message.startswith(("Value error, ", "Assertion failed, ")):
            message = message.split(", ", 1)[1]
        key = False
        if kind == "extra_forbidden":
            key = True
            name = str(path[-1])
            message = f"unknown key {name!r}"
            guesses = difflib.get_close_matches(name, _fields_at(raw_loc[:-1]), n=1, cutoff=0.6)
            if guesses:
                message += f" (did you mean {guesses[0]!r}?)"
        elif kind == "missing":
            message = "required key is missing"
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            ctx = err.get("ctx") or {}
            known = ", ".join(sorted(_check_kinds()))
            tag = ctx.get("tag")
            path = (*path, "kind")
            if kind == "union_tag_not_found":
                message = f"missing; a check needs kind: one of {known}"
            else:
                message = f"unknown check kind {tag!r}"
                guesses = difflib.get_close_matches(str(tag), _check_kinds(), n=1)
                message += f" (did you mean {guesses[0]!r}?)" if guesses else f"; known kinds: {known}"
        elif kind == "literal_error":
            ctx = err.get("ctx") or {}
            given = err.get("input")
            message = f"{given!r} is not allowed; expected {ctx.get('expected', 'another value')}"
        line, col = src.where(path, key=key)
        out.append(ConfigProblem(src.file, line, col, format_path(path), message))
    return out


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path_:
    """Turn a pydantic error location into a path through the data (dropping union tags)."""
    path: list[str | int] = []
    current = data
    for part in loc:
        if isinstance(current, dict):
            if part in current:
                path.append(part)
                current = current[part]
                continue
            if current.get("kind") == part:
                continue  # a discriminated-union tag, not a key
            path.append(part)
            current = None
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
        elif isinstance(part, str) and (part.startswith(("function-", "union[", "tagged-union")) or part in ("str", "int", "float", "bool", "dict", "list")):
            continue  # pydantic's name for a union member
        else:
            path.append(part)
            current = None
    return tuple(path)


def _check_kinds() -> list[str]:
    from checks import KINDS

    return list(KINDS)


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model found by walking `loc` from Config (for 'did you mean')."""
    tp: Any = Config
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return []
    models = [m for m in _members(tp) if isinstance(m, type) and issubclass(m, BaseModel)]
    names: list[str] = []
    for m in models:
        names.extend(m.model_fields)
    return names


def _members(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _members(typing.get_args(tp)[0])
    if origin in (typing.Union, UnionType):
        out = []
        for a in typing.get_args(tp):
            out.extend(_members(a))
        return out
    return [tp]


def _step(tp: Any, part: Any) -> Any:
    for member in _members(tp):
        origin = typing.get_origin(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            if isinstance(part, str) and part in member.model_fields:
                return member.model_fields[part].annotation
            kind = member.model_fields.get("kind")
            if kind is not None and typing.get_args(kind.annotation) == (part,):
                return member
        elif origin is list and isinstance(part, int):
            return typing.get_args(member)[0]
        elif origin is dict and isinstance(part, str):
            return typing.get_args(member)[1]
    return None


def _cross_check(data: dict[str, Any], src: Source) -> list[ConfigProblem]:
    """Reference checks over the raw data, so they run even when other keys are invalid."""
    problems = []
    components = data.get("components") if isinstance(data.get("components"), list) else []
    checks = data.get("checks") if isinstance(data.get("checks"), list) else []
    component_ids: dict[str, int] = {}
    for i, comp in enumerate(components):
        cid = comp.get("id") if isinstance(comp, dict) else None
        if not isinstance(cid, str):
            continue
        if cid in component_ids:
            problems.append(src.problem(("components", i, "id"), f"duplicate component id {cid!r}"))
        component_ids.setdefault(cid, i)
    specs = [(i, c) for i, c in enumerate(checks) if isinstance(c, dict) and isinstance(c.get("name"), str)]
    names: dict[str, int] = {}
    for i, spec in specs:
        name = spec["name"]
        if name in names:
            first = src.where(("checks", names[name], "name"))[0]
            problems.append(src.problem(("checks", i, "name"), f"duplicate check name {name!r} (first at line {first})"))
        names.setdefault(name, i)
    graph: dict[str, list[str]] = {}
    for i, spec in specs:
        component = spec.get("component")
        if isinstance(component, str) and component not in component_ids:
            hint = difflib.get_close_matches(component, list(component_ids), n=1)
            msg = f"unknown component {component!r}"
            msg += f" (did you mean {hint[0]!r}?)" if hint else " (declare it under components:)"
            problems.append(src.problem(("checks", i, "component"), msg))
        deps = spec.get("depends_on")
        deps = [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []
        graph.setdefault(spec["name"], [])
        for j, dep in enumerate(deps):
            if dep == spec["name"]:
                problems.append(src.problem(("checks", i, "depends_on", j), "a check cannot depend on itself"))
            elif dep not in names:
                hint = difflib.get_close_matches(dep, list(names), n=1)
                msg = f"unknown check {dep!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                problems.append(src.problem(("checks", i, "depends_on", j), msg))
            else:
                graph[spec["name"]].append(dep)
    problems.extend(_dependency_cycles(graph, names, src))
    from monitor.incidents.config import cross_check as _deciding_references

    problems.extend(_deciding_references(data, src, component_ids, names))
    for module in _CROSS_CHECK_MODULES:
        problems.extend(importlib.import_module(module).cross_check(data, src))
    return problems


# Capabilities whose sections reference each other or core sections (routes -> channels,
# channels -> components) export `cross_check(data, src) -> list[ConfigProblem]`.
_CROSS_CHECK_MODULES = ["notifiers.config"]


def _dependency_cycles(graph: dict[str, list[str]], index: dict[str, int], src: Source) -> list[ConfigProblem]:
    state: dict[str, int] = {}
    problems = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                cycle = " -> ".join([*trail[trail.index(dep):], dep])
                problems.append(src.problem(("checks", index[node], "depends_on"), f"dependency cycle: {cycle}"))
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])
    return problems


def dump_schema() -> str:
    return json.dumps(json_schema(), ensure_ascii=False, indent=2)
