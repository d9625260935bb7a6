"""Snapshot -> files: HTML per language, Statuspage JSON, Atom feed, SVG badges, static assets.

    build_files(snapshot[, fragments]) -> {path: bytes} pure: no I/O beyond reading templates;
                                                        with the last render's Fragments only
                                                        changed cards/incidents/badges render
    SiteWriter(out_dir).write(files)                    atomic per file, skips unchanged files,
                                                        removes files of the previous render
                                                        that are gone (e.g. a component made private)

Pages: index.html and history.html in the default language at the root, and the same pages
for every other language under <lang>/ (en/index.html when the default is zh-CN). Switching
language is a link between two static pages, so it works with JavaScript off.
Jinja2 autoescaping is on for every template (HTML, SVG and Atom alike).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache, partial
from importlib import resources
from pathlib import Path
from typing import Any, cast
from uuid import NAMESPACE_URL, uuid5
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup, escape

from monitor.core.text import Text, text_in
from monitor.statuspage import svg
from monitor.statuspage.api import Api
from monitor.statuspage.catalog import Translator
from monitor.statuspage.model import (
    NO_DATA,
    WINDOWS,
    ComponentView,
    DayBar,
    IncidentView,
    LatencySeries,
    Snapshot,
    UpdateView,
)

log = logging.getLogger(__name__)

# The policy the built-in server sends; the pages repeat it in a <meta> tag so a copy served
# by any other web server is protected too (frame-ancestors only works as a header).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
META_CSP = CSP.replace("; frame-ancestors 'none'", "")
MANIFEST = ".manifest.json"
_LEVELS = frozenset({"nodata", "ok", "minor", "major", "critical"})
_CARDS = Markup("\x00cards\x00")  # where a page's cards go (no template or text can hold a NUL)


@cache
def environment() -> jinja2.Environment:
    """The status page's Jinja2 environment: autoescape on for everything, strict undefined."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("monitor.statuspage", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@cache
def static_files() -> dict[str, bytes]:
    pkg = resources.files("monitor.statuspage") / "static"
    return {f"static/{p.name}": p.read_bytes() for p in pkg.iterdir() if p.is_file()}


def asset_version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:10]


@dataclass(frozen=True, slots=True)
class ChartView:
    n: int
    series: LatencySeries
    geometry: svg.Chart


