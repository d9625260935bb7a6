"""Reading files a config names, in bounded bytes: the config itself and `${file:PATH}` secrets.

Why not `Path.read_text`: it reads a file whole, so `/dev/zero` or a multi-gigabyte log named
by mistake fills memory before anything can complain. We read at most `limit + 1` bytes (the
extra byte tells "too large" from "exactly the limit"), open with O_NONBLOCK so a FIFO without
a writer cannot hang a reload, and say where in the text a decoding problem sits.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

# What YAML 1.1 (and PyYAML's reader) accepts: tab, LF, CR, printable ASCII, NEL and the
# printable rest of Unicode. Anything else (NUL, other C0/C1 controls, U+FFFE/FFFF) is not text.
_NOT_TEXT = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class TooLarge(Exception):
    """The file holds more than the limit; `args[0]` is the limit."""


@dataclass(frozen=True)
class BadText:
    """Where text stops being text: 1-based line and column, and what was found."""

    line: int
    column: int
    message: str


def read_bounded(path: str | Path, limit: int) -> bytes:
    """At most `limit` bytes of a file; TooLarge when there are more. OSError as raised."""
    fd = os.open(os.fspath(path), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            try:
                chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            except BlockingIOError:
                break  # a FIFO or device with nothing to read now: take what we have
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:
            raise TooLarge(limit)
        return b"".join(chunks)
    finally:
        os.close(fd)


def decode(data: bytes) -> str | BadText:
    """UTF-8 text (a leading BOM dropped), or where it is not."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")) + 1
        return BadText(line, column, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8")
    return text[1:] if text.startswith("\ufeff") else text


def find_non_text(text: str) -> BadText | None:
    """The first character YAML does not allow (a NUL byte, a control character), located."""
    m = _NOT_TEXT.search(text)
    if m is None:
        return None
    line, column = position(text, m.start())
    ch = m.group()
    what = "a NUL byte" if ch == "\0" else f"the control character U+{ord(ch):04X}"
    return BadText(line, column, f"{what}; a config file is text (is this a binary file?)")


def position(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of a character index."""
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1
