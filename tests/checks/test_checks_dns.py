"""The dns kind against a tiny DNS server on 127.0.0.1 (UDP and TCP), built with dnspython."""

from __future__ import annotations

from typing import Any

import dns.rcode
import pytest
from pydantic import ValidationError

from checks import run_check
from checks.base import Context
from checks.dns import Spec, split_server
from monitor.core.results import Status

ZONE = {
    ("invoice.example", "A"): ["127.0.0.10", "127.0.0.11"],
    ("invoice.example", "AAAA"): ["::1"],
    ("invoice.example", "MX"): ["10 mail.invoice.example."],
    ("invoice.example", "TXT"): ['"v=spf1 -all"'],
    ("invoice.example", "NS"): ["ns1.invoice.example."],
    ("www.invoice.example", "CNAME"): ["invoice.example."],
}


def spec(port: int, **kw: Any) -> Spec:
    base = {"name": "dns", "kind": "dns", "domain": "invoice.example", "nameserver": f"127.0.0.1:{port}"}
    return Spec.model_validate({**base, **kw})


@pytest.mark.parametrize(
    ("record_type", "domain", "answers"),
    [
        ("A", "invoice.example", ["127.0.0.10", "127.0.0.11"]),
        ("AAAA", "invoice.example", ["::1"]),
        ("MX", "invoice.example", ["10 mail.invoice.example"]),
        ("TXT", "invoice.example", ["v=spf1 -all"]),
        ("NS", "invoice.example", ["ns1.invoice.example"]),
        ("CNAME", "www.invoice.example", ["invoice.example"]),
    ],
)
async def test_answers_are_read_as_people_write_them(dns_server: Any, ctx: Context, record_type: str, domain: str,
                                                     answers: list[str]) -> None:
    server = await dns_server(ZONE)
    result = await run_check(spec(server.port, domain=domain, record_type=record_type), ctx)
    assert result.status is Status.UP, result.message
    assert result.values["answers"] == answers
    assert result.values["rcode"] == "NOERROR"
    assert "query" in result.phases
    assert server.queries == [f"{domain} {record_type}"]


async def test_expected_values_must_all_be_answered(dns_server: Any, ctx: Context) -> None:
    server = await dns_server(ZONE)
    ok = await run_check(spec(server.port, expect=["127.0.0.11", "127.0.0.10"]), ctx)
    assert ok.status is Status.UP, ok.message
    missing = await run_check(spec(server.port, expect=["127.0.0.10", "10.0.0.1"]), ctx)
    assert missing.status is Status.DOWN
    assert missing.message == "expected 10.0.0.1 not among the answers ['127.0.0.10', '127.0.0.11'] (rcode NOERROR)"


async def test_expected_names_compare_without_case_or_final_dot(dns_server: Any, ctx: Context) -> None:
    server = await dns_server(ZONE)
    result = await run_check(spec(server.port, domain="www.invoice.example", record_type="CNAME",
                                  expect=["INVOICE.example."]), ctx)
    assert result.status is Status.UP, result.message


async def test_unknown_name_is_down_with_nxdomain(dns_server: Any, ctx: Context) -> None:
    server = await dns_server(ZONE)
    result = await run_check(spec(server.port, domain="nope.example"), ctx)
    assert result.status is Status.DOWN
    assert result.message.startswith("[RCODE] == NOERROR failed: actual NXDOMAIN")
    assert result.values["rcode"] == "NXDOMAIN"


async def test_conditions_can_expect_nxdomain(dns_server: Any, ctx: Context) -> None:
    server = await dns_server(ZONE)
    result = await run_check(spec(server.port, domain="retired.example", conditions=["[RCODE] == NXDOMAIN"]), ctx)
    assert result.status is Status.UP, result.message


async def test_conditions_read_answers(dns_server: Any, ctx: Context) -> None:
    server = await dns_server(ZONE)
    result = await run_check(spec(server.port, conditions=["[ANSWERS][0] == 127.0.0.10", "len([ANSWERS]) == 2",
                                                           "[RESPONSE_TIME] < 2s"]), ctx)
    assert result.status is Status.UP, result.message


async def test_servfail_is_down(dns_server: Any, ctx: Context) -> None:
    server = await dns_server(ZONE, rcode=dns.rcode.SERVFAIL)
    result = await run_check(spec(server.port), ctx)
    assert result.status is Status.DOWN
    assert "actual SERVFAIL" in result.message


async def test_query_over_tcp(dns_server: Any, ctx: Context) -> None:
    server = await dns_server(ZONE)
    result = await run_check(spec(server.port, protocol="tcp", expect=["127.0.0.10"]), ctx)
    assert result.status is Status.UP, result.message


async def test_silent_server_is_down_within_the_timeout(dns_server: Any, ctx: Context) -> None:
    server = await dns_server(ZONE, silent=True)
    result = await run_check(spec(server.port, timeout="0.5s"), ctx)
    assert result.status is Status.DOWN
    assert result.message == f"no answer from 127.0.0.1:{server.port} within 0.5s"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("127.0.0.1", ("127.0.0.1", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)), ("::1", ("::1", 53)),
     ("[::1]:5353", ("::1", 5353))],
)
def test_nameserver_forms(text: str, parsed: tuple[str, int]) -> None:
    assert split_server(text) == parsed


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"nameserver": "dns.example:53"}, "must be an IP address"),
        ({"nameserver": "127.0.0.1:x"}, "port must be a number"),
        ({"nameserver": "127.0.0.1:70000"}, "port out of range"),
        ({"record_type": "SRV"}, "Input should be"),
        ({"domain": "a..b"}, "not a domain name"),
        ({"conditions": ["[STATUS] == 200"]}, "[STATUS] is not available in a dns check"),
    ],
)
def test_bad_dns_spec_is_a_config_error(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Spec.model_validate({"name": "x", "kind": "dns", "domain": "invoice.example", **extra})