class PageContext:
    """Helpers the templates call, bound to one language and one page depth."""

    def __init__(self, snap: Snapshot, lang: str) -> None:
        self.snap = snap
        self.lang = lang
        self.t = Translator(lang)
        self.tz = ZoneInfo(snap.page.timezone)
        self.default = snap.page.language
        self.root = "" if lang == self.default else "../"
        self.titles = {i.id: i for i in (*snap.active_incidents, *snap.past_incidents)}
        self._labels: dict[tuple[Any, ...], str] = {}

    def txt(self, text: Text | None) -> str:
        return text_in(text, self.lang, self.default)

    def pick(self, texts: dict[str, Any]) -> Any:
        """One language's entry of a {lang: ...} mapping from the database."""
        return texts.get(self.lang) or texts.get(self.default) or next(iter(texts.values()), "")

    def href(self, page: str, lang: str) -> str:
        return f"{self.root}{page}" if lang == self.default else f"{self.root}{lang}/{page}"

    def fmt_time(self, when: datetime | None) -> str:
        if when is None:
            return ""
        local = when.astimezone(self.tz)
        return f"{local:%Y-%m-%d %H:%M} {_offset(local)}"

    def fmt_hour(self, when: datetime) -> str:
        return f"{when.astimezone(self.tz):%H:00}"

    def iso(self, when: datetime) -> str:
        return when.astimezone(self.tz).isoformat(timespec="seconds")

    def zone_label(self) -> str:
        return f"{self.snap.page.timezone} ({_offset(self.snap.generated_at.astimezone(self.tz))})"

    @staticmethod
    def pct(value: Decimal | None) -> str:
        return "—" if value is None else f"{value:.2f}%"

    @staticmethod
    def num(value: float | None) -> str:
        return "—" if value is None else f"{value:.0f}"

    def names(self, components: Iterable[tuple[str, Text]]) -> str:
        named = [self.txt(name) for _, name in components]
        return ("、" if self.lang == "zh-CN" else ", ").join(named) if named else self.t("all_services")

    def incident_title(self, i: IncidentView) -> str:
        return self.t("incident_title", component=self.txt(i.component_name), impact=self.t(f"impact_{i.impact}"))

    def update_text(self, i: IncidentView, u: UpdateView) -> str:
        if u.message is not None:
            return u.message
        return self.t(f"auto_update_{u.status}", component=self.txt(i.component_name))

    def bars(self, bars: Iterable[DayBar]) -> Markup:
        """The 90 `<li>` of one component's bar chart.

        The one piece of markup built in Python: it is 90 elements x every component x every
        language, and a Jinja loop over it dominated the render (bench/statuspage_render.py).
        Every dynamic value is escaped here; `level` comes from a closed vocabulary.
        """
        out = []
        for bar in bars:
            key = (bar.day, bar.uptime, bar.incidents)
            label = self._labels.get(key)
            if label is None:
                label = self._labels[key] = str(escape(self.bar_label(bar)))
            if bar.level not in _LEVELS:
                raise ValueError(f"unknown bar level {bar.level!r}")
            # The day's text is the item's own content: what a screen reader reads, and (shown
            # on hover and focus by CSS) the tooltip. An aria-label on a list item is what the
            # Nu checker flags as a possible misuse.
            out.append(f'<li tabindex="0" class="{bar.level}"><span>{label}</span></li>')
        return Markup("".join(out))

    def bar_label(self, bar: DayBar) -> str:
        day = bar.day.isoformat()
        if bar.uptime is None and not bar.incidents:
            return self.t("day_tip_nodata", date=day)
        if bar.incidents:
            titles = "; ".join(self.incident_title(self.titles[i]) for i in bar.incidents if i in self.titles)
            incidents = self.t("day_incidents", count=len(bar.incidents), titles=titles)
        else:
            incidents = self.t("day_no_incidents")
        return self.t("day_tip", date=day, uptime=self.pct(bar.uptime), incidents=incidents)

    def overall_text(self) -> str:
        o = self.snap.overall
        return self.t("overall_no_data" if o.status == NO_DATA else f"overall_{o.indicator}")

    def variables(self, page_name: str, statics: dict[str, bytes]) -> dict[str, Any]:
        return {
            "snap": self.snap, "lang": self.lang, "t": self.t, "root": self.root, "page_name": page_name,
            "others": [lang for lang in self.snap.page.languages if lang != self.lang],
            "t_in": lambda lang, key: Translator(lang)(key),
            "href": self.href, "txt": self.txt, "pick": self.pick, "fmt_time": self.fmt_time,
            "fmt_hour": self.fmt_hour, "iso": self.iso, "pct": self.pct, "num": self.num, "names": self.names,
            "incident_title": self.incident_title, "update_text": self.update_text, "bars": self.bars,
            "overall_text": self.overall_text(), "zone_label": self.zone_label(), "windows": WINDOWS,
            "meta_csp": META_CSP,
            "css_version": asset_version(statics["static/status.css"]),
            "js_version": asset_version(statics["static/status.js"]),
        }


def _offset(local: datetime) -> str:
    off = local.strftime("%z")  # +0800
    return f"UTC{off[:3]}:{off[3:]}" if off else "UTC"


