"""`{variable}` templates in request templates, auth calls and signing messages.

Why not str.format: bodies are nested YAML (dicts, lists, numbers), a whole-value `{amount}`
must keep its type in JSON, times need a strftime spec with colons (`{now:%H:%M:%S}`), and a
missing variable must name itself and where it was wanted.

Times: `{now}` is "YYYY-MM-DD HH:MM:SS" in the platform's zone; `{now:%Y%m%d}` any strftime;
`{now:epoch}`, `{now:epoch_ms}` and `{now:iso}` (with offset) for what strftime cannot say.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from monitor.core.errors import CheckError

_VAR = re.compile(r"\{\{|\}\}|\{([A-Za-z_][\w.-]*)(?::([^{}]*))?\}")
DEFAULT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class MissingVariable(CheckError):
    """A template names a variable nobody set (a profile or spec mistake, not an outage)."""


def names_in(value: Any) -> set[str]:
    """Every variable a template (or nested structure of templates) refers to."""
    out: set[str] = set()
    if isinstance(value, str):
        out.update(m.group(1) for m in _VAR.finditer(value) if m.group(1))
    elif isinstance(value, dict):
        for k, v in value.items():
            out |= names_in(k) | names_in(v)
    elif isinstance(value, list | tuple):
        for v in value:
            out |= names_in(v)
    return out


def _lookup(name: str, variables: dict[str, Any]) -> Any:
    if name in variables:
        return variables[name]
    head, _, rest = name.partition(".")
    value = variables.get(head, _MISSING)
    for part in rest.split(".") if rest else ():
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            value = _MISSING
            break
    if value is _MISSING:
        known = ", ".join(sorted(k for k in variables if not k.startswith("_"))) or "none"
        raise MissingVariable(f"template variable {{{name}}} is not set (known: {known})")
    return value


_MISSING = object()

# Time formats strftime cannot say portably (`%s` is local time on glibc).
def _epoch(t: datetime) -> str:
    return str(int(t.timestamp()))


def _epoch_ms(t: datetime) -> str:
    return str(int(t.timestamp() * 1000))


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


_TIME_SPECS: dict[str, Callable[[datetime], str]] = {"epoch": _epoch, "epoch_ms": _epoch_ms, "iso": _iso}


def _text(value: Any, spec: str | None, tz: tzinfo | None) -> str:
    if isinstance(value, datetime):
        if spec in _TIME_SPECS:
            return _TIME_SPECS[spec](value if tz is None else value.astimezone(tz))
        local: datetime = value if tz is None else value.astimezone(tz)
        return local.strftime(spec or DEFAULT_TIME_FORMAT)
    if spec:
        return format(value, spec)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(value: Any, variables: dict[str, Any], tz: tzinfo | None = None) -> Any:
    """Expand templates in strings, dict keys and values, and lists. Other values pass through."""
    if isinstance(value, str):
        return render_str(value, variables, tz)
    if isinstance(value, dict):
        return {render_str(str(k), variables, tz): render(v, variables, tz) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, variables, tz) for v in value]
    return value


def render_str(text: str, variables: dict[str, Any], tz: tzinfo | None = None) -> Any:
    """A string; or, when the whole string is one `{name}` (no format), the variable itself."""
    if "{" not in text and "}" not in text:
        return text
    whole = _VAR.fullmatch(text)
    if whole and whole.group(1) and whole.group(2) is None:
        value = _lookup(whole.group(1), variables)
        return _text(value, None, tz) if isinstance(value, datetime) else value

    def sub(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        return _text(_lookup(m.group(1), variables), m.group(2), tz)

    return _VAR.sub(sub, text)


def render_text(text: str, variables: dict[str, Any], tz: tzinfo | None = None) -> str:
    """Like render_str, always text (for URLs, headers, signing messages)."""
    value = render_str(text, variables, tz)
    return value if isinstance(value, str) else _text(value, None, tz)
