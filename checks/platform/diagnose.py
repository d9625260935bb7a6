"""What a profile's mappings found in one real answer, and the override to write when not.

`invoicewatch platform try NAME` runs each operation once and, for its answer, reports every
mapping the profile applies to it: the envelope (code, success, message), the record list or
record (`items:` / `item:`), each field under `fields:`, and each raw status against
`statuses:`. A mapping that matched says what; one that did not says why and proposes the
YAML override, found by looking at the answer (the list of objects in it, the record's keys
and their usual names on Chinese invoice platforms). Pure: a document and a profile in,
`Finding`s out.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from checks.platform.jsonpath import compile_path
from checks.platform.models import Envelope, Fields, Operation, PlatformProfile, scalar_key
from checks.platform.records import extract

# Usual key names per field on the platforms we know (Nuonuo, Baiwang, Aisino, in-house).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "number": ("invoiceNo", "invoiceNumber", "fphm", "invoice_no", "no", "number"),
    "code": ("invoiceCode", "fpdm", "invoice_code", "code"),
    "digital_number": ("allElectronicInvoiceNumber", "qdfphm", "digitalInvoiceNo", "eInvoiceNo"),
    "date": ("invoiceDate", "invoiceTime", "kprq", "issueTime", "issuedAt", "issued", "date"),
    "amount": ("totalAmount", "taxIncludedAmount", "invoiceTotalPriceTax", "jshj", "amount", "total"),
    "tax": ("taxAmount", "invoiceTotalTax", "se", "tax"),
    "buyer": ("buyerName", "gmfmc", "buyer", "purchaserName"),
    "status": ("status", "invoiceStatus", "state", "fpzt"),
    "serial": ("serialNo", "invoiceSerialNum", "fpqqlsh", "serial", "id"),
    "order_no": ("orderNo", "orderNumber", "ddh", "order"),
    "fail_cause": ("failCause", "errorMessage", "failReason", "message"),
    "updated_at": ("updateTime", "updatedAt", "modifyTime", "updated"),
}
CODE_KEYS = ("code", "errcode", "resultCode", "returnCode", "status")
MESSAGE_KEYS = ("describe", "message", "msg", "errmsg", "resultMsg", "returnMsg")


@dataclass(frozen=True)
class Finding:
    """One mapping: `key` (the YAML key path), what it found, and the override when it did not."""

    key: str
    ok: bool
    text: str
    override: str | None = None


def short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def walk(doc: Any, path: str = "$", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Every (JSONPath, value) in a document, breadth before depth is not needed: small answers."""
    yield path, doc
    if depth > 6:
        return
    if isinstance(doc, dict):
        for key, value in doc.items():
            name = f"{path}.{key}" if str(key).isidentifier() else f"{path}['{key}']"
            yield from walk(value, name, depth + 1)
    elif isinstance(doc, list) and doc:
        yield from walk(doc[0], f"{path}[0]", depth + 1)


def _at(path: str, doc: Any) -> tuple[bool, Any]:
    matches = compile_path(path).find(doc)
    return (True, matches[0].value) if matches else (False, None)


def _top_keys(doc: Any) -> str:
    return ", ".join(map(str, list(doc)[:12])) if isinstance(doc, dict) else type(doc).__name__


def envelope(env: Envelope, doc: Any) -> list[Finding]:
    out: list[Finding] = []
    if env.judged is None:
        return [Finding("envelope", True, "none configured: the HTTP status alone decides")]
    # Judged by a success flag (Baiwang): the code and message exist only on errors.
    flag_ok = env.success is not None and scalar_key(_at(env.success, doc)[1]) in {scalar_key(v) for v in env.ok}
    for name, path in (("code", env.code), ("success", env.success)):
        if path is None:
            continue
        found, value = _at(path, doc)
        if not found and flag_ok and name == "code":
            out.append(Finding("envelope.code", True, f"{path}: absent, as on every success (only errors carry it)"))
            continue
        if not found:
            guess = next((p for p, _ in walk(doc) if p.rsplit(".", 1)[-1] in CODE_KEYS), None)
            out.append(Finding(f"envelope.{name}", False, f"nothing at {path} (top-level keys: {_top_keys(doc)})",
                               f"envelope: {{{name}: {guess}}}" if guess else None))  # fmt: skip
            continue
        judged = path == env.judged
        good = scalar_key(value) in {scalar_key(v) for v in env.ok}
        verdict = ("a success (one of " + ", ".join(map(str, env.ok)) + ")") if good else "not a success value"
        out.append(Finding(f"envelope.{name}", good or not judged, f"{path} -> {short(value)}" + (f": {verdict}" if judged else "")))
    if env.message is not None:
        found, value = _at(env.message, doc)
        if not found and flag_ok:
            out.append(Finding("envelope.message", True, f"{env.message}: absent, as on every success"))
        elif found:
            out.append(Finding("envelope.message", True, f"{env.message} -> {short(value)}"))
        else:
            guess = next((p for p, _ in walk(doc) if p.rsplit(".", 1)[-1] in MESSAGE_KEYS), None)
            out.append(Finding("envelope.message", False, f"nothing at {env.message}",
                               f"envelope: {{message: {guess}}}" if guess else None))  # fmt: skip
    return out