class Fragments:
    """Rendered pieces kept from one render to the next, by what they show: component cards
    (by `ComponentView.key`, which covers its bars), incidents and badges, each per language.
    A render then renders only what changed and puts the pages together from the rest.
    Entries the last render did not use are dropped, so it holds one site's pieces at most.
    Every key also names the page's language, default language and time zone."""

    def __init__(self) -> None:
        self._kept: dict[Hashable, Any] = {}
        self._used: dict[Hashable, Any] = {}
        self.made = 0  # pieces rendered (not found) by the last render
        self.reused = 0

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        found = self._used.get(key)
        if found is None:
            found = self._kept.get(key)
            if found is None:
                found = make()
                self.made += 1
            else:
                self.reused += 1
            self._used[key] = found
        return found

    def start(self) -> None:
        self.made = self.reused = 0

    def done(self) -> None:
        self._kept, self._used = self._used, {}


def build_files(snap: Snapshot, fragments: Fragments | None = None) -> dict[str, bytes]:
    """Every file of the site, in memory. Assets first, HTML last (see SiteWriter.write).
    With `fragments` from the previous render, unchanged pieces are not rendered again."""
    env = environment()
    cache = fragments or Fragments()
    cache.start()
    statics = static_files()
    files: dict[str, bytes] = dict(statics)
    files.update(Api(snap).files())
    files.update(_badges(snap, cache))
    incident_keys = {i.id: i.key or repr(i) for i in (*snap.active_incidents, *snap.past_incidents)}  # what each shows
    files["feed.atom"] = _feed(snap, cache, incident_keys)
    index, history = env.get_template("index.html.j2"), env.get_template("history.html.j2")
    pages = paged(snap)
    for lang in snap.page.languages:
        ctx = PageContext(snap, lang)
        prefix = "" if lang == snap.page.language else f"{lang}/"
        charts = [
            ChartView(n, s, svg.latency_chart(s, ctx.tz)) for n, s in enumerate(snap.latency, start=1)
        ]
        base = ctx.variables("index.html", statics)
        where = (lang, snap.page.language, snap.page.timezone)
        ui: Any = env.get_template("macros.html.j2").make_module(base)

        def incident(i: IncidentView, heading: str = "h3", ui: Any = ui, where: tuple[str, ...] = where) -> Markup:
            ident = incident_keys.get(i.id) or repr(i)
            return cast(Markup, cache.get(("incident", *where, heading, ident), lambda: ui.incident(i, heading)))

        parts: Any = env.get_template("index_parts.html.j2").make_module({**base, "charts": charts, "incident": incident})

        def card(c: ComponentView, parts: Any = parts, where: tuple[str, ...] = where) -> bytes:
            # Kept encoded: half the memory of the str (CJK makes it two bytes a character),
            # and a page is its cards' bytes joined, not one more str to encode.
            return cast(bytes, cache.get(("card", *where, c.key or repr(c)), lambda: parts.card(c).encode()))

        top, tail = parts.top(), parts.tail()
        for n, (name, components) in enumerate(pages, start=1):
            pager = Pager(n, len(pages), [(k, ctx.href(page, lang)) for k, (page, _) in enumerate(pages, start=1)])
            html = index.render(**ctx.variables(name, statics), pager=pager, top=top, tail=tail, cards=_CARDS)
            head, found, foot = html.partition(_CARDS)
            if not found or _CARDS in foot:
                raise ValueError("index.html.j2 must show {{ cards }} once")
            files[f"{prefix}{name}"] = b"".join((head.encode(), *(card(c) for c in components), foot.encode()))
        files[f"{prefix}history.html"] = history.render(
            **ctx.variables("history.html", statics), incident=incident,
            past_by_day=[(day, Markup("".join(incident(i, "h4") for i in items)))
                         for day, items in _by_day(snap.past_incidents, ctx)],
        ).encode()
    cache.done()
    return files


@dataclass(frozen=True, slots=True)
class Pager:
    page: int
    pages: int
    links: list[tuple[int, str]]  # (page number, href)


def paged(snap: Snapshot) -> list[tuple[str, tuple[ComponentView, ...]]]:
    """The component pages: (file name, its components). One page (index.html) up to
    `per_page` components; beyond, those not operational first (so every problem is on the
    first page), then in configured order, `per_page` a page: index.html, components-2.html..."""
    comps, per = snap.components, max(1, snap.page.per_page)
    if len(comps) <= per:
        return [("index.html", comps)]
    ordered = sorted(comps, key=lambda c: (c.status == "operational", c.position))
    return [("index.html" if i == 0 else f"components-{i // per + 1}.html", tuple(ordered[i : i + per]))
            for i in range(0, len(ordered), per)]


