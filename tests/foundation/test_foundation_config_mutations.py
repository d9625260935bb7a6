"""config.example.yaml, mutated by hypothesis: every mutation loads, or fails with located problems.

The contract under test: whatever an admin (or a bad merge, or a truncated copy) does to a
valid config, `load_config` either returns a Config or raises ConfigError, and every problem
in it has the file, a line and a column inside the file, and a key path (empty only for a
problem of the whole file, of its YAML syntax, or of a top-level key that is not text). Never another exception: no TypeError from
an unhashable id, no RecursionError, no KeyError from a cross-check.

Mutations (one to three per example): wrong types, missing keys, unknown keys, bad durations,
conditions, JSONPath, kinds, platform/user/operation names, dependency cycles, cron, Apprise
URLs, addresses and ports, and edits of the YAML text itself (a character inserted, a line
dropped or indented). 250 examples a run, a few seconds.
"""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks import KINDS
from monitor.config import load_config
from monitor.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_TEXT = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
EXAMPLE: dict[str, Any] = yaml.safe_load(EXAMPLE_TEXT)
FILE = str(ROOT / "mutated.yaml")  # never written: load_config gets the text

Path_ = tuple[str | int, ...]


def walk(data: Any, path: Path_ = ()) -> list[tuple[Path_, Any]]:
    """Every (path, value) in the data, containers included."""
    out = [(path, data)]
    if isinstance(data, dict):
        for k, v in data.items():
            out.extend(walk(v, (*path, k)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.extend(walk(v, (*path, i)))
    return out


NODES = walk(EXAMPLE)
LEAVES = [p for p, v in NODES if p and not isinstance(v, dict | list)]
MAPPINGS = [p for p, v in NODES if isinstance(v, dict)]
KEYED = [p for p in (p for p, _ in NODES) if p and isinstance(p[-1], str)]
DURATION_KEYS = {"interval", "timeout", "retry_interval", "window", "delay", "next_update", "poll_every",
                 "deadline", "slow", "within", "duration", "refresh", "debounce", "group_window", "after",
                 "repeat_interval", "resolve_after", "write_interval", "result_retention", "token_lifetime"}
DURATIONS = [p for p in LEAVES if p[-1] in DURATION_KEYS]
CONDITIONS = [p for p in LEAVES if len(p) >= 2 and p[-2] == "conditions"]
VALUES = dict(NODES)
JSONPATHS = [p for p in LEAVES if isinstance(VALUES[p], str) and str(VALUES[p]).startswith("$")]
CHECKS = len(EXAMPLE["checks"])

ODD_VALUES = st.sampled_from([None, 0, -1, 1.5, 10**30, True, "", " ", "x", "日本語", [], {}, [1, [2]], {"a": {"b": 1}},
                              [{"id": {"a": 1}}], "${NOT_SET}", "$$", "${", "${file:/dev/null}", "\t", "0" * 300])
BAD_DURATIONS = st.sampled_from(["5 minutes", "-5s", "0s", "1h30", "99999999999d", ".inf", "1e309s", "s", "5 m", "1.5.5s",
                                 "30", 0, -1, 1e308, "nan", "10ms10ms", "PT5M"])
CONDITION_PIECES = st.sampled_from(["[STATUS]", "[BODY]", "[ROW]", "[VAR].x", "[HEADER].x", "len(", "has(", "any(", "pat(",
                                    ")", "(", "[", "]", "==", "===", "!=", "!==", "<", "<=", ">", "=>", "=<", "=", "!", "'",
                                    '"', " ", "200", "5s", "-1", ".", "a.b", ",", "\\", "[CERTIFICATE_EXPIRATION]"])
JSONPATH_PIECES = st.sampled_from(["$", ".", "..", "[", "]", "*", "?(", ")", "@", "'", "x", "[0]", "[-1]", "[?(@.a==1)]", "(",
                                   "$.a[", "$..", "`", "|", "&"])
KIND_NAMES = st.sampled_from([*KINDS, "htp", "HTTP", "", "tcp ", "flows", None, 1])
CRONS = st.sampled_from(["*/5 * * * *", "*/5 * * *", "61 * * * *", "* * * * * *", "@hourly", "0 0 31 2 *", "a b c d e",
                         "*/0 * * * *", "1-0 * * * *", "", "0 25 * * *", "* * * * 8"])
APPRISE = st.sampled_from(["json://127.0.0.1:99999/x", "json://h:0/x", "json://", "nosuch://x", "mailto://", "json:/x",
                           "javascript:alert(1)", "json://127.0.0.1:8900/_admin/inbox/oncall", "wecombot://", "dingtalk://x/",
                           "json://[::1/x", "json://h:abc/x", ["json://h/x", 1]])
NAMES = st.sampled_from(["nosuch", "sim", "sales", "list_invoices", "issue", "void", "", "SIM", "登录"])
ADDRESSES = st.sampled_from(["999.1.1.1", "127.0.0.1", "::1", "[::1]", "not a host!", "", "0.0.0.0", "localhost", "a" * 300,
                             "http://h:99999/", "http://", "https://example.com/", "javascript:alert(1)", "ftp://x/"])
PORTS = st.sampled_from([0, -1, 65535, 65536, 99999, "80", "x", 1.5, None])


def text_of(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=200)


def set_at(data: Any, path: Path_, value: Any) -> None:
    cur = data
    for part in path[:-1]:
        cur = cur[part]
    cur[path[-1]] = value


def get_at(data: Any, path: Path_) -> Any:
    cur = data
    for part in path:
        cur = cur[part]
    return cur


@st.composite
def data_mutation(draw: st.DrawFn, data: dict[str, Any]) -> None:
    """Change `data` in place in one way an admin might."""
    what = draw(st.sampled_from(["type", "missing", "unknown", "duration", "condition", "jsonpath", "kind",
                                 "reference", "cycle", "cron", "apprise", "address", "port"]))
    if what == "type":
        set_at(data, draw(st.sampled_from(LEAVES + MAPPINGS[1:])), draw(ODD_VALUES))
    elif what == "missing":
        path = draw(st.sampled_from(KEYED))
        parent = get_at(data, path[:-1])
        parent.pop(path[-1], None)
    elif what == "unknown":
        mapping = get_at(data, draw(st.sampled_from(MAPPINGS)))
        mapping[draw(st.sampled_from(["intervl", "kind2", "<<", "1", "name ", "timout", "x" * 80]))] = draw(ODD_VALUES)
    elif what == "duration":
        set_at(data, draw(st.sampled_from(DURATIONS)), draw(BAD_DURATIONS | st.text(max_size=12)))
    elif what == "condition":
        text = "".join(draw(st.lists(CONDITION_PIECES, min_size=0, max_size=8)))
        set_at(data, draw(st.sampled_from(CONDITIONS)), text)
    elif what == "jsonpath":
        text = "".join(draw(st.lists(JSONPATH_PIECES, min_size=0, max_size=6)))
        set_at(data, draw(st.sampled_from(JSONPATHS)), text)
    elif what == "kind":
        data["checks"][draw(st.integers(0, CHECKS - 1))]["kind"] = draw(KIND_NAMES)
    elif what == "reference":
        check = data["checks"][draw(st.integers(0, CHECKS - 1))]
        check[draw(st.sampled_from(["platform", "user", "operation", "component"]))] = draw(NAMES)
    elif what == "cycle":
        names = [c.get("name") for c in data["checks"]]
        order = draw(st.permutations(range(CHECKS)))[: draw(st.integers(1, 4))]
        for a, b in zip(order, [*order[1:], order[0]], strict=True):
            data["checks"][a]["depends_on"] = [names[b]]
    elif what == "cron":
        check = data["checks"][draw(st.integers(0, CHECKS - 1))]
        check["cron"] = draw(CRONS)
        if draw(st.booleans()):
            data["maintenance"][0]["cron"] = draw(CRONS)
    elif what == "apprise":
        data["channels"][draw(st.integers(0, len(data["channels"]) - 1))]["urls"] = draw(APPRISE)
    elif what == "address":
        where = draw(st.sampled_from([("status_page", "listen"), ("simulator", "listen"), ("status_page", "public_url"),
                                      ("notifications", "status_page_url"), ("platforms", "sim", "base_url"),
                                      ("checks", 0, "host"), ("checks", 1, "url"), ("checks", 0, "runbook")]))
        set_at(data, where, draw(ADDRESSES))
    else:
        where = draw(st.sampled_from([("status_page", "port"), ("simulator", "port"), ("checks", 0, "port"), ("checks", 4, "port")]))
        set_at(data, where, draw(PORTS))


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    data = copy.deepcopy(EXAMPLE)
    for _ in range(draw(st.integers(1, 3))):
        # An earlier mutation may have removed or replaced what this one would change.
        with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
            draw(data_mutation(data))
    text = text_of(data)
    if draw(st.integers(0, 3)) == 0:  # and now and then an edit of the text itself
        lines = text.split("\n")
        i = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["insert", "drop", "indent", "dedent", "tab"]))
        if edit == "insert":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.sampled_from([":", "- ", "[", "{", "'", '"', "&a ", "*a", "!x ", "#", "\x00", "|"])) + lines[i][at:]
        elif edit == "drop":
            del lines[i]
        elif edit == "indent":
            lines[i] = " " * draw(st.integers(1, 3)) + lines[i]
        elif edit == "dedent":
            lines[i] = lines[i][1:]
        else:
            lines[i] = "\t" + lines[i]
        text = "\n".join(lines)
    return text


