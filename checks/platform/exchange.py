"""One request to a platform and what it proved: `Exchange`, and the envelope verdict.

HTTP 200 alone proves nothing on these platforms: the envelope's code decides. An Exchange
keeps the evidence an on-call engineer needs (operation, HTTP status, envelope code and
message, latency, a short excerpt of an unexpected body) and never the request itself:
requests carry tokens and signatures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checks.platform.jsonpath import find_first
from checks.platform.models import Envelope, Rejection, scalar_key

EXCERPT = 200  # characters of an unparseable body kept as evidence
NO_MESSAGE = "(no message in the answer)"
# Where platforms put the human text when the profile's `envelope.message` finds none.
FALLBACK_MESSAGES = ("$.describe", "$.message", "$.msg", "$.errorMsg", "$.error_description",
                     "$.errorResponse.message", "$.errorResponse.subMessage", "$.error.message")  # fmt: skip


@dataclass
class Exchange:
    operation: str
    method: str
    path: str
    http_status: int | None = None
    latency_ms: float = 0.0
    doc: Any = None
    excerpt: str = ""
    envelope_code: Any = None
    envelope_message: str | None = None
    ok: bool = False
    error: str | None = None
    rejected: bool = False  # the platform said our token/session is invalid
    refused: bool = False  # the platform said this user may not do this
    not_found: bool = False  # the platform said there is no such record
    token_failed: bool = False  # we could not even get a token
    auth_retried: bool = False
    extracted: dict[str, Any] = field(default_factory=dict)
    raw: bytes = b""  # the body as read (for flow conditions); never put in evidence
    headers: Any = None  # httpx.Headers of the answer (case-insensitive)

    def evidence(self) -> dict[str, Any]:
        """Values for Result/StepResult.values (the incident's evidence, per CONTRACTS)."""
        out: dict[str, Any] = {"operation": self.operation, "latency_ms": round(self.latency_ms, 1)}
        if self.http_status is not None:
            out["http_status"] = self.http_status
        out.update(self.cause())
        if self.auth_retried:
            out["auth_retried"] = True
        return out

    def cause(self) -> dict[str, Any]:
        """The platform's own words for a failure: envelope code and message, always together.

        A success code is never a cause (an OK answer whose *content* is bad, e.g. a logged-out
        tax bureau, says so in its step's message), and a code without text gets a note saying
        the platform gave none, so an alert never reads "Platform said: 070305" and nothing else.
        """
        if self.ok or (self.envelope_code is None and not self.envelope_message):
            return {}
        out: dict[str, Any] = {}
        if self.envelope_code is not None:
            out["envelope_code"] = self.envelope_code
        out["envelope_message"] = self.envelope_message or NO_MESSAGE
        return out

    def describe(self, *, named: bool = True) -> str:
        """One line: what went wrong, or that it went fine; led by the operation's name unless
        `named` is false (a step already called after the operation)."""
        said = f"ok in {self.latency_ms:.0f} ms" if self.ok else (self.error or "failed")
        return f"{self.operation}: {said}" if named else said


def judge(ex: Exchange, envelope: Envelope, rejection: Rejection, *, use_envelope: bool = True) -> None:
    """Fill in ok/error/rejected/refused from the HTTP status and the envelope."""
    status = ex.http_status or 0
    doc = ex.doc
    code = find_first(envelope.code, doc) if (use_envelope and envelope.code and doc is not None) else None
    message = find_first(envelope.message, doc) if (use_envelope and envelope.message and doc is not None) else None
    if message in (None, "") and use_envelope and isinstance(doc, dict):
        message = next((m for m in (find_first(p, doc) for p in FALLBACK_MESSAGES) if isinstance(m, str) and m), None)
    ex.envelope_code = code
    ex.envelope_message = None if message is None else str(message)[:500]
    rejected_codes = {scalar_key(c) for c in rejection.codes}
    if status in rejection.http_status or (code is not None and scalar_key(code) in rejected_codes):
        ex.rejected = True
    if status == 403 or (code is not None and scalar_key(code) in {scalar_key(c) for c in envelope.forbidden}):
        ex.refused = True
    if status == 404 or (code is not None and scalar_key(code) in {scalar_key(c) for c in envelope.not_found}):
        ex.not_found = True
    if not 200 <= status < 300:
        ex.ok = False
        ex.error = f"HTTP {status}" + _said(ex)
        return
    judged_path = envelope.judged if use_envelope else None
    if judged_path is None:
        ex.ok = True
        return
    if doc is None:
        ex.ok = False
        ex.error = "answer is not JSON" + (f": {ex.excerpt!r}" if ex.excerpt else "")
        return
    value = find_first(judged_path, doc)
    if value is not None and scalar_key(value) in {scalar_key(v) for v in envelope.ok}:
        ex.ok = True
        return
    ex.ok = False
    shown = code if code is not None else value
    ex.error = ("no envelope code" if shown is None else f"envelope code {shown}") + _said(ex)


def _said(ex: Exchange) -> str:
    if ex.envelope_message:
        return f": {ex.envelope_message}"
    if ex.doc is None and ex.excerpt:
        return f": {ex.excerpt!r}"
    return ""