def _by_day(incidents: Iterable[IncidentView], ctx: PageContext) -> list[tuple[str, list[IncidentView]]]:
    days: dict[date, list[IncidentView]] = {}
    for i in incidents:
        when = i.started_at or i.detected_at or ctx.snap.generated_at
        days.setdefault(when.astimezone(ctx.tz).date(), []).append(i)
    return [(d.isoformat(), items) for d, items in sorted(days.items(), reverse=True)]


def _badges(snap: Snapshot, cache: Fragments) -> dict[str, bytes]:
    tpl = environment().get_template("badge.svg.j2")
    t = Translator(snap.page.language)
    out = {}
    for c in snap.components:
        key = ("badges", snap.page.language, repr(c.name), c.status, c.uptime["30d"])
        out[f"badges/{c.id}.svg"], out[f"badges/uptime/{c.id}.svg"] = cache.get(key, partial(_badge_pair, c, tpl, t))
    return out


def _badge_pair(c: ComponentView, tpl: jinja2.Template, t: Translator) -> tuple[bytes, bytes]:
    """A component's status and 30-day uptime badges."""
    name = text_in(c.name, t.language)
    status = svg.badge(name, t(f"status_{c.status}"), svg.BADGE_COLORS.get(c.status, svg.BADGE_COLORS[NO_DATA]))
    month = c.uptime["30d"]
    uptime = svg.badge(
        f"{name} {t('badge_uptime')}",
        PageContext.pct(month),
        svg.uptime_color(None if month is None else float(month)),
    )
    return tpl.render(b=status).encode(), tpl.render(b=uptime).encode()


def _feed(snap: Snapshot, cache: Fragments, keys: dict[int, str]) -> bytes:
    ctx = PageContext(snap, snap.page.language)
    base = snap.page.public_url

    def ident(kind: str, key: object) -> str:
        if base:
            return f"{base}#{kind}-{key}"
        return f"urn:uuid:{uuid5(NAMESPACE_URL, f'invoicewatch:{snap.page.name}:{kind}:{key}')}"

    tpl = environment().get_template("feed.atom.j2")
    link: Callable[[str], str] = lambda path: (base or "") + path  # noqa: E731
    ui: Any = environment().get_template("feed_entry.atom.j2").make_module(
        {"t": ctx.t, "txt": ctx.txt, "iso": ctx.iso, "link": link}
    )
    entries: list[tuple[datetime, Markup]] = []
    for a in snap.announcements:
        body = ctx.pick(a.body) or {}
        parts = [f"{ctx.t(k)}: {body[k]}" for k in ("phenomenon", "scope", "workaround", "after", "contact") if body.get(k)]
        if a.next_update_at:
            parts.append(ctx.t("next_update", time=ctx.fmt_time(a.next_update_at)))
        updated = a.updated_at or a.created_at or snap.generated_at
        entries.append((updated, ui.entry({
            "id": ident("announcement", a.id), "title": ctx.pick(a.title) or "",
            "updated": updated, "published": a.created_at,
            "path": f"index.html#announcement-{a.id}", "content": "\n".join(parts),
        })))

    def incident_entry(i: IncidentView, updated: datetime) -> Markup:
        latest = i.updates[0] if i.updates else None
        return cast(Markup, ui.entry({
            "id": ident("incident", i.id),
            "title": f"{ctx.incident_title(i)} ({ctx.t('incident_status_' + i.status)})",
            "updated": updated, "published": i.detected_at or i.started_at,
            "path": f"history.html#incident-{i.id}",
            "content": ctx.update_text(i, latest) if latest else ctx.t(f"auto_update_{i.status}", component=ctx.txt(i.component_name)),
        }))

    where = ("feed", snap.page.language, snap.page.timezone, snap.page.name, base)
    for i in (*snap.active_incidents, *snap.past_incidents):
        updated = i.updated_at or snap.generated_at
        entries.append((updated, cache.get((*where, keys.get(i.id) or repr(i), updated), partial(incident_entry, i, updated))))
    entries.sort(key=lambda e: e[0], reverse=True)
    return tpl.render(
        snap=snap, lang=snap.page.language, t=ctx.t, txt=ctx.txt, iso=ctx.iso, entries=[e for _, e in entries],
        feed_id=ident("feed", "main"), link=link,
    ).encode()


