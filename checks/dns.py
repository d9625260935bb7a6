"""`dns`: does the name server answer for a name, and with the records we expect?

One query, straight to one server (the configured `nameserver`, else the first of the
system's), over UDP (falling back to TCP when truncated) or TCP: no resolver retries, so the
latency and the failure are the server's own. `expect` lists values that must all be among
the answers; conditions read [ANSWERS] (list of text, sorted: an rrset has no order, and a
stable [ANSWERS][0] matters more than the server's rotation), [RCODE] and [RESPONSE_TIME].
Without either, healthy means NOERROR with at least one answer.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import Field, field_validator

from checks.base import Context
from checks.conditions import condition_list, evaluate, failure_message, parse_condition, vocabulary
from checks.net import is_ip, reason
from checks.timing import Phases, deadline, down
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec

PLACEHOLDERS = vocabulary("a dns check", "ANSWERS", "RCODE", "RESPONSE_TIME")
DEFAULT_CONDITIONS = tuple(parse_condition(c, PLACEHOLDERS) for c in ("[RCODE] == NOERROR", "len([ANSWERS]) > 0"))


class Spec(CheckSpec):
    kind: Literal["dns"]
    domain: str = Field(min_length=1, max_length=253, description="the name to look up (`name` is the check's)")
    record_type: Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS"] = "A"
    nameserver: str | None = Field(None, description="ip or ip:port ([v6]:port); default: the system's")
    protocol: Literal["udp", "tcp"] = Field("udp", description="udp (TCP if truncated) or tcp only")
    expect: list[str] = Field(default_factory=list, description="values that must all be among the answers")
    conditions: condition_list(PLACEHOLDERS) = Field(default_factory=list)  # type: ignore[valid-type]

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        import dns.exception  # lazy: CLI start time (dnspython; the name alone is checked here)
        import dns.name

        try:
            dns.name.from_text(value)
        except dns.exception.DNSException as exc:
            raise ValueError(f"not a domain name: {exc}") from None
        return value

    @field_validator("nameserver")
    @classmethod
    def _server(cls, value: str | None) -> str | None:
        if value is not None:
            split_server(value)
        return value


def split_server(text: str) -> tuple[str, int]:
    """'1.2.3.4', '1.2.3.4:5353', '::1', '[::1]:5353' -> (ip, port); ValueError otherwise."""
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"nameserver {text!r}: write it as ip or ip:port")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        if not p.isdigit():
            raise ValueError(f"nameserver {text!r}: port must be a number")
        port = int(p)
    if not is_ip(host):
        raise ValueError(f"nameserver {text!r} must be an IP address (a name would need DNS itself)")
    if not 0 < port < 65536:
        raise ValueError(f"nameserver {text!r}: port out of range")
    return host, port


async def run(spec: Spec, ctx: Context) -> Result:
    import dns.asyncquery  # lazy: CLI start time (dnspython's resolver and query stack)
    import dns.exception
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.resolver

    started = ctx.clock.now()
    phases = Phases(ctx.clock)
    if spec.nameserver:
        server, port = split_server(spec.nameserver)
    else:
        servers = dns.resolver.get_default_resolver().nameservers
        if not servers:
            return down(spec, started, phases, "no nameserver configured on this system; set nameserver:")
        server, port = str(servers[0]), 53
    where = f"[{server}]:{port}" if ":" in server else f"{server}:{port}"
    rdtype = dns.rdatatype.from_text(spec.record_type)
    query = dns.message.make_query(spec.domain, rdtype)
    try:
        async with asyncio.timeout(deadline(spec)):
            remaining = deadline(spec) - phases.elapsed_ms() / 1000
            with phases.phase("query"):
                if spec.protocol == "tcp":
                    response = await dns.asyncquery.tcp(query, server, timeout=remaining, port=port)
                else:
                    response, _tcp = await dns.asyncquery.udp_with_fallback(query, server, timeout=remaining, port=port)
    except (TimeoutError, dns.exception.Timeout):
        message = f"no answer from {where} within {spec.timeout.total_seconds():g}s"
        return down(spec, started, phases, message, {"nameserver": where})
    except dns.exception.DNSException as exc:
        return down(spec, started, phases, f"invalid DNS reply from {where}: {str(exc)[:200]}", {"nameserver": where})
    except (OSError, EOFError, ValueError) as exc:
        return down(spec, started, phases, f"query to {where} failed: {reason(exc)}", {"nameserver": where})
    total = phases.total()
    rcode = dns.rcode.to_text(response.rcode())
    answers = sorted(_text(rd) for rrset in response.answer if rrset.rdtype == rdtype for rd in rrset)
    values: dict[str, Any] = {"rcode": rcode, "answers": answers[:50], "nameserver": where}
    results = evaluate(
        spec.conditions or (() if spec.expect else DEFAULT_CONDITIONS),
        {"ANSWERS": answers, "RCODE": rcode, "RESPONSE_TIME": total["total"]},
    )
    have = {_norm(a) for a in answers}
    missing = [e for e in spec.expect if _norm(e) not in have]
    problems = []
    if missing:
        problems.append(f"expected {', '.join(missing)} not among the answers {answers[:10]} (rcode {rcode})")
    if not all(r.ok for r in results):
        problems.append(failure_message(results))
    if problems:
        status, message = Status.DOWN, "; ".join(problems)
    else:
        status, message = Status.UP, f"{spec.domain} {spec.record_type}: {', '.join(answers[:5]) or rcode}"
    return Result(spec.name, status, started, total["total"], message[:1000], total, results, values=values)


def _text(rdata: Any) -> str:
    """An answer as people write it: no trailing dot on names, TXT strings joined."""
    import dns.rdatatype  # loaded by run already

    if rdata.rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8", "replace")
    if rdata.rdtype == dns.rdatatype.MX:
        return f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True)}"
    if rdata.rdtype in (dns.rdatatype.CNAME, dns.rdatatype.NS):
        return str(rdata.target.to_text(omit_final_dot=True))
    return str(rdata.to_text())


def _norm(value: str) -> str:
    return value.strip().rstrip(".").lower()
