"""Message text: one Jinja2 environment, shared with the status page, and the rendering of a
Notice for one audience in one language.

Templates live in notifiers/templates/<language>/<oncall|staff>/<event>.txt.j2 (each defines
blocks `title` and `body`), with `default.txt.j2` as the fallback per audience; a folder named
in `notifications.templates` is searched first, so an admin overrides one file at a time.
Plain-text templates are not autoescaped (a `<` in an error message stays a `<`); any
template whose name ends in .html/.htm/.xml/.svg/.atom (optionally + .j2) is, which covers the
e-mail HTML body and every status page file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import ChainableUndefined, ChoiceLoader, Environment, FileSystemLoader, Template, TemplateNotFound

from monitor.core.durations import human_duration
from monitor.core.events import Notice
from monitor.core.text import names_in, text_in

if TYPE_CHECKING:
    from monitor.config import Config

TEMPLATE_DIR = Path(__file__).parent / "templates"
_ESCAPED = (".html", ".htm", ".xml", ".svg", ".atom")


def _autoescape(name: str | None) -> bool:
    if not name:
        return False
    base = name[:-3] if name.endswith(".j2") else name
    return base.endswith(_ESCAPED)


def template_dirs(config: Config | None) -> list[Path]:
    """The override folder (relative to the config file) first, then the shipped templates."""
    dirs: list[Path] = []
    folder = config.notifications.templates if config is not None else None
    if folder:
        path = Path(folder)
        if not path.is_absolute() and config is not None and config.file:
            path = Path(config.file).parent / path
        dirs.append(path)
    dirs.append(TEMPLATE_DIR)
    return dirs


def make_environment(config: Config | None = None, *, extra_dirs: Sequence[str | Path] = ()) -> Environment:
    """The Jinja2 environment for every text invoicewatch shows people.

    `extra_dirs` (the status page's own templates) are searched after the override folder and
    before the shipped notifier templates. Filters, in the configured timezone:
    `localtime` (2026-03-02 09:00), `clock` (09:00), `duration` (1h30m from a timedelta or
    seconds), `ms` (123.4 ms); `text_in` picks a language from a {lang: text} mapping.
    """
    dirs = template_dirs(config)
    loaders = [FileSystemLoader(str(d)) for d in (*dirs[:-1], *extra_dirs, dirs[-1])]
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=_autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        # Missing evidence renders as empty text instead of failing a whole alert.
        undefined=ChainableUndefined,
    )
    zone: tzinfo = config.monitor.tz if config is not None else UTC
    env.filters["localtime"] = lambda v, fmt="%Y-%m-%d %H:%M": format_time(v, zone, fmt)
    env.filters["clock"] = lambda v: format_time(v, zone, "%H:%M")
    env.filters["duration"] = format_span
    env.filters["ms"] = format_ms
    env.filters["text_in"] = text_in
    env.globals["timezone"] = str(zone)
    return env


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def format_time(value: Any, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    when = _parse_time(value)
    return when.astimezone(zone).strftime(fmt) if when else ("" if value is None else str(value))


def format_span(value: Any) -> str:
    if isinstance(value, timedelta):
        return human_duration(value)
    if isinstance(value, int | float):
        return human_duration(timedelta(seconds=value))
    return "" if value is None else str(value)


def format_ms(value: Any) -> str:
    if isinstance(value, int | float):
        return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    body_format: str  # text | html | markdown (Apprise's body_format names)


def audience_kind(audience: str) -> str:
    """Templates exist for on-call and staff; a department reads staff wording."""
    return "oncall" if audience == "oncall" else "staff"


def _component_text(config: Config, component: str) -> Any:
    try:
        return config.component(component).name
    except KeyError:
        return component


def context_for(notice: Notice, config: Config, language: str) -> dict[str, Any]:
    """Everything a template may use. Evidence is in `data`; helpers are precomputed here so
    templates hold wording, not logic."""
    component_name = notice.data.get("component_name")
    affected = notice.data.get("affected")
    if not component_name and affected:  # a platform incident: the components it affects
        component_name = names_in([text_in(_component_text(config, c), language) for c in affected], language)
    if not component_name and notice.component:
        component_name = text_in(_component_text(config, notice.component), language)
    ann = config.announcements
    workaround = next((w for c in affected or () if (w := ann.component_workarounds.get(c))), None) or \
        ann.component_workarounds.get(notice.component or "") or ann.workaround
    since = _parse_time(notice.data.get("since"))
    titles = notice.data.get("title_i18n") or (notice.data.get("evidence") or {}).get("title_i18n") or {}
    status_url = config.notifications.status_page_url or ""
    internal_url = config.notifications.internal_page_url or (status_url.rstrip("/") + "/internal/" if status_url else "")
    headline = (titles.get(language) if isinstance(titles, dict) else None) or notice.title
    name = str(component_name or "")
    joiner = "：" if language == "zh-CN" else ": "
    return {
        # The incident's title in the reader's language (the evaluator words it in each), and
        # the subject line: the component named once ("登录服务中断", not "登录：登录服务中断").
        "headline": headline,
        "subject": headline if not name or headline.startswith(name) else f"{name}{joiner}{headline}",
        "internal_page_url": internal_url,
        "quiet": config.incidents.resolve_after,
        "notice": notice,
        "event": notice.event,
        "data": notice.data,
        "language": language,
        "monitor_name": config.monitor.name,
        "component_name": component_name or "",
        "severity": notice.severity,
        "since": since,
        "lasting": (notice.at - since) if since else None,
        "ack_command": f"invoicewatch ack {notice.incident_id}" if notice.incident_id is not None else "",
        "workaround": text_in(workaround, language),
        "contact": text_in(ann.contact, language),
        "status_page_url": config.notifications.status_page_url or "",
    }


def _pick(env: Environment, language: str, kind: str, event: str) -> Any:
    names: list[str | Template] = [f"{language}/{kind}/{event}.txt.j2", f"{language}/{kind}/default.txt.j2"]
    return env.get_or_select_template(names)


def _block(template: Any, name: str, ctx: dict[str, Any]) -> str:
    block = template.blocks.get(name)
    if block is None:
        return ""
    return "".join(block(template.new_context(ctx))).strip()


def render(
    env: Environment, notice: Notice, config: Config, *, audience: str, language: str, body_format: str
) -> Message:
    """Title and body of `notice` for one audience, language and body format."""
    ctx = context_for(notice, config, language)
    kind = audience_kind(audience)
    template = _pick(env, language, kind, notice.event)
    title = " ".join(_block(template, "title", ctx).split())
    body = _block(template, "body", ctx)
    if body_format == "html":
        try:
            page = env.get_template(f"{language}/email.html.j2")
        except TemplateNotFound:
            page = env.get_template("en/email.html.j2")
        body = page.render(ctx, title=title, body=body).strip()
    return Message(title=title, body=body, body_format=body_format)


def render_block(env: Environment, name: str, block: str, ctx: dict[str, Any]) -> str:
    """One block of a named template (announcement wording, the status page's snippets)."""
    return _block(env.get_template(name), block, ctx)


def cause_words(env: Environment, language: str, cause: Any) -> dict[str, Any] | None:
    """A probable cause (rulebook/cause.py, as JSON) in a reader's language, from the same
    words the messages use (<lang>/_words.txt.j2): label, confidence, evidence lines, what to
    check first. For the internal page and `incidents show`."""
    if not isinstance(cause, dict) or not cause.get("kind"):
        return None
    words = env.get_template(f"{language}/_words.txt.j2").make_module()
    facts = [e for e in cause.get("evidence") or () if isinstance(e, dict) and e.get("fact") != "step"]
    return {
        "kind": cause["kind"],
        "label": str(words.cause_label(cause["kind"])).strip(),  # type: ignore[attr-defined]
        "confidence": str(words.confidence(cause.get("confidence"))).strip(),  # type: ignore[attr-defined]
        "evidence": [str(words.fact(e)).strip() for e in facts],  # type: ignore[attr-defined]
        "first": str(words.first(cause["kind"])).strip(),  # type: ignore[attr-defined]
    }
