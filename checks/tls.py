"""`tls`: does host:port present a valid certificate for the name, and for how much longer?

Connect (timed), TLS handshake (timed) with chain and host-name verification, then days left
until the certificate expires: below `min_days_left.degraded` the probe is degraded, below
`min_days_left.down` down. When verification fails the probe is down, and a second,
unverified handshake fetches the certificate anyway so the alert can say what was served.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from checks.base import Context
from checks.certs import CertInfo, cert_info, peer_der
from checks.conditions import condition_list, evaluate, failure_message, vocabulary
from checks.net import hostport, reason, resolve
from checks.timing import Phases, deadline, down
from monitor.core.addresses import Host
from monitor.core.errors import ProbeFailure
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec

PLACEHOLDERS = vocabulary("a tls check", "CERTIFICATE_EXPIRATION", "RESPONSE_TIME", "CONNECTED", "IP")
DAY = 86400.0


class DaysLeft(BaseModel):
    """Fewer days left than `degraded` makes the probe degraded; fewer than `down`, down."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    degraded: float = Field(14, ge=0, description="days left below which the probe is degraded")
    down: float = Field(3, ge=0, description="days left below which the probe is down")

    @model_validator(mode="after")
    def _ordered(self) -> DaysLeft:
        if self.down > self.degraded:
            raise ValueError("min_days_left.down must not be above min_days_left.degraded")
        return self


class Spec(CheckSpec):
    kind: Literal["tls"]
    host: Host = Field(description="name or IP address to connect to")
    port: int = Field(443, ge=1, le=65535)
    server_name: Host | None = Field(None, description="name sent as SNI and verified; default: host")
    verify: bool = Field(True, description="verify the certificate chain")
    verify_hostname: bool = Field(True, description="verify the certificate is for server_name")
    ca_file: str | None = Field(None, description="PEM file of CAs to trust instead of the system store")
    min_days_left: DaysLeft = Field(DaysLeft.model_validate({}), description="days-left thresholds")
    conditions: condition_list(PLACEHOLDERS) = Field(default_factory=list)  # type: ignore[valid-type]

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None and not os.access(value, os.R_OK):
            raise ValueError(f"cannot read CA file {value!r}")
        return value

    @model_validator(mode="after")
    def _hostname_needs_chain(self) -> Spec:
        if self.verify_hostname and not self.verify:
            raise ValueError("verify_hostname needs verify: true (set verify_hostname: false too)")
        return self


async def run(spec: Spec, ctx: Context) -> Result:
    started = ctx.clock.now()
    phases = Phases(ctx.clock)
    name = spec.server_name or spec.host
    target = f"{spec.host}:{spec.port}"
    values: dict[str, Any] = {}
    info: CertInfo | None = None
    try:
        async with asyncio.timeout(deadline(spec)):
            ip = await resolve(spec.host, spec.port, phases)
            target = hostport(ip, spec.port)
            values["ip"] = ip
            try:
                info = await _handshake(ip, spec.port, name, _context(spec.verify, spec.verify_hostname, spec.ca_file), phases)
            except ssl.SSLCertVerificationError as exc:
                values.update(await _unverified_evidence(ip, spec.port, name, ctx))
                raise ProbeFailure(f"certificate of {name} at {target} failed verification: {exc.verify_message}") from None
    except TimeoutError:
        message = f"timed out after {spec.timeout.total_seconds():g}s {phases.where()} ({target})"
        return down(spec, started, phases, message, values)
    except ProbeFailure as exc:
        return down(spec, started, phases, str(exc), values)
    except (OSError, EOFError) as exc:
        what = "TLS handshake with" if phases.failed == "tls" else "connect to"
        return down(spec, started, phases, f"{what} {target} failed: {reason(exc)}", values)
    total = phases.total()
    if info is None:
        return down(spec, started, phases, f"{target} presented no readable certificate", values)
    left = info.seconds_left(ctx.clock.now())
    values.update(_evidence(info, left))
    results = evaluate(
        spec.conditions,
        {"CERTIFICATE_EXPIRATION": left, "RESPONSE_TIME": total["total"], "CONNECTED": True, "IP": values["ip"]},
    )
    days = left / DAY
    when = f"{info.not_after:%Y-%m-%d}"
    if days < 0:
        status, message = Status.DOWN, f"certificate of {name} expired {-days:.1f} days ago ({when})"
    elif days < spec.min_days_left.down:
        status, message = Status.DOWN, f"certificate of {name} expires in {days:.1f} days ({when}), below {spec.min_days_left.down:g}"
    elif days < spec.min_days_left.degraded:
        status, message = Status.DEGRADED, f"certificate of {name} expires in {days:.1f} days ({when}), below {spec.min_days_left.degraded:g}"
    else:
        status, message = Status.UP, f"certificate of {name} valid for {days:.1f} more days ({when})"
    if not all(r.ok for r in results):
        status, message = Status.DOWN, f"{failure_message(results)}; {message}"
    return Result(spec.name, status, started, total["total"], message, total, results, values=values)


async def _handshake(ip: str, port: int, name: str, context: ssl.SSLContext, phases: Phases) -> CertInfo | None:
    with phases.phase("connect"):
        _reader, writer = await asyncio.open_connection(ip, port)
    try:
        with phases.phase("tls"):
            await writer.start_tls(context, server_hostname=name)
        return cert_info(peer_der(writer.get_extra_info("ssl_object")))
    finally:
        # Close without awaiting wait_closed(): after a handshake cut short by the timeout,
        # the stream's protocol is no longer the transport's and that wait never ends.
        writer.close()


async def _unverified_evidence(ip: str, port: int, name: str, ctx: Context) -> dict[str, Any]:
    """What certificate was served, when verification refused it (best effort, no raise)."""
    try:
        info = await _handshake(ip, port, name, _context(False, False, None), Phases(ctx.clock))
    except (OSError, EOFError, ssl.SSLError):
        return {}
    return _evidence(info, info.seconds_left(ctx.clock.now())) if info else {}


def _evidence(info: CertInfo, left: float) -> dict[str, Any]:
    return {
        "days_left": round(left / DAY, 2),
        "not_after": info.not_after.isoformat(),
        "subject": info.subject,
        "issuer": info.issuer,
        "dns_names": list(info.dns_names),
    }


def _context(verify: bool, check_hostname: bool, ca_file: str | None) -> ssl.SSLContext:
    try:
        mtime = os.stat(ca_file).st_mtime_ns if ca_file else 0
        return _cached_context(verify, check_hostname, ca_file, mtime)
    except (OSError, ssl.SSLError) as exc:
        raise ProbeFailure(f"cannot use CA file {ca_file}: {reason(exc)}") from None


@lru_cache(maxsize=32)
def _cached_context(verify: bool, check_hostname: bool, ca_file: str | None, _mtime: int) -> ssl.SSLContext:
    """SSL contexts are costly to build (the CA store is parsed each time): one per setting."""
    context = ssl.create_default_context(cafile=ca_file) if verify else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = check_hostname
    if not verify:
        context.verify_mode = ssl.CERT_NONE
    return context

