"""Profiles, templates, signing plug-ins and time parsing: the pieces under every invoice kind."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from jsonpath_ng.ext.parser import parse as fresh_parse

from checks.platform.jsonpath import parse as shared_parse
from checks.platform.models import PlatformProfile, deep_merge, shipped_profiles
from checks.platform.records import parse_time
from checks.platform.signing import SIGNERS, Outgoing, sign
from checks.platform.templating import MissingVariable, names_in, render
from monitor.config import load_config
from monitor.core.errors import ConfigError

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 1, 0, 5, tzinfo=UTC)


def test_every_shipped_profile_validates_with_credentials() -> None:
    assert shipped_profiles() == ["baiwang", "nuonuo", "simulator"]
    for name in shipped_profiles():
        p = PlatformProfile.model_validate({"profile": name, "base_url": "http://127.0.0.1:1",
                                            "credentials": {"appKey": "k", "appSecret": "s"}})  # fmt: skip
        assert {"list_invoices", "get_invoice", "issue", "void", "red_flush", "certification"} <= set(p.operations)
        assert p.certification is not None


def test_user_keys_are_deep_merged_over_the_shipped_profile() -> None:
    p = PlatformProfile.model_validate({
        "profile": "simulator", "base_url": "http://127.0.0.1:1", "credentials": {"appKey": "k", "appSecret": "s"},
        "envelope": {"message": "$.msg"}, "variables": {"department": "online"},
    })  # fmt: skip
    assert p.envelope.message == "$.msg" and p.envelope.ok == ["E0000"]  # merged, not replaced
    assert p.variables["department"] == "online" and p.variables["buyer_name"] == "测试购方"
    assert p.auth.scheme == "token"


def test_switching_auth_scheme_replaces_the_shipped_one() -> None:
    merged = deep_merge({"auth": {"scheme": "token", "request": {}, "token": "$.t"}}, {"auth": {"scheme": "header", "header": {}}})
    assert merged == {"auth": {"scheme": "header", "header": {}}}


@pytest.mark.parametrize(
    ("platform", "message"),
    [
        ("{profile: nuonuo, base_url: 'http://x'}", "credentials: missing appKey, appSecret (the nuonuo profile needs"),
        ("{profile: nuonou, base_url: 'http://x'}", "unknown profile 'nuonou' (shipped: baiwang, nuonuo, simulator)"),
        ("{base_url: 'ftp://x'}", "base_url"),
        ("{base_url: 'http://x', envelope: {code: $.code}}", "envelope.ok: list the values that mean success"),
        ("{base_url: 'http://x', fields: {number: '$..[[['}}", "not a JSONPath"),
        ("{base_url: 'http://x', signing: {scheme: sha256}}", "signing.scheme must be one of hmac-sha1, md5"),
        ("{base_url: 'http://x', auth: {scheme: bearer}}", "auth.scheme must be one of token, oauth"),
        ("{base_url: 'http://x', auth: {scheme: oauth}}", "token_path"),
        ("{base_url: 'http://x', timezone: Mars/Olympus}", "unknown time zone"),
        ("{base_url: 'http://x', operations: {q: {request: {path: /, json: {}, form: {}}}}}", "at most one of json:, form:, body:"),
        ("{base_url: 'http://x', certification: {status: $.s, ok: [1]}}", "certification.operation 'certification' is not under operations:"),
        ("{base_url: 'http://x', colour: red}", "unknown key 'colour'"),
    ],
)
def test_bad_platforms_are_one_line_config_errors(tmp_path: Path, platform: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "c.yaml", text=f"platforms:\n  p: {platform}\n")
    text = str(err.value)
    assert message in text
    assert text.startswith(f"{tmp_path / 'c.yaml'}:2:") and "platforms.p" in text


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{amount}", 0.01),  # a whole-value variable keeps its type
        ("total {amount}", "total 0.01"),
        ("{now}", "2026-03-02 09:00:05"),  # platform zone, the common Chinese API format
        ("{now:%Y%m%d}", "20260302"),
        ("{now:epoch}", "1772413205"),
        ("{now:epoch_ms}", "1772413205000"),
        ("{now:iso}", "2026-03-02T09:00:05+08:00"),
        ("{user.key}", "k1"),
        ("{{literal}}", "{literal}"),
        ({"a": ["{amount}", {"{name}": "x"}]}, {"a": [0.01, {"bob": "x"}]}),
        ("{flag}", True),
        ("on={flag}", "on=true"),
    ],
)
def test_templates_render(template: object, expected: object) -> None:
    variables = {"amount": 0.01, "now": NOW, "user": {"key": "k1"}, "name": "bob", "flag": True}
    assert render(template, variables, SHANGHAI) == expected


def test_a_missing_variable_names_itself_and_the_known_ones() -> None:
    with pytest.raises(MissingVariable, match=r"\{serial\} is not set \(known: amount\)"):
        render("/x/{serial}", {"amount": 1}, SHANGHAI)
    assert names_in({"p": "{a}/{b:%Y}", "q": ["{c}"]}) == {"a", "b", "c"}


def test_hmac_sha1_signature_is_what_the_nuonuo_simulator_recomputes() -> None:
    from monitor.simulator.signing import nuonuo_sign

    profile = PlatformProfile.model_validate({"profile": "nuonuo", "base_url": "http://x",
                                              "credentials": {"appKey": "key9", "appSecret": "sec9"}})  # fmt: skip
    body = '{"a":"数电","b":{"c":[1]}}'
    values = {"appKey": "key9", "appSecret": "sec9", "request_id": "r1", "nonce": "n1", "timestamp_s": 1772413205}
    out = Outgoing("POST", "http://x/open/v1/services", "open/v1/services", body=body.encode(), variables=values)
    sign(out, profile.signing, lambda t: render(t, values) if "{" in t else t)  # type: ignore[arg-type]
    assert out.headers["X-Nuonuo-Sign"] == nuonuo_sign("sec9", "key9", "r1", "n1", "1772413205", body)


def test_md5_signature_is_what_the_baiwang_simulator_recomputes() -> None:
    from monitor.simulator.signing import baiwang_sign

    profile = PlatformProfile.model_validate({"profile": "baiwang", "base_url": "http://x",
                                              "credentials": {"appKey": "key9", "appSecret": "sec9"}})  # fmt: skip
    params = {"method": "m", "appKey": "key9", "timestamp": "1772413205000", "token": "t0k"}
    out = Outgoing("POST", "http://x/router/rest", "router/rest", params=dict(params), body=b'{"x":1}')
    sign(out, profile.signing, lambda t: "sec9" if t == "{appSecret}" else t)  # type: ignore[arg-type]
    assert out.params["sign"] == baiwang_sign("sec9", params, '{"x":1}')
    assert set(SIGNERS) == {"hmac-sha1", "md5"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03-02 09:00:00", datetime(2026, 3, 2, 1, 0, tzinfo=UTC)),  # China time, no zone
        ("20260302090000", datetime(2026, 3, 2, 1, 0, tzinfo=UTC)),
        ("2026-03-02T01:00:00Z", datetime(2026, 3, 2, 1, 0, tzinfo=UTC)),
        ("2026-03-02T09:00:00+08:00", datetime(2026, 3, 2, 1, 0, tzinfo=UTC)),
        (1772413200000, datetime(2026, 3, 2, 1, 0, tzinfo=UTC)),  # epoch ms
        (1772413200, datetime(2026, 3, 2, 1, 0, tzinfo=UTC)),  # epoch s
        ("1772413200000", datetime(2026, 3, 2, 1, 0, tzinfo=UTC)),
        (0, None),  # "not yet" on Nuonuo
        ("", None),
        (None, None),
        ("next tuesday", None),
        (True, None),
    ],
)
def test_platform_times_parse(raw: object, expected: datetime | None) -> None:
    assert parse_time(raw, SHANGHAI) == expected


def test_the_shared_jsonpath_parser_parses_as_a_fresh_one_even_after_a_bad_path() -> None:
    """checks.platform.jsonpath parses every expression with one parser; each result is the
    one jsonpath-ng's own parse() (a new parser per call) gives, before and after a failure."""
    doc = {"result": {"list": [{"invoiceNo": "A1", "status": 2}, {"invoiceNo": "B2", "status": 3}]}, "code": "E0000"}
    paths = ["$.code", "$.result.list[*].invoiceNo", "$.result.list[?(@.status == 3)].invoiceNo",
             "$.result.list[0]", "$..invoiceNo", "len($.result.list)"]
    for expr in [*paths, "$.result.[[", *paths]:
        try:
            expected = [m.value for m in fresh_parse(expr).find(doc)]
        except Exception as exc:
            with pytest.raises(type(exc)):
                shared_parse(expr)
            continue
        assert [m.value for m in shared_parse(expr).find(doc)] == expected, expr
