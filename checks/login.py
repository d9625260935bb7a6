"""`login`: can we use the platform as an authenticated user right now?

Steps: the token (cached, or newly requested: only when none, expiring, or rejected), a cheap
authenticated call, and the tax-bureau login state where the profile has a certification
operation. Values: `token_requests` (since start, for this account: the quota figure),
`token_requests_run` (this run), token age and remaining life, rejections.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Literal

from pydantic import Field, ValidationInfo, model_validator

from checks.base import Context
from checks.platform.jsonpath import find_first
from checks.platform.references import unresolved
from checks.platform.registry import platforms_of
from checks.platform.specs import PlatformTarget, window_variables
from checks.platform.steps import Steps, finish
from monitor.core.errors import TokenUnavailable
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec


class Spec(CheckSpec, PlatformTarget):
    kind: Literal["login"]
    operation: str | None = Field(
        None, description="the cheap authenticated call (default: certification if the profile has it, else list_invoices)"
    )
    certification: bool = Field(True, description="also require the tax-bureau login, where the profile reports it")

    @model_validator(mode="after")
    def _default_operation_known(self, info: ValidationInfo) -> Spec:
        found = unresolved(info, self.platform)
        if found is not None and self.operation is None:
            cert = found.profile.certification if self.certification else None
            if cert is None:
                found.operation(("operation",), "list_invoices", " (the default; set operation: to the cheap call it has)")
                found.raise_if("login")
        return self


async def run(spec: Spec, ctx: Context) -> Result:
    registry = platforms_of(ctx, spec)
    session = registry.session(spec.platform, spec.user)
    profile = session.profile
    result = Result(spec.name, Status.UP, ctx.clock.now())
    steps = Steps()
    cache = session.tokens
    before = cache.requests if cache else 0

    if cache is not None:
        cache.allow_probe(spec.interval)  # a recovery is seen at the next run, whatever the backoff
        fresh = cache.current() is None
        t0 = time.perf_counter()
        try:
            await session.token()
        except TokenUnavailable as exc:
            steps.add("token", Status.DOWN, str(exc), latency_ms=round((time.perf_counter() - t0) * 1000, 1), values=exc.evidence)
            _token_values(result, cache, before)
            return finish(result, steps, message_ok="")
        info = cache.describe()
        note = "new token" if fresh else f"cached token, {info.get('token_age_s', 0)}s old"
        steps.add("token", Status.UP, note, latency_ms=round((time.perf_counter() - t0) * 1000, 1) if fresh else None)

    cert = profile.certification if spec.certification else None
    op = spec.operation or (cert.operation if cert else "list_invoices")
    paging = profile.operation(op).paging
    one_page = {"page": paging.first if paging else 1, "page_size": 1, "offset": 0, "limit": 1}
    ex = await session.call(op, {**window_variables(ctx.clock.now(), timedelta(minutes=5)), **one_page, **spec.variables})
    result.latency_ms = round(ex.latency_ms, 1)
    if ex.ok:
        steps.exchange("authenticated call", ex)
    else:
        what = "token rejected even after a refresh" if ex.rejected else ex.describe()
        steps.exchange("authenticated call", ex, message=what)

    if cert is not None and ex.ok:
        cex = ex if op == cert.operation else await session.call(cert.operation, spec.variables)
        state = find_first(cert.status, cex.doc) if cex.doc is not None else None
        words = cert.in_words(state)
        if not cex.ok:
            steps.exchange("tax bureau login", cex)
        elif cert.logged_in(state):
            steps.exchange("tax bureau login", cex, message=words, values={"certification": state})
        else:
            # The answer itself was a success (E0000): the cause is the state, in words.
            steps.exchange("tax bureau login", cex, status=Status.DOWN,
                           message=f"the platform account is not logged in at the tax bureau: {words}",
                           values={"certification": state, "envelope_message": f"tax bureau: {words}"})
    _token_values(result, cache, before)
    return finish(result, steps, message_ok=f"logged in to {session.label}")


def _token_values(result: Result, cache: object, before: int) -> None:
    if cache is None:
        return
    info = cache.describe()  # type: ignore[attr-defined]
    result.values.update(info)
    result.values["token_requests_run"] = cache.requests - before  # type: ignore[attr-defined]
