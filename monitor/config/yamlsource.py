"""Read YAML keeping where every value came from, and expand `${...}` references, in bounds.

Order (documented in README): read the file (at most `Limits.file_bytes`), check it is UTF-8
text, parse it into YAML events (libyaml when installed), build plain data from the events
while recording each value's (line, column) by key path, expand `${ENV}` / `${file:PATH}` in
string scalars (`$$` is a literal `$`; monitor/config/expand.py), then hand the data (a
`Source`, monitor/config/source.py) to the pydantic models. Problems
found here (syntax, duplicate keys, missing variables, unreadable secret files, a limit
crossed) are collected, not raised one by one.

Why events and not `yaml.compose`: the composer recurses once per nesting level (deep files
crash it) and aliases share nodes, so building data from them copies an anchor once per use,
unbounded (a 1 KB "billion laughs" took 4 GB). Here one loop with an explicit stack builds the
data; an alias costs the size its anchor recorded, counted against `Limits` before it is
copied; nesting is counted as it opens. It is also about seven times faster than composing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.config import syntax
from monitor.config.expand import Expander
from monitor.config.limits import DEFAULT_LIMITS, Limits, size
from monitor.config.reading import BadText, TooLarge, decode, find_non_text, read_bounded
from monitor.config.source import Path_, Source, format_path
from monitor.core.errors import ConfigProblem

__all__ = ["Path_", "Source", "format_path", "load_source"]
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_COLLECTION_TAGS = {None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CONSTRUCT = yaml.SafeLoader.yaml_constructors


def load_source(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    text: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    allow_unset: bool = False,
) -> Source:
    """Parse a YAML config file. Never raises for content; problems land in `source.problems`.
    `allow_unset`: see Source.unset."""
    file = str(path)
    src = Source(file=file, data=None, allow_unset=allow_unset)

    def whole_file(message: str, line: int | None = 1, column: int | None = 1) -> Source:
        src.problems.append(ConfigProblem(file, line, column, "", message))
        return src

    if text is None:
        try:
            decoded = decode(read_bounded(path, limits.file_bytes))
        except FileNotFoundError:
            return whole_file("file not found", None, None)
        except TooLarge:
            return whole_file(f"the file is larger than {size(limits.file_bytes)}, the limit for a config file")
        except OSError as exc:
            return whole_file(f"cannot read: {exc.strerror or type(exc).__name__}", None, None)
        if isinstance(decoded, BadText):
            return whole_file(decoded.message, decoded.line, decoded.column)
        text = decoded
    elif len(text) > limits.file_bytes:
        return whole_file(f"the file is larger than {size(limits.file_bytes)}, the limit for a config file")
    bad = find_non_text(text)
    if bad is not None:
        return whole_file(bad.message, bad.line, bad.column)
    builder = _Builder(src, text, env if env is not None else os.environ, Path(file).parent, limits)
    try:
        builder.run()
    except _Stop:
        src.data = None
    except yaml.MarkedYAMLError as exc:
        src.problems.append(syntax.problem(file, text, exc, format_path(builder.where_now())))
        src.data = None
    except yaml.YAMLError as exc:  # no position (a reader error we did not foresee)
        src.problems.append(ConfigProblem(file, 1, 1, "", f"YAML syntax: {exc}"))
        src.data = None
    if src.data is None and not src.problems:
        message = ("the file must be a mapping of sections (monitor:, checks:, ...)" if builder.documents
                   else "the file is empty; expected sections like monitor:, components:, checks:")
        src.problems.append(ConfigProblem(file, 1, 1, "", message))
    return src


class _Stop(Exception):
    """A limit was crossed (the problem is recorded); building stops."""


_UNSET = object()
_SKIP = object()  # the value of a duplicate or non-text key: parsed, not kept
_MERGE_KEY = object()


@dataclass
class _Anchor:
    value: Any
    nodes: int
    height: int
    origin: Path_
    log: tuple[int, int]  # range of `_Builder.log` recorded inside it


@dataclass
class _Frame:
    path: Path_ | None  # None: being parsed only to be dropped (a bad key, a duplicate)
    value: Any  # dict or list
    start: tuple[int, int]
    anchor: str | None
    nodes_before: int
    log_start: int
    depth: int
    key: Any = _UNSET  # mappings: the key whose value comes next
    is_map: bool = False
    merges: list[tuple[Any, Path_ | None, int, int]] = field(default_factory=list)
    height: int = 1


class _Builder:
    """Events in, plain data out, with positions; every limit checked as it is reached."""

    def __init__(self, src: Source, text: str, env: Mapping[str, str], base_dir: Path, limits: Limits) -> None:
        self.src = src
        self.text = text
        self.expander = Expander(src, env, base_dir, limits)
        self.limits = limits
        self.loader = _Loader(text)
        self.stack: list[_Frame] = []
        self.anchors: dict[str, _Anchor] = {}
        self.open_anchors: set[str] = set()
        self.written = 0  # nodes written in the file
        self.expanded = 0  # nodes added by aliases
        self.capturing = 0  # open anchors and merges: positions are logged while > 0
        self.log: list[tuple[Path_, tuple[int, int], bool]] = []
        self.last_key_path: Path_ = ()
        self.documents = 0
        self.plain: dict[str, Any] = {}  # plain scalar text -> its value (resolving is costly)

    # --- the event loop -------------------------------------------------------------------

    def run(self) -> None:
        get = self.loader.get_event
        try:
            while True:
                event = get()
                kind = type(event)
                if kind is yaml.ScalarEvent:
                    self.scalar(event)
                elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                    self.open(event, kind is yaml.MappingStartEvent)
                elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                    self.close()
                elif kind is yaml.AliasEvent:
                    self.alias(event)
                elif kind is yaml.DocumentStartEvent:
                    self.documents += 1
                    if self.documents > 1:
                        line, col = _mark(event)
                        self.src.problems.append(ConfigProblem(
                            self.src.file, line, col, "",
                            "YAML syntax: a second document (after ---); a config file is one document",
                        ))
                        raise _Stop
                elif kind is yaml.StreamEndEvent:
                    return
        finally:
            self.loader.dispose()

    def where_now(self) -> Path_:
        """The key path being parsed when a syntax error struck (for its message)."""
        for frame in reversed(self.stack):
            if frame.path is not None:
                if isinstance(frame.key, str):
                    return (*frame.path, frame.key)  # inside this key's value
                return frame.path or self.last_key_path[:1]
        return self.last_key_path[:1]

    # --- building -------------------------------------------------------------------------

    def child_path(self) -> Path_ | None:
        """Path of the value that starts now, or None when it is to be dropped."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if top.path is None:
            return None
        if isinstance(top.value, list):
            return (*top.path, len(top.value))
        if top.key is _UNSET or top.key is _SKIP:
            return None  # a key (a complex one), or the value of a dropped key
        if top.key is _MERGE_KEY:
            return (*top.path, "<<", len(top.merges))
        return (*top.path, top.key)

    def count(self, event: Any) -> None:
        self.written += 1
        if self.written + self.expanded > self.limits.nodes:
            self.stop(event, f"more than {self.limits.nodes:,} values in one file, the limit for a config file")

    def stop(self, event: Any, message: str) -> None:
        line, col = _mark(event)
        path = self.child_path()
        path = path if path is not None else self.where_now()
        shown = format_path(path[:8]) + (f"... ({len(path) - 8} levels more)" if len(path) > 8 else "")
        self.src.problems.append(ConfigProblem(self.src.file, line, col, shown, message))
        raise _Stop

    def record(self, path: Path_, where: tuple[int, int], key: bool = False) -> None:
        (self.src.key_positions if key else self.src.positions)[path] = where
        if self.capturing:
            self.log.append((path, where, key))

    def open(self, event: Any, mapping: bool) -> None:
        self.count(event)
        depth = len(self.stack) + 1
        if depth > self.limits.depth:
            self.stop(event, f"nested more than {self.limits.depth} levels deep, the limit for a config file")
        is_key = bool(self.stack) and isinstance(self.stack[-1].value, dict) and self.stack[-1].key is _UNSET
        path = None if is_key else self.child_path()
        where = _mark(event)
        if event.tag not in _COLLECTION_TAGS:
            self.unsupported_tag(event.tag, path, where)
        if path is not None:
            self.record(path, where)
        anchor = event.anchor
        if anchor is not None:
            self.capturing += 1
            self.open_anchors.add(anchor)
        self.stack.append(_Frame(path, {} if mapping else [], where, anchor, self.written + self.expanded - 1,
                                 len(self.log), depth, is_map=mapping))

    def close(self) -> None:
        frame = self.stack.pop()
        value = frame.value
        if isinstance(value, dict) and frame.merges:
            value = self.merged(frame)
        nodes = self.written + self.expanded - frame.nodes_before
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = _Anchor(value, nodes, frame.height, frame.path or (), (frame.log_start, len(self.log)))
        self.attach(value, frame.path, frame.start, frame.height, frame.log_start,
                    key_frame=frame.path is None and bool(self.stack) and self.stack[-1].key is _UNSET)
        if frame.anchor is not None:
            self.capturing -= 1

    def attach(self, value: Any, path: Path_ | None, where: tuple[int, int], height: int, log_start: int,
               *, key_frame: bool = False) -> None:
        """Hand a finished value (scalar, collection or alias copy) to its parent."""
        if not self.stack:
            self.src.data = value
            return
        top = self.stack[-1]
        top.height = max(top.height, height + 1)
        if isinstance(top.value, list):
            if top.path is not None:
                top.value.append(value)
            else:
                top.value.append(None)  # keep indexes counting in a dropped list
            return
        if top.key is _UNSET:  # this value is a key
            if key_frame or not isinstance(value, str | int | float | bool) or value is None:
                if top.path is not None:
                    self.src.problems.append(ConfigProblem(self.src.file, *where, format_path(top.path), "mapping keys must be text"))
                top.key = _SKIP
            return
        key = top.key
        top.key = _UNSET
        if key is _SKIP or top.path is None:
            return
        if key is _MERGE_KEY:
            top.merges.append((value, path, log_start, len(self.log)))
            return
        top.value[key] = value

    def scalar(self, event: Any) -> None:
        # The hot path (most events are scalars): written out instead of calling helpers.
        self.written += 1
        if self.written + self.expanded > self.limits.nodes:
            self.count(event)
        mark = event.start_mark
        where = (mark.line + 1, mark.column + 1)
        top = self.stack[-1] if self.stack else None
        if top is not None and top.is_map and top.key is _UNSET:
            self.key(top, event, where)
            return
        path = self.child_path()
        if event.tag is None and event.implicit[0]:
            value = self.plain.get(event.value, _UNSET)
            if value is _UNSET:
                value = self.construct(event, path, where, cache=True)
        else:
            value = self.construct(event, path, where)
        if path is not None:
            self.src.positions[path] = where
            if self.capturing:
                self.log.append((path, where, False))
            if value.__class__ is str and "$" in value:
                value = self.expander.expand(value, path)
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchor(value, 1, 0, path or (), (len(self.log), len(self.log)))
        if top is None:
            self.src.data = value
        elif not top.is_map:
            top.value.append(value if top.path is not None else None)
        else:
            key = top.key
            top.key = _UNSET
            if key is _MERGE_KEY:
                top.merges.append((value, path, len(self.log), len(self.log)))
            elif key is not _SKIP and top.path is not None:
                top.value[key] = value

    def key(self, top: _Frame, event: Any, where: tuple[int, int]) -> None:
        plain = event.tag is None and event.implicit[0]
        if plain:
            if event.value == "<<" and top.path is not None:
                top.key = _MERGE_KEY
                self.capturing += 1
                return
            value = self.plain.get(event.value, _UNSET)
            if value is _UNSET:
                value = self.construct(event, None, where, cache=True)
        else:
            value = self.construct(event, None, where)
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchor(value, 1, 0, (), (len(self.log), len(self.log)))
        if top.path is None:
            top.key = _SKIP
            return
        if value.__class__ is not str:
            if not isinstance(value, bool | int | float):
                self.src.problems.append(ConfigProblem(self.src.file, *where, format_path(top.path), "mapping keys must be text"))
                top.key = _SKIP
                return
            value = str(value)
        child = (*top.path, value)
        if value in top.value:
            self.src.problems.append(ConfigProblem(self.src.file, *where, format_path(child), f"duplicate key {value!r}"))
            top.key = _SKIP
            return
        top.key = value
        self.last_key_path = child
        self.record(child, where, key=True)

    def construct(self, event: Any, path: Path_ | None, where: tuple[int, int], *, cache: bool = False) -> Any:
        """The value of a scalar (None, reported, when its tag is unsupported or its text does
        not fit its tag); with `cache`, a plain scalar's value is remembered by its text."""
        tag = event.tag
        if tag is None or tag == "!":
            if not event.implicit[0]:
                return event.value  # quoted: text
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _STR:
            value: Any = event.value
        else:
            make = _CONSTRUCT.get(tag)
            if make is None or tag == _MERGE:
                self.unsupported_tag(tag, path, where)
                return None
            try:
                value = make(self.loader, yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style))
            except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
                if path is not None:
                    problem = getattr(exc, "problem", None) or str(exc)
                    self.src.problems.append(ConfigProblem(self.src.file, *where, format_path(path), f"YAML: {problem}"))
                return None
        if cache:
            self.plain[event.value] = value  # scalars are immutable: sharing them is safe
        return value

    def unsupported_tag(self, tag: str, path: Path_ | None, where: tuple[int, int]) -> None:
        if path is not None:
            self.src.problems.append(ConfigProblem(self.src.file, *where, format_path(path), f"YAML: unsupported tag {tag!r}"))

    def alias(self, event: Any) -> None:
        self.count(event)
        where = _mark(event)
        name = event.anchor
        if name in self.open_anchors:
            self.stop(event, "YAML syntax: this alias is used inside its own anchor (a recursive alias)")
        anchor = self.anchors.get(name)
        top = self.stack[-1] if self.stack else None
        is_key = top is not None and isinstance(top.value, dict) and top.key is _UNSET
        if anchor is None:
            path = self.child_path()
            if top is None or top.path is not None:
                shown = format_path(path if path is not None else self.where_now())
                self.src.problems.append(ConfigProblem(self.src.file, *where, shown,
                                                       f"YAML: unknown alias *{name} (define &{name} before using it)"))
            if is_key:
                assert top is not None
                top.key = _SKIP
            else:
                self.attach(None, path, where, 0, len(self.log))
            return
        if is_key:
            assert top is not None
            value = anchor.value
            if isinstance(value, bool | int | float) and value is not None:
                value = str(value)
            if isinstance(value, str) and top.path is not None and value not in top.value:
                top.key = value
                self.record((*top.path, value), where, key=True)
            else:
                self.attach(value, None, where, anchor.height, len(self.log))
            return
        self.expanded += anchor.nodes
        allowed = self.limits.alias_nodes + self.limits.alias_ratio * self.written
        if self.expanded > allowed:
            self.stop(event, f"aliases here expand to more than {allowed:,} values (a YAML 'billion laughs'?); "
                             f"the limit is {self.limits.alias_nodes:,} plus {self.limits.alias_ratio} per value written")
        if self.written + self.expanded > self.limits.nodes:
            self.stop(event, f"more than {self.limits.nodes:,} values in one file, the limit for a config file")
        if len(self.stack) + anchor.height > self.limits.depth:
            self.stop(event, f"nested more than {self.limits.depth} levels deep, the limit for a config file")
        path = self.child_path()
        log_start = len(self.log)
        if path is not None:
            self.record(path, where)
            start, end = anchor.log
            cut = len(anchor.origin)
            for old, pos, key in self.log[start:end]:
                if old[:cut] == anchor.origin and len(old) > cut:
                    self.record((*path, *old[cut:]), pos, key)
        self.attach(_copy(anchor.value), path, where, anchor.height, log_start)

    def merged(self, frame: _Frame) -> dict[str, Any]:
        """Apply `<<:` merges: keys written in the mapping win, then earlier merges win over
        later ones (YAML's merge-key rule). Each merged key takes the positions of its source."""
        assert frame.path is not None
        out: dict[str, Any] = {}
        winners: dict[str, Path_ | None] = {}
        for value, vpath, _start, _end in frame.merges:
            sources = ([(v, (*vpath, j) if vpath is not None else None) for j, v in enumerate(value)]
                       if isinstance(value, list) else [(value, vpath)])
            for source, spath in sources:
                if not isinstance(source, dict):
                    self.src.problems.append(self.src.problem(
                        (*frame.path, "<<"), "<< (merge) takes a mapping or a list of mappings, e.g. <<: *defaults"))
                    continue
                for k, v in source.items():
                    if k not in frame.value and k not in out:
                        out[k] = _copy(v)
                        winners[k] = spath
        for value, vpath, start, end in frame.merges:
            if vpath is None:
                continue
            cut = len(vpath) + (1 if isinstance(value, list) else 0)
            for old, pos, key in self.log[start:end]:
                if len(old) > cut and old[cut] in winners and winners[old[cut]] == old[:cut]:  # type: ignore[index]
                    self.record((*frame.path, *old[cut:]), pos, key)
        self.capturing -= len(frame.merges)
        out.update(frame.value)
        return out

def _mark(event: Any) -> tuple[int, int]:
    mark = event.start_mark
    return mark.line + 1, mark.column + 1


def _copy(value: Any) -> Any:
    """A copy of plain YAML data (an alias must not share the anchor's dicts: defaults are
    merged into each check in place). Depth is bounded by Limits.depth."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
