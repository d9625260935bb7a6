"""Load and validate a config file: `load_config(path) -> Config`, or ConfigError with every problem.

Order: read -> parse YAML with positions -> expand `${ENV}` / `${file:...}` -> merge `defaults:`
into each check -> validate every section with the pydantic models -> cross-check references
(unique names, known components, known dependencies). Each problem names FILE:LINE:COL and the
key path, e.g. `config.yaml:41:14: checks[3].timeout: must be longer than zero`.
"""

from __future__ import annotations

import difflib
import json
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any

from pydantic import BaseModel, ValidationError

from checks import KINDS
from monitor.config import deciding, notifications
from monitor.config.models import CheckDefaults, Component, Config
from monitor.config.yamlsource import Path_, Source, format_path, load_source
from monitor.core.errors import ConfigError, ConfigProblem
from monitor.core.text import LANGUAGES, Text, text_in

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
    problems = _without_echoes(problems, src.problems)
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
    """Copy each valid `defaults:` key into every check that does not set it.

    Invalid default keys are not copied: their error is reported once, under defaults:, by
    the full validation, instead of once per check. Errors about an inherited value point
    at its line under defaults: and say so.
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
    for i, check in enumerate(checks):
        if not isinstance(check, dict):
            continue
        for key, value in defaults.items():
            if value is None or key in check or key in invalid:
                continue
            check[key] = value
            src.inherited.add(("checks", i, key))
            for p, pos in list(src.positions.items()):
                if p[:2] == ("defaults", key):
                    src.positions[("checks", i, *p[1:])] = pos


def _without_echoes(problems: list[ConfigProblem], first: list[ConfigProblem]) -> list[ConfigProblem]:
    """Drop validation errors about a value the YAML stage already reported (an unset
    ${VAR} becomes "", an unknown tag null: saying "must not be empty" too is noise)."""
    roots = {p.path for p in first if p.path}
    if not roots:
        return problems

    def echoed(p: ConfigProblem) -> bool:
        return any(p.path == r or p.path.startswith((r + ".", r + "[")) for r in roots)

    return [p for p in problems if p in first or not echoed(p)]


def _sorted(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    seen: set[str] = set()
    unique = []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            unique.append(p)
    return sorted(unique, key=lambda p: (p.line or 0, p.column or 0))


# Pydantic names the members of a plain union in error locations ("str",
# "dict[literal['zh-CN','en'],str]", "LatencyThresholds", "function-after[...]"); these are
# not keys of the data.
_LABEL = re.compile(r"^(?:[a-z][a-z-]*\[.*\]|str|int|float|bool|none|bytes|[A-Z][A-Za-z0-9]*)$")
_FELL_OFF = object()


@dataclass
class _Located:
    path: Path_
    key: bool = False  # the error is about the key itself (pydantic's "[key]")
    union_at: int | None = None  # index in loc of the first union-member label


def _locate(data: Any, loc: tuple[Any, ...]) -> _Located:
    """Turn a pydantic error location into a path through the data.

    Drops discriminated-union tags on `kind:` (`checks[0].tcp.port` is `checks[0].port`;
    the tag comes first even when a check also has a key named like its kind), plain-union
    member labels and "[key]", remembering where the union was so its branches' errors can
    be merged into one.
    """
    out = _Located(())
    path: list[str | int] = []
    current: Any = data
    fresh = True  # nothing consumed yet inside `current`
    for i, part in enumerate(loc):
        if part == "[key]":
            out.key = True
            continue
        if isinstance(current, dict):
            if fresh and isinstance(part, str) and current.get("kind") == part:
                fresh = False
                continue  # a discriminated-union tag, not a key
            if part in current:
                path.append(part)
                current, fresh = current[part], True
                continue
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current, fresh = current[part], True
            continue
        if current is not _FELL_OFF and isinstance(part, str) and (_LABEL.match(part) or not isinstance(current, dict | list)):
            if out.union_at is None:
                out.union_at = i
            continue
        path.append(part)
        current = _FELL_OFF
    out.path = tuple(path)
    return out


def _problems_from(exc: ValidationError, src: Source) -> list[ConfigProblem]:
    errors = exc.errors(include_url=False)
    located = [_locate(src.data, tuple(err["loc"])) for err in errors]
    # A value that fits no member of a plain union (Text = str | {lang: str}) fails once per
    # member. Keep the errors of members it matched in shape (deeper paths); if it matched
    # none, say once what was expected.
    unions: dict[tuple[Any, ...], list[int]] = {}
    for n, (err, where) in enumerate(zip(errors, located, strict=True)):
        if where.union_at is not None:
            unions.setdefault(tuple(err["loc"][: where.union_at]), []).append(n)
    skip: set[int] = set()
    out = []
    for members in unions.values():
        base = min(len(located[n].path) for n in members)
        deeper = [n for n in members if len(located[n].path) > base]
        if deeper:
            skip.update(n for n in members if n not in deeper)
            continue
        skip.update(members)
        labels = [errors[n]["loc"][located[n].union_at] for n in members]  # type: ignore[index]
        expected = " or ".join(dict.fromkeys(_describe_label(str(label)) for label in labels))
        path = located[members[0]].path
        line, col = src.where(path)
        given = errors[members[0]].get("input")
        out.append(ConfigProblem(src.file, line, col, format_path(path), f"expected {expected}, got {_type_name(given)}"))
    for n, (err, where) in enumerate(zip(errors, located, strict=True)):
        if n in skip:
            continue
        path, key = where.path, where.key
        message = _message(err, src, path)
        if err["type"] == "extra_forbidden":
            key = True
            guesses = difflib.get_close_matches(str(path[-1]), _fields_at(tuple(err["loc"])[:-1]), n=1, cutoff=0.6)
            if guesses:
                message += f" (did you mean {guesses[0]!r}?)"
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path = (*path, "kind")
        if path[:3] in src.inherited:
            message += f" (inherited from defaults.{path[2]})"
        line, col = src.where(path, key=key)
        out.append(ConfigProblem(src.file, line, col, format_path(path), message))
    return out


def _message(err: Any, src: Source, path: Path_) -> str:
    """One plain sentence for a pydantic error, naming what was given where that helps."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    if kind == "extra_forbidden":
        return f"unknown key {str(path[-1])!r}"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_not_found":
        return f"required key is missing; a check needs kind: one of {', '.join(sorted(_check_kinds()))}"
    if kind == "union_tag_invalid":
        raw = given.get("kind") if isinstance(given, dict) else None
        if not isinstance(raw, str):
            return f"must be the name of a check kind, got {_type_name(raw)}"
        guesses = difflib.get_close_matches(raw, _check_kinds(), n=1)
        known = ", ".join(sorted(_check_kinds()))
        return f"unknown check kind {raw!r}" + (f" (did you mean {guesses[0]!r}?)" if guesses else f"; known kinds: {known}")
    if kind == "literal_error":
        return f"{given!r} is not allowed; expected {ctx.get('expected', 'another value')}"
    simple = {
        "string_type": "expected text",
        "int_type": "expected a whole number",
        "int_parsing": "expected a whole number",
        "int_from_float": "expected a whole number",
        "float_type": "expected a number",
        "float_parsing": "expected a number",
        "bool_type": "expected true or false",
        "bool_parsing": "expected true or false",
        "dict_type": "expected a mapping (key: value)",
        "model_type": "expected a mapping (key: value)",
        "model_attributes_type": "expected a mapping (key: value)",
        "list_type": "expected a list",
    }
    if kind in simple:
        shown = repr(given) if isinstance(given, str) and kind.endswith("_parsing") else _type_name(given)
        return f"{simple[kind]}, got {shown}"
    bounds = {"greater_than_equal": ("ge", "at least"), "less_than_equal": ("le", "at most"),
              "greater_than": ("gt", "more than"), "less_than": ("lt", "less than")}
    if kind in bounds:
        name, words = bounds[kind]
        return f"must be {words} {ctx.get(name)}, got {given!r}"
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else f"must be at least {ctx.get('min_length')} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return f"{given!r} does not match the pattern {ctx.get('pattern')}"
    message = str(err["msg"])
    if message.startswith(("Value error, ", "Assertion failed, ")):
        message = message.split(", ", 1)[1]
    return message


def _type_name(value: Any) -> str:
    """What a YAML value is, in the words an admin uses."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"text {value!r}" if len(value) <= 40 else "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _describe_label(label: str) -> str:
    if label == "str":
        return "text"
    if label in ("int", "float"):
        return "a number"
    if label == "bool":
        return "true or false"
    if label.startswith("dict[literal["):
        keys = re.findall(r"'([^']*)'", label.split("]", 1)[0])
        return "a mapping with keys " + ", ".join(keys)
    if label.startswith("dict[") or label[:1].isupper():
        return "a mapping"
    if label.startswith("list["):
        return "a list"
    return label


def _check_kinds() -> list[str]:
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
    components: list[Any] = data["components"] if isinstance(data.get("components"), list) else []
    checks: list[Any] = data["checks"] if isinstance(data.get("checks"), list) else []
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
    # Sections that reference each other or the core sections (maintenance and SLOs ->
    # components; routes -> channels; channels -> components).
    problems.extend(deciding.cross_check(data, src, component_ids, names))
    problems.extend(notifications.cross_check(data, src))
    return problems


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
