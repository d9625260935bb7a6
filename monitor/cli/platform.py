"""`invoicewatch platform try NAME`: fit a profile to a platform in minutes, not by reading source.

Runs each operation of the configured platform once (the token call first, as a check would)
and prints, per request: the request as sent, masked (credentials, tokens, signatures), the
raw answer (the first `--body` characters), and every mapping the profile applies to it:
envelope, items/item, each field, each status seen, extracted variables; what matched, or
why not with the override to write (checks/platform/diagnose.py).

Operations that would create or change a tax document (issue, void, red_flush, and any
cleanup operation) are not sent unless `--issue` is given; then one canary is issued,
followed and cancelled through the issuance check itself (the same guards: sandbox or
opt-in, ledger, cleanup). Variables learnt along the way (a serial and an order number from
the list, anything an operation extracts) are passed to the operations after it.
Exit 0 when every request succeeded and every mapping matched, 1 otherwise, 2 bad usage.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.app import AppState, cli, pass_app

if TYPE_CHECKING:
    from checks.platform.diagnose import Finding

WRITING = ("issue", "void", "red_flush")
_DAY = timedelta(days=1)
SECRET_KEY = re.compile(r"token|secret|passw|cookie|sign|session|ticket|auth", re.IGNORECASE)


@cli.group()
def platform() -> None:
    """Invoice platforms: try a profile against the platform it describes."""


@platform.command("try")
@click.argument("name")
@click.option("--user", help="log in as this entry of the platform's users:")
@click.option("--issue", "with_issue", is_flag=True, help="also issue, follow and cancel one canary (sandbox / opted-in only)")
@click.option("--body", "body_limit", default=1500, show_default=True, help="characters of each answer to show")
@pass_app
def try_platform(app: AppState, name: str, user: str | None, with_issue: bool, body_limit: int) -> None:
    """Run each operation of platform NAME once; show requests, answers and every mapping."""
    config = app.config
    if name not in config.platforms:
        known = ", ".join(sorted(config.platforms)) or "none"
        click.echo(f"{config.file}: no platform named {name!r} (platforms: {known})", err=True)
        sys.exit(2)
    good = asyncio.run(_try(config, name, user, with_issue, body_limit))
    sys.exit(0 if good else 1)


async def _try(config: Any, name: str, user: str | None, with_issue: bool, body_limit: int) -> bool:
    # Loaded here, not at import: `invoicewatch --help` must not pull in the probing stack.
    from checks import issuance
    from checks.client import HttpClientFactory
    from checks.platform.registry import platforms_of
    from checks.platform.templating import MissingVariable
    from monitor.core.clock import SystemClock
    from monitor.core.secrets import Redactor
    from monitor.runtime import close_context, make_context

    ctx = make_context(config, SystemClock(), HttpClientFactory(), Redactor(config.secrets))
    tracer = Tracer(ctx.redactor, body_limit)
    try:
        registry = platforms_of(ctx)
        session = registry.session(name, user)
        session.trace = tracer.exchange
        profile = session.profile
        click.echo(f"platform {name}" + (f" as {user}" if user else "") + f" at {profile.base_url}"
                   + (f" (profile {profile.profile})" if profile.profile else ""))  # fmt: skip
        now = ctx.clock.now()
        learnt: dict[str, Any] = {"since": now.replace(microsecond=0) - _DAY, "until": now, "page": 1, "page_size": 5,
                                  "offset": 0, "limit": 5}  # fmt: skip
        cleanup_ops = {op for spec in config.checks for op in getattr(spec, "cleanup", [])}
        for op_name in profile.operations:
            if op_name in WRITING or op_name in cleanup_ops:
                if not with_issue:
                    click.echo(f"\n== {op_name}: not sent (it would create or change a tax document; --issue tries it "
                               "on a canary)")  # fmt: skip
                continue
            tracer.profile, tracer.op = profile, op_name
            try:
                ex = await session.call(op_name, dict(learnt))
            except MissingVariable as exc:
                click.echo(f"\n== {op_name}: not sent: {exc}")
                continue
            learnt.update({k: v for k, v in ex.extracted.items() if not k.startswith("_") and v not in (None, "")})
            recs = session.records(ex, op_name) if ex.ok else None
            if recs:
                for key in ("serial", "order_no"):
                    if key not in learnt and recs[0].has(key):
                        learnt[key] = recs[0].get(key)
        if with_issue:
            click.echo("\n== issue -> poll -> cancel (one canary, through the issuance check)")
            tracer.profile, tracer.op, tracer.strict = profile, None, False
            spec = issuance.Spec.model_validate({"name": f"platform-try-{name}", "kind": "issuance", "platform": name})
            result = await issuance.run(spec, ctx)
            click.echo(f"\nissuance: {result.status}: {ctx.redactor.redact(result.message)}")
            tracer.good &= result.status != "down"
    finally:
        await close_context(ctx)
    click.echo("\n" + ("every request answered and every mapping matched" if tracer.good
                       else "some requests or mappings need attention (see the ✗ lines)"))  # fmt: skip
    return tracer.good


class Tracer:
    """Prints each exchange as it happens: request (masked), answer (bounded), mappings."""

    def __init__(self, redactor: Any, body_limit: int) -> None:
        self.redactor = redactor
        self.body_limit = body_limit
        self.profile: Any = None
        self.op: str | None = None
        self.good = True
        self.strict = True  # mappings count toward the verdict (not on the canary's way, where refusals are normal)

    def mask(self, text: str) -> str:
        return str(self.redactor.redact(text))

    def learn_secrets(self, ex: Any) -> None:
        """A token or session cookie in this answer is masked before the answer is shown
        (the session learns it only after this exchange)."""
        path = getattr(getattr(self.profile, "auth", None), "token", None)
        if ex.operation in ("token", "login") and path and ex.doc is not None:
            from checks.platform.jsonpath import find_first  # lazy: CLI start time (the checks stack)

            value = find_first(path, ex.doc)
            if isinstance(value, str | int):
                self.redactor.add(str(value))
        for value in ex.extracted.get("_cookies", {}).values():
            self.redactor.add(str(value))

    def exchange(self, out: Any, ex: Any) -> None:
        echo = click.echo
        echo(f"\n== {ex.operation}")
        query = "&".join(f"{k}={'***' if SECRET_KEY.search(k) else v}" for k, v in out.params.items())
        echo(self.mask(f"> {out.method} {out.url}" + (f"?{query}" if query else "")))
        for key, value in out.headers.items():
            echo(self.mask(f">   {key}: {'***' if SECRET_KEY.search(key) and key.lower() != 'content-type' else value}"))
        if out.body:
            echo(">   body: " + self.mask(_masked_body(out.body))[: self.body_limit])  # mask whole, then cut
        if ex.http_status is None:
            echo(f"< no answer after {ex.latency_ms:.0f} ms: {ex.error}")
            self.good = False
            return
        self.learn_secrets(ex)
        echo(f"< HTTP {ex.http_status} in {ex.latency_ms:.0f} ms, {len(ex.raw)} bytes; {'ok' if ex.ok else ex.error}")
        # Masked whole before it is cut: a cut through a token would leave its start unmasked.
        text = self.mask(ex.raw.decode("utf-8", errors="replace"))
        echo("<   " + text[: self.body_limit] + (" ..." if len(text) > self.body_limit else ""))
        self.good &= ex.ok or not self.strict
        if ex.doc is None or self.profile is None:
            return
        if ex.operation == "token":
            findings = _token_findings(self.profile, ex.doc)
        elif ex.operation in self.profile.operations:
            from checks.platform.diagnose import diagnose  # lazy: CLI start time (the checks stack)

            findings = diagnose(self.profile, ex.operation, ex.doc)
        else:
            findings = []
        for f in findings:
            echo(self.mask(f"  {'✓' if f.ok else '✗'} {f.key}: {f.text}"))
            if f.override:
                echo(self.mask(f"      override: {f.override}"))
            self.good &= f.ok or not self.strict


def _token_findings(profile: Any, doc: Any) -> list[Finding]:
    from checks.platform.diagnose import Finding, envelope, walk  # lazy: CLI start time (the checks stack)
    from checks.platform.jsonpath import exists

    auth = profile.auth
    out = envelope(profile.envelope, doc) if getattr(auth, "envelope", False) else []
    path = getattr(auth, "token", None)
    if path:
        if exists(path, doc):
            out.append(Finding("auth.token", True, f"{path} -> *** (masked)"))
        else:
            guess = next((p for p, v in walk(doc) if isinstance(v, str) and "token" in p.lower()), None)
            out.append(Finding("auth.token", False, f"nothing at {path}", f"auth: {{token: {guess}}}" if guess else None))
    return out


def _masked_body(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace")
    try:
        doc = json.loads(text)
    except ValueError:
        return re.sub(r"((?:client_secret|appSecret|password)=)[^&]*", r"\1***", text)
    return json.dumps(_mask_keys(doc), ensure_ascii=False)


def _mask_keys(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: "***" if SECRET_KEY.search(str(k)) and isinstance(v, str) else _mask_keys(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_mask_keys(v) for v in doc]
    return doc

