"""The config-load gate of the `sql` kind: only one read-only statement may run.

Why a gate as well as a read-only transaction: some engines have no read-only transactions,
and `WITH d AS (DELETE ...) SELECT` or `EXPLAIN ANALYZE DELETE` start like reads. So the
statement is tokenised (strings, quoted identifiers, dollar quotes and comments skipped),
must start with SELECT, WITH, SHOW or EXPLAIN, must be one statement, and must not contain a
writing keyword anywhere. This is a guard against mistakes, not a sandbox: give the monitor a
database user that can only read.
"""

from __future__ import annotations

import re

from monitor.core.addresses import host_problem

READ_STARTS = ("SELECT", "WITH", "SHOW", "EXPLAIN")
WRITE_WORDS = frozenset(
    ["INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "REPLACE", "DROP", "ALTER", "CREATE", "TRUNCATE", "GRANT", "REVOKE", "COPY", "CALL", "EXEC", "EXECUTE", "DO", "VACUUM", "ANALYSE", "REINDEX", "CLUSTER", "ATTACH", "DETACH", "PRAGMA", "INTO", "LOCK", "SET", "RESET", "COMMENT", "REFRESH", "LISTEN", "NOTIFY", "LOAD", "IMPORT"]
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def read_only_problem(sql: str) -> str | None:
    """Why `sql` is not a single read-only statement, or None if it is."""
    words, statements = _scan(sql)
    if isinstance(words, str):
        return words
    if not words:
        return "the query is empty"
    first = words[0][0].upper()
    if first not in READ_STARTS:
        return f"must start with {', '.join(READ_STARTS)}; found {words[0][0]!r} at character {words[0][1] + 1}"
    if statements > 1:
        return "only one statement may run (remove what follows the ';')"
    for word, pos in words:
        upper = word.upper()
        if upper in WRITE_WORDS and not (upper == "ANALYSE" and first == "EXPLAIN"):
            return f"{word!r} at character {pos + 1} is not allowed in a read-only check query"
    return None


def _scan(sql: str) -> tuple[list[tuple[str, int]] | str, int]:
    """Words outside literals and comments, and the number of statements."""
    words: list[tuple[str, int]] = []
    statements, content, i, n = 0, False, 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j == -1 else j + 1
            continue
        if sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            if j == -1:
                return "a /* comment is never closed", 0
            i = j + 2
            continue
        if c in "'\"`":
            j = i + 1
            while True:
                j = sql.find(c, j)
                if j == -1:
                    return f"a {c} quote at character {i + 1} is never closed", 0
                if sql.startswith(c * 2, j):  # '' inside a string
                    j += 2
                    continue
                break
            content, i = True, j + 1
            continue
        if c == "$":
            m = _DOLLAR.match(sql, i)
            if m:
                j = sql.find(m.group(), m.end())
                if j == -1:
                    return f"a {m.group()} quote at character {i + 1} is never closed", 0
                content, i = True, j + len(m.group())
                continue
        if c == ";":
            if content:
                statements += 1
            content = False
            i += 1
            continue
        m = _WORD.match(sql, i)
        if m:
            words.append((m.group(), i))
            content, i = True, m.end()
            continue
        if not c.isspace():
            content = True
        i += 1
    if content:
        statements += 1
    return words, statements


# SQLAlchemy's own URL pattern (sqlalchemy.engine.url._parse_url), and the dialects it always
# has: such a URL is judged here without importing SQLAlchemy (a third of a config load's
# time); any other is asked of SQLAlchemy itself (tests/config holds the two to the same answers).
_URL = re.compile(
    r"""
    (?P<name>[\w+]+)://
    (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?:(?:\[(?P<ipv6host>[^/?]+)\]|(?P<ipv4host>[^/:?]+))?(?::(?P<port>[^/?]*))?)?
    (?:/(?P<database>[^?]*))?
    (?:\?(?P<query>.*))?
    """,
    re.X,
)
BUILT_IN = frozenset({"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"})


def known_url(value: str) -> tuple[str, str | None, int | None] | None:
    """(backend, host, port) of a URL of a built-in dialect that parses; None for any other
    (SQLAlchemy decides those)."""
    m = _URL.match(value)
    port = m["port"] if m is not None else None
    if m is None or m["name"] not in BUILT_IN or (port is not None and not (port.isascii() and port.isdigit())):
        return None
    return m["name"].split("+")[0], m["ipv4host"] or m["ipv6host"], int(port) if port is not None else None


def url_problem(value: str) -> str | None:
    """Why `value` is not a database URL a run could connect with, or None: it must parse,
    name a database SQLAlchemy knows, and have a well-formed host and port when it has them."""
    known = known_url(value)
    if known is not None:
        _, host, port = known
    else:
        import sqlalchemy as sa  # lazy: CLI start time (only for a dialect not built in)

        try:
            url = sa.engine.make_url(value)
            url.get_dialect()
        except sa.exc.NoSuchModuleError:
            return f"unknown database {value.split(':', 1)[0]!r} (like postgresql://user@host/db or sqlite:///path)"
        except (sa.exc.ArgumentError, ValueError):
            return "not a database URL (like postgresql://user@host/db or sqlite:///path)"
        host, port = url.host, url.port
    if port is not None and not 0 < port < 65536:
        return f"port {port} is out of range (1-65535)"
    if host:
        return host_problem(host)
    return None
