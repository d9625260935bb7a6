"""Probable cause: which of a few causes on-call must tell apart a failing result points to.
Pure: a Result (its steps, phases, values and conditions) in, a `Cause` out.

    our_network              our side: a baseline check (gateway, DNS) is down
    platform_unreachable     no connection to the platform (refused, DNS, connect timeout)
    platform_server_error    the platform answered an HTTP 5xx, dropped the connection, or
                             failed a job it accepted
    credentials_permission   the platform refused us: key/secret, token quota, tax-bureau login,
                             a user that sees less or may do more than it should
    platform_overloaded      slow, "busy" inside HTTP 200, 429, connected but no answer,
                             jobs that never finish
    platform_data_sync       it answers, but the data is late, missing or refused as invalid
    platform_maintenance     the platform says it is under maintenance
    unknown                  nothing above fits

The confidence word is `likely` (the evidence names the cause: an envelope message saying
"appKey或appSecret错误", an HTTP 503), `possible` (the evidence fits more than one cause: no
answer within the timeout is load or a hung server) or `unclear`. Evidence items are facts
as data ({"fact": "http_status", "status": 503}); the templates word them per language, so
nothing English reaches a Chinese reader. Rules are checked in order; the first match wins.
The order follows the seed's "is it us, then the network, then the platform".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.core.results import Result, Status

OUR_NETWORK = "our_network"
UNREACHABLE = "platform_unreachable"
SERVER_ERROR = "platform_server_error"
CREDENTIALS = "credentials_permission"
OVERLOADED = "platform_overloaded"
DATA_SYNC = "platform_data_sync"
MAINTENANCE = "platform_maintenance"
UNKNOWN = "unknown"
CAUSES: tuple[str, ...] = (OUR_NETWORK, UNREACHABLE, SERVER_ERROR, CREDENTIALS, OVERLOADED, DATA_SYNC, MAINTENANCE, UNKNOWN)
LIKELY, POSSIBLE, UNCLEAR = "likely", "possible", "unclear"

# Words inside a platform's own message (envelope or HTML body), checked in this order.
_SAID: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    (MAINTENANCE, LIKELY, re.compile(r"维护|升级中|maintenance|under maintenance", re.I)),
    (OVERLOADED, LIKELY, re.compile(r"繁忙|稍后再试|限流|过于频繁|busy|too many|rate limit|throttl", re.I)),
    (CREDENTIALS, LIKELY, re.compile(
        r"appkey|appsecret|secret|密钥|签名|sign|token|授权|权限|无权|forbidden|unauthori[sz]ed|登录|税局|认证|"
        r"上限|配额|quota|credential|password|账号", re.I)),
    (DATA_SYNC, POSSIBLE, re.compile(r"校验|参数|格式|不存在|重复|invalid|not found|duplicate", re.I)),
)
# How our own clients word a failure without an answer (checks/platform/session.py, checks/timing.py).
_NO_CONNECT = re.compile(r"cannot connect|connection refused|name or service not known|nodename|getaddrinfo|"
                         r"no route to host|network is unreachable|connect timed out", re.I)
_NO_ANSWER = re.compile(r"no answer within|timed out|timeout", re.I)
_DROPPED = re.compile(r"connection dropped|reset by peer|connection reset|remote ?protocol|server disconnected", re.I)
_VIA_TOKEN = re.compile(r"no token|token request failed", re.I)


@dataclass(frozen=True, slots=True)
class Cause:
    kind: str
    confidence: str
    evidence: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    step: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "confidence": self.confidence, "evidence": [dict(e) for e in self.evidence],
                "step": self.step}

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> Cause | None:
        if not d or d.get("kind") not in CAUSES:
            return None
        return cls(str(d["kind"]), str(d.get("confidence") or UNCLEAR), tuple(d.get("evidence") or ()), d.get("step"))


def our_network(baselines: list[str]) -> Cause:
    """The cause of the "local network" incident: our own baseline checks are down."""
    return Cause(OUR_NETWORK, LIKELY, tuple({"fact": "baseline_down", "check": b} for b in baselines))


def classify(result: Result, *, kind: str = "") -> Cause:
    """The probable cause of one failing result of a check of `kind` (login, query, http, ...)."""
    if result.status is Status.UP:
        return Cause(UNKNOWN, UNCLEAR)
    step = next((s for s in result.steps if s.status is result.status), None) or next(
        (s for s in result.steps if s.status is not Status.UP), None
    )
    values: dict[str, Any] = {**result.values, **(step.values if step is not None else {})}
    text = (step.message if step is not None else "") or result.message
    facts: list[dict[str, Any]] = []
    if step is not None:
        facts.append({"fact": "step", "step": step.name})
    if _VIA_TOKEN.search(text):
        facts.append({"fact": "via_token"})
    name = step.name if step is not None else None

    def cause(what: str, confidence: str, *more: dict[str, Any]) -> Cause:
        return Cause(what, confidence, (*facts, *more), name)

    status = _int(values.get("http_status"))
    code, said = values.get("envelope_code"), str(values.get("envelope_message") or "")
    # 1. no answer at all: connection, DNS, a dropped connection, a timeout
    if status is None:
        phase = str(values.get("failed_phase") or "")
        if phase in ("dns", "connect") or _NO_CONNECT.search(text):
            return cause(UNREACHABLE, LIKELY if phase != "dns" else POSSIBLE, {"fact": "no_connection", "phase": phase or "connect"})
        if _DROPPED.search(text):
            return cause(SERVER_ERROR, POSSIBLE, {"fact": "dropped"})
        if _NO_ANSWER.search(text) or phase in ("tls", "ttfb", "body"):
            return cause(OVERLOADED, POSSIBLE, {"fact": "no_answer", "phase": phase or "ttfb"})
    # 2. the platform's own words (envelope inside HTTP 200, or a message beside an error status)
    if said:
        facts.append({"fact": "envelope", "code": code, "message": said[:200], "http_status": status})
        for what, confidence, pattern in _SAID:
            if pattern.search(said):
                return cause(what, confidence)
    # 3. the HTTP status
    if status is not None and not 200 <= status < 300:
        more = {"fact": "http_status", "status": status, "html": "<html" in text.lower()}
        if status in (401, 403, 407):
            return cause(CREDENTIALS, LIKELY, more)
        if status == 429:
            return cause(OVERLOADED, LIKELY, more)
        if status >= 500:
            return cause(SERVER_ERROR, LIKELY, more)
        return cause(UNKNOWN, UNCLEAR, more)
    # 4. only its time failed it (the check's latency threshold; what it measured was fine)
    if values.get("latency_threshold"):
        return cause(OVERLOADED, LIKELY, {"fact": "slow", "latency_ms": result.latency_ms})
    # 5. what the kind measures
    if (step is not None and re.search(r"tax bureau", step.name, re.I)) or values.get("certification") not in (None, ""):
        return cause(CREDENTIALS, LIKELY, {"fact": "tax_bureau", "state": values.get("certification")})
    if kind == "permission":
        return cause(CREDENTIALS, LIKELY, {"fact": "visibility", "step": name})
    if values.get("lag_s") is not None or values.get("missing") or kind == "freshness":
        return cause(DATA_SYNC, LIKELY, {"fact": "lag", "seconds": values.get("lag_s"), "missing": values.get("missing")})
    if values.get("missing_share") is not None or kind == "completeness":
        return cause(DATA_SYNC, LIKELY, {"fact": "fields_missing", "share": values.get("missing_share")})
    final = values.get("final_status")
    if final is not None and kind in ("issuance", "lifecycle", ""):
        if final in ("issuing", "pending") or re.search(r"still \w+ after", text):
            return cause(OVERLOADED, POSSIBLE, {"fact": "stuck", "status": final})
        return cause(SERVER_ERROR, POSSIBLE, {"fact": "job_failed", "status": final})
    slow = [c for c in result.conditions if not c.ok and c.condition.startswith("[RESPONSE_TIME]")]
    if slow or (step is None and re.search(r"latency|slower|above", text, re.I)):
        return cause(OVERLOADED, LIKELY, {"fact": "slow", "latency_ms": result.latency_ms})
    return cause(UNKNOWN, UNCLEAR)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
