"""What every command prints through, so the whole command line looks and behaves alike.

    console(err=False)      a rich Console: colour only on a terminal, none with NO_COLOR,
                            the width of the terminal (or COLUMNS)
    Col, print_table        a table that fits the width: one column wraps (at spaces), the
                            others keep their width; columns marked `drop` go first when the
                            terminal is narrow
    Trimmed, show           a renderable without trailing blanks, and printing one
    table                   the same for a list of dicts and column names (the last wraps),
                            returned as text
    status_text, summary    a status word in its colour (the word is always there), and the
                            "11 up, 1 degraded, 1 down, 2 disabled" line
    emit_json               a --json document: typed values (numbers, ISO 8601 times, null),
                            never truncated; its shape is monitor/cli/schemas/NAME.json
    CliError                an error that says what to do next (one line, then hints)
    origin                  a URL shown without credentials, path or query
    span, ago, until, clock_time   times and spans for people

Tables and JSON share their keys: a column's `key` is the JSON key of the value it shows, and
its header is that key in capitals without the unit (`latency_ms` -> LATENCY).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime, timedelta, tzinfo
from enum import Enum
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urlsplit

import click
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

SCHEMAS = Path(__file__).parent / "schemas"

# Each word keeps its meaning without colour; colour only makes it faster to find.
STYLES: dict[str, str] = {
    "up": "green",
    "ok": "green",
    "sent": "green",
    "resolved": "green",
    "degraded": "yellow",
    "identified": "yellow",
    "pending": "yellow",
    "minor": "yellow",
    "down": "bold red",
    "failed": "bold red",
    "investigating": "bold red",
    "major": "red",
    "critical": "bold red",
    "monitoring": "cyan",
    "sending": "cyan",
    "maintenance": "blue",
    "inhibited": "magenta",
    "silenced": "magenta",
    "unknown": "magenta",
    "disabled": "dim",
    "no data": "dim",
    "elsewhere": "dim",
}


UNWRAPPED = 10_000  # the width when no terminal is anywhere and COLUMNS is not set


def console(*, err: bool = False, file: IO[str] | None = None) -> Console:
    """A Console for stdout (or stderr). Colour only when writing to a terminal and NO_COLOR
    is not set (https://no-color.org). The width is COLUMNS, else the terminal's; output
    with no terminal at all (cron, a pipe from a script) is not wrapped, so each row stays
    one line for grep."""
    no_color = os.environ.get("NO_COLOR", "") != ""
    width = None
    if not os.environ.get("COLUMNS", "").isdigit() and not any(_isatty(fd) for fd in (0, 1, 2)):
        width = UNWRAPPED
    return Console(
        stderr=err,
        file=file,
        width=width,
        color_system=None if no_color else "auto",
        markup=False,  # messages hold "[STATUS] == 200": never read them as markup
        emoji=False,
        highlight=False,
        soft_wrap=False,
    )


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


@dataclass(frozen=True)
class Col:
    """One column: the JSON key it shows, and how it behaves when space runs out."""

    key: str
    header: str = ""
    wrap: bool = False  # the column that takes the remaining width and wraps (one per table)
    drop: int = 0  # 0 always shown; otherwise dropped on narrow terminals, highest first
    justify: Literal["left", "right"] = "left"

    @property
    def title(self) -> str:
        if self.header:
            return self.header
        key = self.key
        for unit in ("_ms", "_at", "_s"):
            key = key.removesuffix(unit)
        return key.replace("_", " ").upper()


MIN_WRAP = 24  # cells the wrapping column keeps before other columns are dropped


def fitted(
    columns: Sequence[Col], rows: Sequence[Mapping[str, Any]], width: int, widest: Mapping[str, int] | None = None
) -> list[Col]:
    """The columns that fit `width` beside a wrapping column of at least MIN_WRAP cells
    (`widest`: each column's widest cell, when measured already)."""
    cols = list(columns)
    gap = 2
    natural = widest if widest is not None else {c.key: _natural(c, rows) for c in cols}

    def need(cs: list[Col]) -> int:
        fixed = sum(natural[c.key] for c in cs if not c.wrap)
        wrap = MIN_WRAP if any(c.wrap for c in cs) else 0
        return fixed + wrap + gap * (len(cs) - 1)

    while need(cols) > width:
        droppable = [c for c in cols if c.drop]
        if not droppable:
            break
        cols.remove(max(droppable, key=lambda c: c.drop))
    return cols


def _natural(col: Col, rows: Sequence[Mapping[str, Any]]) -> int:
    return max([cell_len(col.title), *(cell_len(_plain(r.get(col.key))) for r in rows)])


def _plain(value: Any) -> str:
    return value.plain if isinstance(value, Text) else ("" if value is None else str(value))


def build_table(columns: Sequence[Col], rows: Sequence[Mapping[str, Any]], width: int) -> RenderableType:
    """`rows` (cells: str or Text) in the columns that fit `width`: a Grid, or rich's Table
    when even the columns that cannot be dropped are too wide (rich squeezes them)."""
    widest = {c.key: _natural(c, rows) for c in columns}  # measured once: a pass over every row
    cols = fitted(columns, rows, width, widest)
    naturals = [0 if c.wrap else widest[c.key] for c in cols]
    if sum(naturals) + (MIN_WRAP if any(c.wrap for c in cols) else 0) + 2 * (len(cols) - 1) <= width:
        return Grid(cols, naturals, rows, width, widest)
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold", padding=(0, 1), expand=False)
    for c in cols:
        if c.wrap:
            table.add_column(c.title, overflow="fold", justify=c.justify)
        else:
            table.add_column(c.title, no_wrap=True, min_width=widest[c.key], justify=c.justify)
    for r in rows:
        table.add_row(*(_cell(r.get(c.key)) for c in cols))
    return table


class Grid:
    """A table laid out as rich's Table (no box, one space of padding, bold headers) lays out
    these tables, for a fraction of its cost (it measured and wrapped every cell: a second for
    `status` at 1,000 checks): each fixed column as wide as its widest cell, the wrapping
    column the remaining width (at most its widest cell), wrapped at spaces, folding only a
    word longer than the column; two spaces between columns, nothing after the last.

    Its lines come out as Trimmed would leave them (no line wider than the table, no blanks
    at the end) and the unstyled stretches of a line as one segment, so Trimmed passes them
    on without splitting and cropping every segment again (half of `status`'s printing at
    1,000 checks)."""

    def __init__(self, cols: Sequence[Col], naturals: Sequence[int], rows: Sequence[Mapping[str, Any]], width: int,
                 widest: Mapping[str, int]) -> None:
        """`naturals`: each column's width (0 for the wrapping one); `widest`: each column's
        widest cell, by key (build_table measures them once)."""
        self.cols, self.rows = list(cols), rows
        fixed = sum(naturals) + 2 * (len(cols) - 1)
        self.widths = [min(widest[c.key], max(width - fixed, 1)) if c.wrap else n
                       for c, n in zip(cols, naturals, strict=True)]
        self.width = sum(self.widths) + 2 * (len(cols) - 1)  # of its widest line

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self._line(console, [Text(c.title, style="bold") for c in self.cols])
        for r in self.rows:
            cells = [self._lines(console, _cell(r.get(c.key)), c, w) for c, w in zip(self.cols, self.widths, strict=True)]
            for i in range(max(len(lines) for lines in cells)):
                yield from self._line(console, [lines[i] if i < len(lines) else "" for lines in cells])

    def _lines(self, console: Console, cell: Text | str, col: Col, width: int) -> list[Text | str]:
        plain = cell.plain if isinstance(cell, Text) else cell
        if "\n" not in plain and cell_len(plain) <= width:
            return [cell]
        text = cell if isinstance(cell, Text) else Text(cell)
        if not col.wrap:
            return list(text.split("\n"))
        return list(text.wrap(console, width, overflow="fold"))

    def _line(self, console: Console, cells: list[Text | str]) -> Iterator[Segment]:
        last = len(cells) - 1
        line: list[Segment] = []
        plain_run = ""  # unstyled text not yet in `line`
        for i, (cell, col, width) in enumerate(zip(cells, self.cols, self.widths, strict=True)):
            plain = cell.plain if isinstance(cell, Text) else cell
            pad = " " * max(width - cell_len(plain), 0)
            if i:
                plain_run += "  "
            if col.justify == "right":
                plain_run += pad
            if isinstance(cell, Text):  # its own style under its spans' (Text.render leaves it out)
                if plain_run:
                    line.append(Segment(plain_run))
                    plain_run = ""
                line.extend(Segment.apply_style(cell.render(console), console.get_style(cell.style) if cell.style else None))
            else:
                plain_run += cell
            if col.justify != "right" and i < last:
                plain_run += pad
        if plain_run:
            line.append(Segment(plain_run))
        yield from _rstrip(line)
        yield Segment.line()


def _cell(value: Any) -> Text | str:
    if isinstance(value, Text):
        return value
    return "" if value is None else str(value)


class Trimmed:
    """A renderable without the spaces rich pads the end of each line with (so piped output
    and captures hold no trailing blanks), each line cut to the width: print it with
    `crop=False` (`show`), there is nothing left to cut. A Grid (alone or in a Group) that
    fits is passed on as it is: its lines are made that way."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        parts = self.renderable.renderables if isinstance(self.renderable, Group) else [self.renderable]
        for part in parts:
            if isinstance(part, Grid) and part.width <= options.max_width:
                yield from part.__rich_console__(console, options)
                continue
            for line in console.render_lines(part, options, pad=False):
                yield from _rstrip(line)
                yield Segment.line()


def show(out: Console, renderable: RenderableType) -> None:
    """Print `renderable` Trimmed, without the second pass over every segment that cropping
    at print time would make (Trimmed's lines are cut to the width already)."""
    out.print(Trimmed(renderable), crop=False)


def _rstrip(line: list[Segment]) -> Iterator[Segment]:
    line = list(line)
    while line and not line[-1].control and not line[-1].text.strip():
        line.pop()
    if line and not line[-1].control:
        last = line.pop()
        line.append(Segment(last.text.rstrip(), last.style))
    yield from line


def print_table(out: Console, columns: Sequence[Col], rows: Sequence[Mapping[str, Any]]) -> None:
    show(out, build_table(columns, rows, out.width))


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Rows as a table that fits the terminal, the last column wrapping; returned as text
    (with colour codes only on a terminal) for click.echo. Status-like words are coloured."""
    cols = [Col(c, header=c.upper(), wrap=i == len(columns) - 1) for i, c in enumerate(columns)]
    styled = [{k: status_text(v) if k == "status" and isinstance(v, str) else v for k, v in r.items()} for r in rows]
    out = console()
    with out.capture() as captured:
        print_table(out, cols, styled)
    return captured.get().rstrip("\n")


# -- words and colours -------------------------------------------------------------------------


def status_text(word: str, style: str | None = None) -> Text:
    """The word in its colour; the word itself always carries the meaning."""
    return Text(word, style=style or STYLES.get(word, ""))


def summary(counts: Mapping[str, int], order: Iterable[str], notes: Mapping[str, str] | None = None) -> Text:
    """'11 up, 1 degraded, 1 down, 2 disabled': the words in `order` that occur, coloured;
    `notes` adds a remark after a word's count (" (1 inhibited)")."""
    out = Text()
    for word in order:
        n = counts.get(word, 0)
        if not n:
            continue
        if out:
            out.append(", ")
        out.append(f"{n} {word}", style=STYLES.get(word, ""))
        if notes and word in notes:
            out.append(notes[word], style="dim")
    return out


# -- JSON -----------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """The JSON form of what commands print: times as ISO 8601 with their offset, spans as
    seconds, enums as their value."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)


def dumps(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2, default=jsonable)


def emit_json(doc: Any) -> None:
    """Print a --json document whole (documented in monitor/cli/schemas/, stable)."""
    click.echo(dumps(doc))


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one --json output (monitor/cli/schemas/NAME.json)."""
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


# -- errors -----------------------------------------------------------------------------------------


class CliError(click.ClickException):
    """A command cannot go on: one line saying what is wrong, then what to do about it.

        invoicewatch: no config file: ./config.yaml does not exist
          name one with -c FILE, or set INVOICEWATCH_CONFIG=FILE
    """

    def __init__(self, message: str, *hints: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.hints = [h for h in hints if h]
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it a ClassVar; set per error

    def show(self, file: IO[Any] | None = None) -> None:
        err = console(err=True)  # wrapped at spaces on a terminal; elsewhere one line each
        soft = not err.is_terminal
        err.print(Text("invoicewatch: ", style="bold red") + Text(self.message), soft_wrap=soft)
        for hint in self.hints:
            err.print(Text("  " + hint), soft_wrap=soft)


def origin(url: str) -> str:
    """A URL as it may be shown anywhere: scheme, host and port; never credentials, path or query."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}"
    except ValueError:
        return url.split("://", 1)[0] + "://"


# -- time for people --------------------------------------------------------------------------------


def span(delta: timedelta) -> str:
    """A span in at most two units: 45s, 3m20s, 2h5m, 3d4h."""
    seconds = int(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        m, s = divmod(seconds, 60)
        return f"{m}m{s}s" if s and m < 10 else f"{m}m"
    if seconds < 86400:
        h, rest = divmod(seconds, 3600)
        return f"{h}h{rest // 60}m" if rest >= 60 else f"{h}h"
    d, rest = divmod(seconds, 86400)
    return f"{d}d{rest // 3600}h" if rest >= 3600 else f"{d}d"


def ago(now: datetime, then: datetime | None) -> str:
    return "" if then is None else f"{span(now - then)} ago"


def until(now: datetime, then: datetime | None) -> str:
    if then is None:
        return ""
    return f"in {span(then - now)}" if then >= now else f"{span(now - then)} overdue"


def clock_time(when: datetime | None, zone: tzinfo, now: datetime) -> str:
    """Wall-clock time in the monitor's zone: 19:08:38 today, 12-01 19:08 otherwise."""
    if when is None:
        return ""
    local = when.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%m-%d %H:%M")