@dataclass(frozen=True, slots=True)
class WriteStats:
    files: int
    written: int
    removed: int
    bytes: int


class SiteWriter:
    """Writes a site into `out_dir` so a reader never sees a half-written file.

    Each file goes to a hidden temp file beside its target and is moved into place with
    os.replace (atomic on POSIX). Unchanged files are not rewritten (their ETag and
    Last-Modified stay put); files the previous render wrote and this one did not are
    removed, using a manifest kept in the folder so this also holds across restarts.
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.out = Path(out_dir)
        self._digests: dict[str, str] = {}
        self._listed: tuple[bytes, list[str]] | None = None  # the manifest of this writer's last write, parsed

    def write(self, files: dict[str, bytes]) -> WriteStats:
        self.out.mkdir(parents=True, exist_ok=True)
        on_disk, previous = self._manifest()
        written = 0
        root = str(self.out)
        folders: set[str] = {root}  # made (or found) in this write: one mkdir per folder, not per file
        ordered = sorted(files, key=lambda p: (p.endswith(".html"), p))  # HTML last
        for rel in ordered:
            data = files[rel]
            digest = hashlib.sha256(data).hexdigest()
            target = os.path.join(root, rel)  # strings, not Paths: 2,000 files a render
            if self._digests.get(rel) == digest and os.path.exists(target):
                continue
            if rel not in self._digests and _same(target, data):
                self._digests[rel] = digest
                continue
            folder = os.path.dirname(target)
            if folder not in folders:
                os.makedirs(folder, exist_ok=True)
                folders.add(folder)
            _atomic_write(Path(target), data, mkdir=False)
            self._digests[rel] = digest
            written += 1
        removed = 0
        for rel in sorted(set(previous) - set(files)):
            self._digests.pop(rel, None)
            try:
                (self.out / rel).unlink()
                removed += 1
            except FileNotFoundError:
                pass
        listed = sorted(files)
        manifest = json.dumps(listed).encode()
        if manifest != on_disk:  # read at the start of this write; nothing else writes it
            _atomic_write(self.out / MANIFEST, manifest)
        self._listed = (manifest, listed)
        return WriteStats(len(files), written, removed, sum(len(v) for v in files.values()))

    def _manifest(self) -> tuple[bytes | None, list[str]]:
        """The manifest as it is on disk (None: none there) and the files it lists."""
        try:
            raw = (self.out / MANIFEST).read_bytes()
        except OSError:
            return None, []
        if self._listed is not None and self._listed[0] == raw:
            return raw, self._listed[1]  # what this writer wrote last, already checked
        try:
            data = json.loads(raw)
        except ValueError:
            return raw, []
        if not isinstance(data, list):
            return raw, []
        return raw, [p for p in data if isinstance(p, str) and ".." not in Path(p).parts and not Path(p).is_absolute()]


def _same(path: str, data: bytes) -> bool:
    try:
        if os.stat(path).st_size != len(data):
            return False
        with open(path, "rb") as fh:
            return fh.read() == data
    except OSError:
        return False


def _atomic_write(target: Path, data: bytes, *, mkdir: bool = True) -> None:
    if mkdir:
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def render_site(snap: Snapshot, out_dir: str | Path, writer: SiteWriter | None = None) -> WriteStats:
    """Render every file of the site for `snap` into `out_dir`."""
    return (writer or SiteWriter(out_dir)).write(build_files(snap))
