"""Every malformed config gives the exact one-line error `FILE:LINE:COL: key.path: message`.

One table, one contract: each case is a file's text and every line `load_config` must report
for it (F stands for the file's path). A few cases run the real `invoicewatch validate`
process, which must print every problem, exit 1 and never show a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from checks import KINDS
from monitor.config import load_config
from monitor.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
KNOWN = ", ".join(sorted(KINDS))
ENV = {"TOKEN": "s3cr3t-token", "HOST": "127.0.0.1"}

TCP = "    kind: tcp\n    host: h\n    port: 1\n"


def check(name: str, extra: str = "") -> str:
    return f"  - name: {name}\n{TCP}{extra}"


CASES: list[tuple[str, str, list[str]]] = [
    # --- YAML itself -------------------------------------------------------------------------
    ("yaml_syntax", "monitor:\n  name: [x\n",
     ["F:2:9: monitor.name: YAML syntax: the [ that starts here is never closed with ] (or a ',' is missing between two items)"]),
    ("tab_indent", "monitor:\n\tname: x\n", ["F:2:1: monitor: YAML syntax: a tab character; indent YAML with spaces"]),
    ("duplicate_yaml_key", "monitor:\n  name: x\n  name: y\n", ["F:3:3: monitor.name: duplicate key 'name'"]),
    ("two_documents", "monitor: {}\n---\nchecks: []\n",
     ["F:2:1: YAML syntax: a second document (after ---); a config file is one document"]),
    ("recursive_alias", "monitor: &x\n  name: *x\n",
     ["F:2:9: monitor.name: YAML syntax: this alias is used inside its own anchor (a recursive alias)"]),
    ("unknown_tag", "monitor:\n  name: !custom x\n", ["F:2:9: monitor.name: YAML: unsupported tag '!custom'"]),
    ("null_key", "monitor:\n  ~: x\n", ["F:2:3: monitor: mapping keys must be text"]),
    ("empty_file", "", ["F:1:1: the file is empty; expected sections like monitor:, components:, checks:"]),
    ("only_comments", "# nothing yet\n", ["F:1:1: the file is empty; expected sections like monitor:, components:, checks:"]),
    ("top_level_list", "- monitor\n- checks\n", ["F:1:1: the file must be a mapping of sections (monitor:, checks:, ...)"]),
    # --- unknown keys --------------------------------------------------------------------------
    ("unknown_section_did_you_mean", "chekcs: []\n", ["F:1:1: chekcs: unknown key 'chekcs' (did you mean 'checks'?)"]),
    ("unknown_section_no_guess", "bogus: 1\n", ["F:1:1: bogus: unknown key 'bogus'"]),
    ("unknown_monitor_key", "monitor:\n  languge: en\n", ["F:2:3: monitor.languge: unknown key 'languge' (did you mean 'language'?)"]),
    ("unknown_check_key", "checks:\n" + check("a", "    intervl: 5s\n"),
     ["F:6:5: checks[0].intervl: unknown key 'intervl' (did you mean 'interval'?)"]),
    ("unknown_defaults_key_once", "defaults:\n  intervl: 5s\nchecks:\n" + check("a") + check("b"),
     ["F:2:3: defaults.intervl: unknown key 'intervl' (did you mean 'interval'?)"]),
    # --- kinds and names -------------------------------------------------------------------------
    ("unknown_kind_did_you_mean", "checks:\n  - name: a\n    kind: tpc\n",
     ["F:3:11: checks[0].kind: unknown check kind 'tpc' (did you mean 'tcp'?)"]),
    ("unknown_kind_no_guess", "checks:\n  - name: a\n    kind: zzzzzz\n",
     [f"F:3:11: checks[0].kind: unknown check kind 'zzzzzz'; known kinds: {KNOWN}"]),
    ("kind_not_text", "checks:\n  - name: a\n    kind: [tcp]\n",
     ["F:3:11: checks[0].kind: must be the name of a check kind, got a list"]),
    ("missing_kind", "checks:\n  - name: a\n    host: h\n",
     [f"F:2:5: checks[0].kind: required key is missing; a check needs kind: one of {KNOWN}"]),
    ("missing_name", "checks:\n  - kind: tcp\n    host: h\n    port: 1\n", ["F:2:5: checks[0].name: required key is missing"]),
    ("empty_name", "checks:\n  - name: ''\n" + TCP, ["F:2:11: checks[0].name: must not be empty"]),
    ("duplicate_check_names", "checks:\n" + check("a") + check("a"),
     ["F:6:11: checks[1].name: duplicate check name 'a' (first at line 2)"]),
    ("check_not_mapping", "checks:\n  - tcp\n", ["F:2:5: checks[0]: expected a mapping (key: value), got text 'tcp'"]),
    # --- components ----------------------------------------------------------------------------------
    ("unknown_component_hint", "components:\n  - {id: login, name: 登录}\nchecks:\n" + check("a", "    component: logn\n"),
     ["F:8:16: checks[0].component: unknown component 'logn' (did you mean 'login'?)"]),
    ("unknown_component_no_hint", "checks:\n" + check("a", "    component: zzz\n"),
     ["F:6:16: checks[0].component: unknown component 'zzz' (declare it under components:)"]),
    ("bad_component_id", "components:\n  - id: Bad Id\n    name: x\n",
     ["F:2:9: components[0].id: 'Bad Id' does not match the pattern ^[a-z0-9][a-z0-9_-]*$"]),
    ("duplicate_component_id", "components:\n  - {id: a, name: x}\n  - {id: a, name: y}\n",
     ["F:3:10: components[1].id: duplicate component id 'a'"]),
    ("component_name_wrong_type", "components:\n  - id: a\n    name: [x]\n",
     ["F:3:11: components[0].name: expected text or a mapping with keys zh-CN, en, got a list"]),
    ("component_name_unknown_language", "components:\n  - id: a\n    name: {fr: x}\n",
     ["F:3:12: components[0].name.fr: 'fr' is not allowed; expected 'zh-CN' or 'en'"]),
    # --- durations, intervals, cron -----------------------------------------------------------------
    ("duration_in_words", "checks:\n" + check("a", "    interval: 5 minutes\n"),
     ["F:6:15: checks[0].interval: '5 minutes' is not a duration; write it like 30s, 5m, 1h30m or 250ms"]),
    ("duration_without_unit", "checks:\n" + check("a", "    interval: 1h30\n"),
     ["F:6:15: checks[0].interval: '1h30' is not a duration; write it like 30s, 5m, 1h30m or 250ms"]),
    ("duration_bool", "checks:\n" + check("a", "    timeout: true\n"),
     ["F:6:14: checks[0].timeout: expected a duration like 30s, 5m or 1h30m"]),
    ("duration_too_long", "checks:\n" + check("a", "    interval: 99999999999d\n"),
     ["F:6:15: checks[0].interval: too long a duration (the limit is about 2.7 million years)"]),
    ("duration_infinite", "checks:\n" + check("a", "    interval: .inf\n"),
     ["F:6:15: checks[0].interval: expected a duration like 30s, 5m or 1h30m"]),
    ("negative_interval_text", "checks:\n" + check("a", "    interval: -5s\n"),
     ["F:6:15: checks[0].interval: a duration cannot be negative"]),
    ("negative_interval_number", "checks:\n" + check("a", "    interval: -5\n"),
     ["F:6:15: checks[0].interval: a duration cannot be negative"]),
    ("zero_interval", "checks:\n" + check("a", "    interval: 0s\n"), ["F:6:15: checks[0].interval: must be longer than zero"]),
    ("timeout_over_interval", "checks:\n" + check("a", "    interval: 10s\n    timeout: 20s\n"),
     ["F:7:14: checks[0].timeout: timeout (20s) must not exceed interval (10s)"]),
    ("bad_cron", "checks:\n" + check("a", "    cron: '*/5 * * *'\n"),
     ["F:6:11: checks[0].cron: not a crontab expression: expected 5 fields (minute hour day month weekday), got 4"]),
    ("zero_write_interval", "monitor:\n  write_interval: 0s\n", ["F:2:19: monitor.write_interval: must be longer than zero"]),
    ("latency_degraded_not_below_down", "checks:\n" + check("a", "    latency: {degraded: 5s, down: 5s}\n"),
     ["F:6:14: checks[0].latency: degraded must be lower than down"]),
    # --- monitor section ---------------------------------------------------------------------------
    ("unknown_timezone", "monitor:\n  timezone: Mars/Olympus\n",
     ["F:2:13: monitor.timezone: unknown time zone 'Mars/Olympus' (use an IANA name like Asia/Shanghai)"]),
    ("bad_language", "monitor:\n  language: fr\n", ["F:2:13: monitor.language: 'fr' is not allowed; expected 'zh-CN' or 'en'"]),
    ("unsupported_database", "monitor:\n  database: mysql://db/x\n",
     ["F:2:13: monitor.database: unsupported database 'mysql'; use sqlite or postgresql"]),
    ("probe_cap_zero", "monitor:\n  max_concurrent_probes: 0\n", ["F:2:26: monitor.max_concurrent_probes: must be at least 1, got 0"]),
    # --- ${...} expansion ----------------------------------------------------------------------------
    ("missing_env", "checks:\n  - name: a\n    kind: tcp\n    host: ${NO_SUCH_HOST}\n    port: 1\n",
     ["F:4:11: checks[0].host: environment variable NO_SUCH_HOST is not set"]),
    ("unreadable_secret_file", "monitor:\n  name: ${file:secrets}\n",
     ["F:2:9: monitor.name: cannot read secret file 'secrets': Is a directory"]),
    ("missing_secret_file", "monitor:\n  name: ${file:nope.txt}\n",
     ["F:2:9: monitor.name: cannot read secret file 'nope.txt': No such file or directory"]),
    ("bad_reference", "monitor:\n  name: x${1abc}\n", ["F:2:9: monitor.name: ${1abc} is not a variable name (write $$ for a literal $)"]),
    ("unclosed_reference", "monitor:\n  name: pre-${TOKEN\n", ["F:2:9: monitor.name: ${ is never closed with } (write $$ for a literal $)"]),
    # --- types -----------------------------------------------------------------------------------------
    ("port_not_number", "checks:\n  - name: a\n    kind: tcp\n    host: h\n    port: abc\n",
     ["F:5:11: checks[0].port: expected a whole number, got 'abc'"]),
    ("port_out_of_range", "checks:\n  - name: a\n    kind: tcp\n    host: h\n    port: 70000\n",
     ["F:5:11: checks[0].port: must be at most 65535, got 70000"]),
    ("bool_not_bool", "checks:\n" + check("a", "    enabled: maybe\n"), ["F:6:14: checks[0].enabled: expected true or false, got 'maybe'"]),
    ("list_where_mapping_expected", "monitor: [a, b]\n", ["F:1:10: monitor: expected a mapping (key: value), got a list"]),
    ("mapping_where_list_expected", "checks: {a: 1}\n", ["F:1:9: checks: expected a list, got a mapping"]),
    ("depends_on_not_list", "checks:\n" + check("a", "    depends_on: b\n"), ["F:6:17: checks[0].depends_on: expected a list, got text 'b'"]),
    # --- dependencies ------------------------------------------------------------------------------------
    ("depends_on_unknown", "checks:\n" + check("login") + check("query", "    depends_on: [logn]\n"),
     ["F:10:18: checks[1].depends_on[0]: unknown check 'logn' (did you mean 'login'?)"]),
    ("depends_on_self", "checks:\n" + check("a", "    depends_on: [a]\n"), ["F:6:18: checks[0].depends_on[0]: a check cannot depend on itself"]),
    ("depends_on_cycle", "checks:\n" + check("a", "    depends_on: [b]\n") + check("b", "    depends_on: [c]\n")
     + check("c", "    depends_on: [a]\n"),
     ["F:16:17: checks[2].depends_on: dependency cycle: a -> b -> c -> a"]),
    # --- defaults: an error is reported once, where it is written ---------------------------------------------
    ("defaults_bad_value_once", "defaults:\n  interval: 0s\nchecks:\n" + check("a") + check("b"),
     ["F:2:13: defaults.interval: must be longer than zero"]),
    ("defaults_timeout_over_interval_once", "defaults:\n  interval: 10s\n  timeout: 20s\nchecks:\n" + check("a") + check("b"),
     ["F:3:12: defaults.timeout: timeout (20s) must not exceed interval (10s)"]),
    ("defaults_bad_latency_once", "defaults:\n  latency: {degraded: 2s, down: 1s}\nchecks:\n" + check("a") + check("b"),
     ["F:2:12: defaults.latency: degraded must be lower than down"]),
    ("inherited_timeout_clashes_with_check", "defaults:\n  timeout: 30s\nchecks:\n" + check("a", "    interval: 10s\n"),
     ["F:2:12: checks[0].timeout: timeout (30s) must not exceed interval (10s) (inherited from defaults.timeout)"]),
    # --- the discriminated union: errors point at the line inside the right check --------------------------
    ("second_check_error_line", "checks:\n" + check("a") + "  - name: b\n    kind: tcp\n    host: h\n    port: 0\n",
     ["F:9:11: checks[1].port: must be at least 1, got 0"]),
    ("key_named_like_kind", "checks:\n  - name: a\n    kind: tcp\n    tcp: 1\n    host: h\n    port: 0\n",
     ["F:4:5: checks[0].tcp: unknown key 'tcp'", "F:6:11: checks[0].port: must be at least 1, got 0"]),
    ("many_errors_in_order", "monitor:\n  timezone: Nowhere/X\nchecks:\n  - name: a\n    kind: tcp\n    host: ''\n    port: x\n",
     ["F:2:13: monitor.timezone: unknown time zone 'Nowhere/X' (use an IANA name like Asia/Shanghai)",
      "F:6:11: checks[0].host: must not be empty",
      "F:7:11: checks[0].port: expected a whole number, got 'x'"]),
    # --- references a run needs, resolved at load (issue 13) ------------------------------------
    ("component_id_mapping", "components:\n  - id: {a: 1}\n    name: x\n", ["F:2:9: components[0].id: expected text, got a mapping"]),
    ("condition_triple_equals", "checks:\n  - name: a\n    kind: http\n    url: http://127.0.0.1/\n    conditions: ['[STATUS] === 200']\n",
     ["F:5:18: checks[0].conditions[0]: '===' is not an operator; use ==, !=, <, <=, > or >= "
      "(quote a constant that starts with =) (column 10 of '[STATUS] === 200')"]),
    ("listen_not_an_address", "status_page:\n  listen: 999.1.1.1\n",
     ["F:2:11: status_page.listen: '999.1.1.1' is not an IP address (each of the four numbers is 0-255)"]),
    ("apprise_port_out_of_range", "channels:\n  - {name: a, urls: 'json://h:99999/x'}\n",
     ["F:2:21: channels[0].urls[0]: the port of this json:// URL is not a number from 1 to 65535 (value not shown as it may hold a secret)"]),
    ("status_page_url_javascript", "notifications:\n  status_page_url: 'javascript:alert(1)'\n",
     ["F:2:20: notifications.status_page_url: must be an http:// or https:// URL, not javascript:"]),
    ("runbook_javascript", "checks:\n" + check("a", "    runbook: 'javascript:alert(1)'\n"),
     ["F:6:14: checks[0].runbook: must be an http:// or https:// URL, not javascript:"]),
    ("platform_none_declared", "checks:\n  - {name: a, kind: login, platform: nosuch}\n",
     ["F:2:38: checks[0].platform: unknown platform 'nosuch' (there are none under platforms)"]),
    ("platform_user_unknown", "platforms:\n  sim: {profile: simulator, base_url: 'http://127.0.0.1:8900', credentials: {appKey: k, appSecret: s}, "
     "users: {sales: {}}}\nchecks:\n  - {name: a, kind: login, platform: sim, user: salse}\n",
     ["F:4:49: checks[0].user: platform 'sim' has no user 'salse' (did you mean 'sales'?)"]),
    ("platform_operation_unknown", "platforms:\n  sim: {profile: simulator, base_url: 'http://127.0.0.1:8900', credentials: {appKey: k, appSecret: s}}\n"
     "checks:\n  - {name: a, kind: query, platform: sim, operation: list_invoice}\n",
     ["F:4:54: checks[0].operation: platform 'sim' has no operation 'list_invoice' (did you mean 'list_invoices'?)"]),
    ("tcp_host_not_an_address", "checks:\n  - {name: a, kind: tcp, host: 999.1.1.1, port: 1}\n",
     ["F:2:32: checks[0].host: '999.1.1.1' is not an IP address (each of the four numbers is 0-255)"]),
    ("http_port_out_of_range", "checks:\n  - {name: a, kind: http, url: 'http://127.0.0.1:99999/'}\n",
     ["F:2:32: checks[0].url: port 99999 is out of range (1-65535)"]),
    ("database_port_out_of_range", "monitor:\n  database: postgresql+psycopg://h:99999/db\n",
     ["F:2:13: monitor.database: port 99999 is out of range (1-65535)"]),
    ("sql_unknown_database", "checks:\n  - {name: a, kind: sql, url: 'nosuch://x', query: SELECT 1}\n",
     ["F:2:31: checks[0].url: unknown database 'nosuch' (like postgresql://user@host/db or sqlite:///path)"]),
    ("freshness_source_writes", "platforms:\n  sim: {profile: simulator, base_url: 'http://127.0.0.1:8900', credentials: {appKey: k, appSecret: s}}\n"
     "checks:\n  - {name: a, kind: freshness, platform: sim, max_lag: 5m, source: {sql: {url: 'sqlite:///x.db', query: 'DELETE FROM i'}}}\n",
     ["F:4:105: checks[0].source.sql.query: must start with SELECT, WITH, SHOW, EXPLAIN; found 'DELETE' at character 1"]),
    ("baseline_without_its_component", "checks:\n  - {name: a, kind: tcp, host: h, port: 1, role: baseline}\n",
     ["F:2:50: checks[0].role: the baseline checks' incident goes to component 'network', which is not under components: "
      "(declare it, or set incidents.network_component)"]),
    ("base_url_without_host", "platforms:\n  sim: {base_url: 'http://:80/'}\n",
     ["F:2:19: platforms.sim.base_url: the URL has no host (write it like https://example.com/path)"]),
    ("templates_folder_missing", "notifications:\n  templates: nosuch-folder\n",
     ["F:2:14: notifications.templates: no folder 'nosuch-folder' (relative to the config file)"]),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=n) for n, t, e in CASES])
def test_malformed_config_gives_exact_error(tmp_path: Path, text: str, expected: list[str]) -> None:
    (tmp_path / "secrets").mkdir()
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=ENV)
    lines = [str(p).replace(str(path), "F") for p in info.value.problems]
    assert lines == expected


def test_case_table_is_large_and_distinct() -> None:
    assert len(CASES) >= 35
    assert len({n for n, _, _ in CASES}) == len(CASES)
    assert len({t for _, t, _ in CASES}) == len(CASES)


def test_file_not_found_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.yaml")
    assert [str(p) for p in info.value.problems] == [f"{tmp_path / 'missing.yaml'}: file not found"]


def test_dollar_dollar_is_a_literal_dollar(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("monitor:\n  name: cost $$5 ${NOT_SET:-x} $${NOT_A_VAR}\n")
    config = load_config(path, env={})
    assert config.monitor.name == "cost $5 x ${NOT_A_VAR}"


def test_expanded_values_are_secrets(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("file-secret-value\n")
    path = tmp_path / "c.yaml"
    path.write_text("monitor:\n  name: ${TOKEN}/${file:pw}\n")
    config = load_config(path, env=ENV)
    assert config.monitor.name == "s3cr3t-token/file-secret-value"
    assert {"s3cr3t-token", "file-secret-value"} <= config.secrets


def test_merge_key_values_are_overridden_not_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("checks:\n  - &base {name: a, kind: tcp, host: h, port: 1}\n  - <<: *base\n    name: b\n    port: 2\n")
    config = load_config(path)
    assert [(c.name, c.port) for c in config.checks] == [("a", 1), ("b", 2)]


def test_defaults_fill_checks_that_do_not_set_them(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("defaults:\n  interval: 2m\n  timeout: 5s\nchecks:\n" + check("a") + check("b", "    timeout: 7s\n"))
    config = load_config(path)
    assert [(c.interval.total_seconds(), c.timeout.total_seconds()) for c in config.checks] == [(120, 5), (120, 7)]


# --- the real command ---------------------------------------------------------------------------------


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("INVOICEWATCH_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd or ROOT
    )


def test_validate_prints_every_problem_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("monitor:\n  languge: en\nchecks:\n  - name: a\n    kind: tpc\n  - name: b\n" + TCP + "    interval: 0s\n")
    good = tmp_path / "good.yaml"
    good.write_text("checks:\n" + check("a"))
    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("checks: [\n")
    proc = run_cli("validate", str(bad), str(good), str(syntax))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stdout.splitlines()
    assert lines == [
        f"{bad}:2:3: monitor.languge: unknown key 'languge' (did you mean 'language'?)",
        f"{bad}:5:11: checks[0].kind: unknown check kind 'tpc' (did you mean 'tcp'?)",
        f"{bad}:10:15: checks[1].interval: must be longer than zero",
        f"{good}: ok (1 checks, 0 components)",
        f"{syntax}:1:9: checks: YAML syntax: the [ that starts here is never closed with ]",
        "  1 | checks: [",
        "    |         ^",
    ]


@pytest.mark.parametrize(
    "text",
    ["a: &x [*x]\n", "monitor:\n  name: !!python/object:os.system x\n", "", "checks: [1, [2], {3: 4}]\n", "\x00\x01"],
    ids=["recursive", "python_tag", "empty", "odd_shapes", "binary"],
)
def test_validate_never_shows_a_traceback(tmp_path: Path, text: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    proc = run_cli("validate", str(path))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout.startswith(str(path))


def test_validate_accepts_the_example_config() -> None:
    proc = run_cli("validate", str(ROOT / "config.example.yaml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith(")") and "ok" in proc.stdout