def records(op_name: str, op: Operation, doc: Any) -> tuple[list[Finding], list[Any]]:
    """The record list (or record) of an answer, and what the mapping found. When the mapping
    finds none, the list it proposes is returned, so the fields can be judged all the same."""
    key = f"operations.{op_name}.{'items' if op.items else 'item'}"
    path = op.items or op.item
    if path is None:
        return [], []
    found, value = _at(path, doc)
    if op.items:
        if found and isinstance(value, list):
            return [Finding(key, True, f"{path} -> {len(value)} record(s)")], value
        lists = [p for p, v in walk(doc) if isinstance(v, list) and v and isinstance(v[0], dict)]
        why = f"nothing at {path}" if not found else f"{path} is a {type(value).__name__}, not a list"
        finding = Finding(key, False, f"{why} (top-level keys: {_top_keys(doc)})" + (
            f"; the fields below are judged on the list at {lists[0]}" if lists else ""),
            f"{key}: {lists[0]}" if lists else None)  # fmt: skip
        return [finding], (_at(lists[0], doc)[1] if lists else [])
    if found and isinstance(value, dict):
        return [Finding(key, True, f"{path} -> one record")], [value]
    objects = [p for p, v in walk(doc) if isinstance(v, dict) and any(k in v for k in SYNONYMS["number"] + SYNONYMS["serial"])]
    return [Finding(key, False, f"nothing at {path}" if not found else f"{path} is not an object",
                    f"{key}: {objects[0]}" if objects else None)], []  # fmt: skip


def fields(mapping: Fields, record: Any) -> list[Finding]:
    out: list[Finding] = []
    keys = [str(k) for k in record] if isinstance(record, dict) else []
    for name in Fields.model_fields:
        path = getattr(mapping, name)
        paths = path if isinstance(path, list) else [path] if path else []
        if not paths:
            guess = _guess(name, keys)
            if guess:
                out.append(Finding(f"fields.{name}", False, f"not mapped; the record has {guess}",
                                   f"fields: {{{name}: $.{guess}}}"))  # fmt: skip
            continue
        for p in paths:
            found, value = _at(p, record)
            if found:
                note = " (empty)" if value in ("", None) else ""
                out.append(Finding(f"fields.{name}", True, f"{p} -> {short(value)}{note}"))
            else:
                guess = _guess(name, keys)
                out.append(Finding(f"fields.{name}", False, f"nothing at {p} (the record has: {', '.join(keys[:15])})",
                                   f"fields: {{{name}: $.{guess}}}" if guess else None))  # fmt: skip
    return out


def _guess(name: str, keys: list[str]) -> str | None:
    lowered = {k.lower(): k for k in keys}
    for synonym in SYNONYMS.get(name, ()):
        if synonym.lower() in lowered:
            return lowered[synonym.lower()]
    close = difflib.get_close_matches(name, keys, n=1, cutoff=0.75)
    return close[0] if close else None


def statuses(profile: PlatformProfile, recs: list[Any]) -> list[Finding]:
    """Each raw status seen in these records, against the `statuses:` table."""


    out: list[Finding] = []
    seen: dict[str, None] = {}
    for raw in recs:
        value = extract(raw, profile.fields).get("status")
        if value is not None:
            seen.setdefault(scalar_key(value))
    for value in seen:
        name = profile.statuses.name_of(value)
        if name:
            out.append(Finding("statuses", True, f"{value!r} -> {name}"))
        else:
            out.append(Finding("statuses", False, f"{value!r} is in no list (pending, issued, failed, voided, names)",
                               f"statuses: {{issued: [{value!r}]}}   # or pending / failed / voided / names.red_flushed"))  # fmt: skip
    return out


def diagnose(profile: PlatformProfile, op_name: str, doc: Any) -> list[Finding]:
    """Every mapping of one operation's answer."""
    op = profile.operation(op_name)
    out = envelope(profile.envelope, doc)
    if not all(f.ok for f in out if f.key in ("envelope.code", "envelope.success")):
        return [*out, Finding("records", True, "not judged: the answer is an error, not records")]
    cert = profile.certification
    if cert is not None and cert.operation == op_name:
        ok, state = _at(cert.status, doc)
        out.append(Finding("certification.status", ok, f"{cert.status} -> {short(state)}: {cert.in_words(state)}" if ok
                           else f"nothing at {cert.status} (top-level keys: {_top_keys(doc)})"))  # fmt: skip
    found, recs = records(op_name, op, doc)
    out += found
    if recs:
        out += fields(profile.fields, recs[0])
        out += statuses(profile, recs)
    for name, path in op.extract.items():
        ok, value = _at(path, doc)
        out.append(Finding(f"operations.{op_name}.extract.{name}", ok,
                           f"{path} -> {short(value)}" if ok else f"nothing at {path}"))  # fmt: skip
    return out
