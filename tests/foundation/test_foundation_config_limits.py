"""Reading a config is bounded, and what cannot be read is said in words at its place.

Each limit of monitor/config/limits.py, crossed, is one located problem and stops the read
early: the memory a hostile file costs is measured with tracemalloc (deterministic, unlike a
clock). Whole-file problems (empty, not UTF-8, a NUL byte) are at line 1 column 1 or where
they are. YAML syntax errors are in words, at the line to fix, and `validate` shows that line
with a caret under the column.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.config import Limits, load_config
from monitor.config.syntax import excerpt
from monitor.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 9)}]\n" for i in range(9))


def problems(path: Path, *, text: str | None = None, env: dict[str, str] | None = None, limits: Limits | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        if limits is None:
            load_config(path, text=text, env=env or {})
        else:
            load_config(path, text=text, env=env or {}, limits=limits)
    return [str(p).replace(str(path), "F") for p in info.value.problems]


def peak_mib(fn: Callable[[], object]) -> float:
    """Peak memory Python allocated while `fn` ran (a ConfigError is the expected end)."""
    tracemalloc.start()
    with contextlib.suppress(ConfigError):
        fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / (1024 * 1024)


# --- the limits --------------------------------------------------------------------------


def test_a_billion_laughs_stops_at_the_alias_limit_in_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(LAUGHS, encoding="utf-8")
    assert len(LAUGHS) < 1100
    assert problems(path) == [
        "F:6:10: l5[0]: aliases here expand to more than 100,590 values (a YAML 'billion laughs'?); "
        "the limit is 100,000 plus 10 per value written"
    ]
    assert peak_mib(lambda: load_config(path)) < 64


def test_dev_zero_as_a_secret_file_is_read_only_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("monitor:\n  name: ${file:/dev/zero}\n", encoding="utf-8")
    assert problems(path) == ["F:2:9: monitor.name: cannot read secret file '/dev/zero': larger than 64 KiB, the limit for a ${file:} secret"]
    assert peak_mib(lambda: load_config(path)) < 8


def test_a_fifo_without_a_writer_does_not_hang_the_read(tmp_path: Path) -> None:
    fifo = tmp_path / "secret.fifo"
    os.mkfifo(fifo)
    path = tmp_path / "c.yaml"
    path.write_text("monitor:\n  name: pre-${file:secret.fifo}\n", encoding="utf-8")
    assert load_config(path).monitor.name == "pre-"


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("monitor:\n  name: " + "x" * 2000 + "\n", encoding="utf-8")
    assert problems(path, limits=Limits(file_bytes=1024)) == ["F:1:1: the file is larger than 1 KiB, the limit for a config file"]


def test_nesting_deeper_than_the_limit_is_located_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: " + "[" * 100 + "]" * 100 + "\n", encoding="utf-8")
    assert problems(path) == [
        "F:1:67: a[0][0][0][0][0][0][0]... (56 levels more): nested more than 64 levels deep, the limit for a config file"
    ]
    block = "".join(f"{'  ' * i}k{i}:\n" for i in range(80)) + f"{'  ' * 80}x: 1\n"
    path.write_text(block, encoding="utf-8")
    assert problems(path) == [
        "F:65:129: k0.k1.k2.k3.k4.k5.k6.k7... (56 levels more): nested more than 64 levels deep, the limit for a config file"
    ]
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")  # libyaml's own limit comes first
    assert problems(path) == ["F:1:1003: a: YAML syntax: nested too deeply (more than 1000 levels of [ or {); a config needs a few"]


def test_more_values_than_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("checks: [" + ", ".join(["1"] * 300) + "]\n", encoding="utf-8")
    assert problems(path, limits=Limits(nodes=100)) == ["F:1:301: checks[97]: more than 100 values in one file, the limit for a config file"]


def test_expansions_over_the_limit_are_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("monitor:\n  name: ${BIG}${BIG}${BIG}\n  location: ${BIG}\n", encoding="utf-8")
    found = problems(path, env={"BIG": "x" * 40}, limits=Limits(expanded_bytes=100))
    assert found == ["F:2:9: monitor.name: ${...} references add more than 100 bytes of text in all, the limit for a config file"]


def test_aliases_within_the_limit_are_copies_and_errors_point_at_the_anchor(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "x-tcp: &tcp {kind: tcp, host: h, port: 0}\n"
        "checks:\n  - {<<: *tcp, name: a}\n  - {<<: *tcp, name: b, port: 2}\n",
        encoding="utf-8",
    )
    assert problems(path) == [
        "F:1:1: x-tcp: unknown key 'x-tcp'",
        "F:1:40: checks[0].port: must be at least 1, got 0",
    ]


# --- whole-file problems are located ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "F:1:1: the file is empty; expected sections like monitor:, components:, checks:"),
        (b"~\n", "F:1:1: the file must be a mapping of sections (monitor:, checks:, ...)"),
        (b"monitor:\n  name: caf\xe9\n", "F:2:12: not UTF-8 text (byte 0xe9); save the file as UTF-8"),
        (b"monitor:\n  name: a\x00b\n", "F:2:10: a NUL byte; a config file is text (is this a binary file?)"),
        (b"monitor:\n  name: \x07\n", "F:2:9: the control character U+0007; a config file is text (is this a binary file?)"),
        (b"\xef\xbb\xbfmonitor: {name: x}\n", None),  # a UTF-8 BOM is fine
    ],
    ids=["empty", "null", "latin1", "nul", "bell", "bom"],
)
def test_whole_file_problems_have_a_position(tmp_path: Path, content: bytes, expected: str | None) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    if expected is None:
        assert load_config(path).monitor.name == "x"
    else:
        assert problems(path) == [expected]


# --- YAML syntax in words -------------------------------------------------------------------------

SYNTAX = [
    ("deeper", "checks:\n  - name: a\n    kind: tcp\n     host: h\n",
     "F:4:6: checks[0]: YAML syntax: indentation: this line is indented deeper than the key above it (kind: on line 3) "
     "expects; keys of one mapping start in the same column, and only a key ending in ':' opens a deeper level",
     "  4 |      host: h\n    |      ^"),
    ("between_levels", "monitor:\n  name: x\n language: en\n",
     "F:3:2: monitor: YAML syntax: indentation: this line starts in column 2, which lines up with no key above it; "
     "move it to column 1 or column 3", "  3 |  language: en\n    |  ^"),
    ("list_item_misaligned", "checks:\n  - name: a\n   - name: b\n",
     "F:3:4: checks: YAML syntax: indentation: this list item starts in column 4, the items above it (line 2) in column 3; line them up",
     "  3 |    - name: b\n    |    ^"),
    ("key_in_a_list", "checks:\n  - a\n  b: 1\n",
     "F:3:3: checks: YAML syntax: a key: value where the list that starts at line 2 expects another '- ' item; "
     "a list and a mapping cannot share one indentation level", "  3 |   b: 1\n    |   ^"),
    ("unclosed_bracket", "checks: [\n", "F:1:9: checks: YAML syntax: the [ that starts here is never closed with ]",
     "  1 | checks: [\n    |         ^"),
    ("unclosed_quote", "monitor:\n  name: \"abc\n", "F:2:9: monitor.name: YAML syntax: the quote \" that starts here is never closed",
     "  2 |   name: \"abc\n    |         ^"),
    ("second_colon", "monitor:\n  name: a: b\n",
     "F:2:10: monitor: YAML syntax: a second ': ' in the value of name:; put the value in quotes (name: \"a: b\")",
     "  2 |   name: a: b\n    |          ^"),
    ("missing_colon", "monitor:\n  name x\n  language: en\n",
     "F:2:3: monitor: YAML syntax: this line has no ':', so YAML reads it as text running on into the next line; write key: value",
     "  2 |   name x\n    |   ^"),
    ("dash_without_space", "checks:\n  -name: a\n  - name: b\n",
     "F:2:3: checks: YAML syntax: a '-' needs a space after it to start a list item ('- name: ...')", "  2 |   -name: a\n    |   ^"),
    ("tab", "monitor:\n\tname: x\n", "F:2:1: monitor: YAML syntax: a tab character; indent YAML with spaces", "  2 |  name: x\n    | ^"),
    ("reserved_character", "monitor:\n  name: @x\n", "F:2:9: monitor.name: YAML syntax: '@' cannot start a value in YAML; put the value in quotes",
     "  2 |   name: @x\n    |         ^"),
    ("wide_characters", "monitor:\n  name: 登录: x\n",
     "F:2:11: monitor: YAML syntax: a second ': ' in the value of name:; put the value in quotes (name: \"登录: x\")",
     "  2 |   name: 登录: x\n    |             ^"),
]


@pytest.mark.parametrize(("text", "line", "shown"), [pytest.param(t, e, c, id=n) for n, t, e, c in SYNTAX])
def test_a_yaml_syntax_error_is_said_in_words_with_its_line(tmp_path: Path, text: str, line: str, shown: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [problem] = info.value.problems
    assert str(problem).replace(str(path), "F") == line
    assert excerpt(problem) == shown


def test_validate_prints_the_line_and_caret_under_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("checks:\n  - name: a\n    kind: tcp\n     host: h\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("INVOICEWATCH_CONFIG", None)
    proc = subprocess.run([sys.executable, "-m", "monitor", "validate", str(path)], capture_output=True, text=True,
                          timeout=60, env=env, cwd=ROOT)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"{path}:4:6: checks[0]: YAML syntax: indentation: this line is indented deeper than the key above it "
        "(kind: on line 3) expects; keys of one mapping start in the same column, and only a key ending in ':' opens a deeper level",
        "  4 |      host: h",
        "    |      ^",
    ]