def assert_located(text: str, exc: ConfigError) -> None:
    assert exc.problems, "a ConfigError must say what is wrong"
    lines = text.count("\n") + 1
    for p in exc.problems:
        shown = str(p)
        assert p.file == FILE, shown
        assert isinstance(p.line, int) and 1 <= p.line <= lines + 1, shown
        assert isinstance(p.column, int) and p.column >= 1, shown
        assert isinstance(p.path, str), shown
        # Only a problem of the whole file, of YAML itself or of a top-level key has no key path.
        whole_file = p.message.startswith(("YAML", "the file", "a NUL byte", "the control character", "not UTF-8",
                                           "mapping keys must be text"))
        assert p.path or whole_file, f"no key path: {shown}"
        assert p.message and "\n" not in p.message, shown


@settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_text())
def test_every_mutation_loads_or_fails_with_located_problems(text: str) -> None:
    try:
        load_config(FILE, text=text, env={})
    except ConfigError as exc:
        assert_located(text, exc)


def test_the_mutation_families_find_real_errors() -> None:
    """The strategy is not vacuous: each family, applied once by hand, is reported."""
    cases: list[tuple[Path_, Any, str]] = [
        (("checks", 1, "interval"), "5 minutes", "checks[1].interval"),
        (("checks", 1, "conditions", 0), "[STATUS] === 200", "checks[1].conditions[0]"),
        (("checks", 0, "kind"), "htp", "checks[0].kind"),
        (("channels", 0, "urls"), "json://127.0.0.1:99999/x", "channels[0].urls[0]"),
        (("checks", 5, "platform"), "nosuch", "checks[5].platform"),
        (("components", 0, "id"), {"a": 1}, "components[0].id"),
        (("status_page", "listen"), "999.1.1.1", "status_page.listen"),
        (("notifications", "status_page_url"), "javascript:alert(1)", "notifications.status_page_url"),
        (("checks", 1, "cron"), "*/5 * * *", "checks[1].cron"),
    ]
    for path, value, key in cases:
        data = copy.deepcopy(EXAMPLE)
        set_at(data, path, value)
        text = text_of(data)
        try:
            load_config(FILE, text=text, env={})
        except ConfigError as exc:
            assert_located(text, exc)
            assert any(p.path == key for p in exc.problems), (key, [str(p) for p in exc.problems])
        else:
            raise AssertionError(f"{key} = {value!r} was accepted")
