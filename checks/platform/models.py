"""The `platforms:` section: a platform described, not coded.

A profile says where the platform is (`base_url`), how to authenticate (`auth:`, one of the
schemes in `AuthSpec`), how to sign requests (`signing:`, a plug-in from `checks.platform.signing`),
how its answers report success inside an HTTP 200 (`envelope:`), which requests do what
(`operations:`, request templates with `{variables}`) and where the invoice fields sit in a
record (`fields:`, JSONPath). `profile: nuonuo` starts from a shipped profile
(checks/platform/profiles/*.yaml); the user's keys are deep-merged on top.

"""

from __future__ import annotations

from datetime import timedelta
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import ConfigDict, Discriminator, Field, Tag, model_validator

from checks.platform.jsonpath import JsonPath
from checks.platform.signing import AnySigning
from monitor.core import text
from monitor.core.addresses import WebUrl
from monitor.core.durations import Duration
from monitor.core.zones import ZoneName

PROFILES_DIR = Path(__file__).parent / "profiles"

# Scalar values an envelope code may take ("E0000", 0, true).
Scalar = str | int | float | bool


class Strict(text.Strict):
    """The config base, also accepting a key by its field name where YAML uses an alias."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RequestTemplate(Strict):
    """One HTTP request with `{variable}` placeholders in path, params, headers and bodies.

    A value that is exactly `{name}` keeps the variable's type (a number stays a number in
    JSON); `{now:%Y%m%d}` formats a time; `{{` and `}}` are literal braces.
    """

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    path: str = Field("/", description="joined to the platform's base_url; or a full http(s) URL")
    params: dict[str, Any] = Field(default_factory=dict, description="query string")
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json", description="JSON body")
    form: dict[str, Any] | None = Field(None, description="form-encoded body")
    body: str | None = Field(None, description="raw text body")
    auth: bool = Field(True, description="apply the platform's credentials (token, cookie, header)")
    sign: bool = Field(True, description="sign with the platform's signing scheme, if any")

    @model_validator(mode="after")
    def _one_body(self) -> RequestTemplate:
        bodies = [b for b in (self.json_body, self.form, self.body) if b is not None]
        if len(bodies) > 1:
            raise ValueError("a request has at most one of json:, form:, body:")
        return self


class Apply(Strict):
    """Where a token or session goes on every authenticated request."""

    header: dict[str, str] = Field(default_factory=dict, description='e.g. {Authorization: "Bearer {token}"}')
    params: dict[str, str] = Field(default_factory=dict, description="query parameters, e.g. {token: '{token}'}")


class Rejection(Strict):
    """How the platform says "your token is no longer valid" (then: one refresh, one retry)."""

    http_status: list[int] = Field(default_factory=lambda: [401], description="HTTP statuses meaning rejected")
    codes: list[Scalar] = Field(default_factory=list, description="envelope codes meaning rejected")


class TokenQuota(Strict):
    """A ceiling on token requests per account (Nuonuo: about 50 per 30 days), counted across
    restarts and `invoicewatch check` runs (checks/platform/tokens.py)."""

    requests: int = Field(ge=1, description="token requests allowed per window; at the ceiling none is sent")
    window: Duration = Field(timedelta(days=30), description="sliding window the requests are counted in")
    warn_at: float = Field(0.8, gt=0, le=1, description="tell on-call (monitor.problem) at this fraction")


class _AuthBase(Strict):
    rejected: Rejection = Field(default_factory=Rejection)
    quota: TokenQuota | None = Field(None, description="ceiling on token requests (none: no ceiling)")
    retry_backoff: Duration = Field(
        timedelta(seconds=60),
        description="after a failed token request, wait this long before asking again (doubles to max_backoff)",
    )
    max_backoff: Duration = Field(timedelta(minutes=15))
    refresh_before: Duration = Field(
        timedelta(seconds=60), description="renew this long before the token's stated expiry"
    )


class TokenAuth(_AuthBase):
    """A token call (appKey/appSecret, signed or not) returning a token and its lifetime."""

    scheme: Literal["token"]
    request: RequestTemplate
    token: JsonPath = Field(description="JSONPath of the token in the answer")
    expires_in: JsonPath | None = Field(None, description="JSONPath of its lifetime in seconds")
    lifetime: Duration | None = Field(None, description="lifetime when the answer does not say")
    envelope: bool = Field(True, description="judge the token answer by the platform's envelope")
    apply: Apply = Field(default_factory=lambda: Apply(header={"Authorization": "Bearer {token}"}))


class OAuthAuth(_AuthBase):
    """OAuth 2 client_credentials: POST grant_type=client_credentials to token_path."""

    scheme: Literal["oauth"]
    token_path: str = Field(description="path (or URL) of the token endpoint")
    client_id: str
    client_secret: str
    scope: str | None = None
    client_auth: Literal["body", "basic"] = Field("body", description="send the client in the form or as HTTP Basic")
    extra: dict[str, str] = Field(default_factory=dict, description="more form fields")
    token: JsonPath = "$.access_token"
    expires_in: JsonPath | None = "$.expires_in"
    error: JsonPath | None = Field("$.error", description="JSONPath of the error code of a refused token call")
    error_message: JsonPath | None = Field("$.error_description", description="JSONPath of its message")
    lifetime: Duration | None = None
    envelope: bool = Field(False, description="token answers are plain OAuth, not enveloped")
    apply: Apply = Field(default_factory=lambda: Apply(header={"Authorization": "Bearer {token}"}))


class FormAuth(_AuthBase):
    """A login form: the platform answers with a session cookie we then send back."""

    scheme: Literal["form"]
    request: RequestTemplate
    cookie: str = Field(description="name of the session cookie")
    lifetime: Duration | None = Field(None, description="session lifetime; unknown means until rejected")
    envelope: bool = True
    apply: Apply = Field(default_factory=lambda: Apply(header={"Cookie": "{cookie_name}={token}"}))


class HeaderAuth(Strict):
    """Static credentials (an API key header); nothing to request, nothing to cache."""

    scheme: Literal["header"]
    header: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    rejected: Rejection = Field(default_factory=Rejection)


class NoAuth(Strict):
    scheme: Literal["none"]
    rejected: Rejection = Field(default_factory=lambda: Rejection(http_status=[]))


def scheme_of(value: Any) -> Any:
    """The `scheme:` of a mapping or model, for the auth and signing unions."""
    return value.get("scheme") if isinstance(value, dict) else getattr(value, "scheme", None)


AuthSpec = Annotated[
    Annotated[TokenAuth, Tag("token")]
    | Annotated[OAuthAuth, Tag("oauth")]
    | Annotated[FormAuth, Tag("form")]
    | Annotated[HeaderAuth, Tag("header")]
    | Annotated[NoAuth, Tag("none")],
    Discriminator(
        scheme_of,
        custom_error_type="unknown_auth_scheme",
        custom_error_message="auth.scheme must be one of token, oauth, form, header, none",
    ),
]


class Envelope(Strict):
    """Many platforms report errors inside HTTP 200 bodies: {"code": "E0000", "describe": ...}.

    Success is judged by the value at `success` (when set) or at `code`, against `ok`. Baiwang
    says `"success": true` and keeps the code under errorResponse; Nuonuo and most in-house
    APIs have one `code`.
    """

    code: JsonPath | None = Field(None, description="JSONPath of the result code; none: HTTP status decides")
    success: JsonPath | None = Field(None, description="JSONPath of a success flag judged instead of code")
    ok: list[Scalar] = Field(default_factory=list, description="values meaning success")
    message: JsonPath | None = Field(None, description="JSONPath of the human message")
    forbidden: list[Scalar] = Field(default_factory=list, description="codes meaning 'not allowed for this user'")
    not_found: list[Scalar] = Field(default_factory=list, description="codes meaning 'no such invoice'")

    @model_validator(mode="after")
    def _ok_needed(self) -> Envelope:
        if (self.code is not None or self.success is not None) and not self.ok:
            raise ValueError("envelope.ok: list the values that mean success")
        return self

    @property
    def judged(self) -> str | None:
        return self.success or self.code


class Paging(Strict):
    """Page after page until a short page, `max_pages`, the `total`, or the caller's limit.

    The request template says where the numbers go, with `{page}`, `{page_size}` and
    `{offset}` (records before this page, for offset/limit APIs).
    """

    first: int = Field(1, description="number of the first page (0 or 1)")
    size: int = Field(50, ge=1, le=1000, description="records per page ({page_size})")
    max_pages: int = Field(5, ge=1, le=100)


class Operation(Strict):
    """A request template plus where its answer keeps what we want."""

    request: RequestTemplate
    items: JsonPath | None = Field(None, description="JSONPath of the list of records")
    item: JsonPath | None = Field(None, description="JSONPath of the one record")
    total: JsonPath | None = Field(None, description="JSONPath of the total count, when paged")
    extract: dict[str, JsonPath] = Field(default_factory=dict, description="name -> JSONPath of values to keep")
    paging: Paging | None = None


class Fields(Strict):
    """Where each invoice field sits inside one record (JSONPath relative to the record)."""

    number: JsonPath | None = Field(None, description="invoice number (发票号码)")
    code: JsonPath | None = Field(None, description="invoice code (发票代码); empty on 数电 invoices")
    digital_number: JsonPath | None = Field(None, description="数电 number when kept apart from number")
    date: JsonPath | None = Field(None, description="issue date/time (开票日期)")
    amount: JsonPath | None = Field(None, description="total amount, tax included (价税合计)")
    tax: JsonPath | None = Field(None, description="tax amount")
    buyer: JsonPath | None = Field(None, description="buyer name or tax id")
    status: JsonPath | list[JsonPath] | None = Field(
        None, description="JSONPath of the status; a list joins several with '/' (e.g. '1/02')"
    )
    serial: JsonPath | None = Field(None, description="the platform's serial number of the request")
    order_no: JsonPath | None = Field(
        None, description="the order number the invoice was requested with (finds canaries; keeps them out of freshness)"
    )
    fail_cause: JsonPath | None = Field(None, description="why issuance failed, when it did")
    updated_at: JsonPath | None = Field(None, description="last change, for freshness")


class Statuses(Strict):
    """Which raw status values mean what, so checks speak one vocabulary.

    Values may use `*` wildcards (`"*/02"`) for statuses joined from several fields.
    """

    pending: list[Scalar] = Field(default_factory=list, description="still being issued")
    issued: list[Scalar] = Field(default_factory=list)
    failed: list[Scalar] = Field(default_factory=list, description="final, no invoice (or no seal)")
    voided: list[Scalar] = Field(default_factory=list)
    names: dict[str, list[Scalar]] = Field(
        default_factory=dict, description="more named statuses (red_flushed, delivered, ...)"
    )

    def name_of(self, raw: Any) -> str | None:
        if raw is None:
            return None
        key = scalar_key(raw)
        table = [(n, getattr(self, n)) for n in ("pending", "issued", "failed", "voided")]
        for name, values in [*table, *self.names.items()]:
            for v in values:
                pattern = scalar_key(v)
                if key == pattern or ("*" in pattern and fnmatchcase(key, pattern)):
                    return name
        return None


class Certification(Strict):
    """The tax-bureau login state behind the platform account (a second 'login')."""

    operation: str = Field("certification", description="operation that reports the state")
    status: JsonPath = Field(description="JSONPath of the state in the answer")
    ok: list[Scalar] = Field(description="states meaning logged in")
    words: dict[str, str] = Field(
        default_factory=dict, description="state -> what it means, for alerts (e.g. {'0': 未登录税局 logged out})"
    )

    def in_words(self, state: Any) -> str:
        """The tax-bureau state as people say it, with the raw value for the record."""
        said = self.words.get(scalar_key(state))
        if said is None:
            said = "logged in" if self.logged_in(state) else ("no state in the answer" if state is None else "not logged in")
        return f"{said} (state {scalar_key(state) if state is not None else 'missing'})"

    def logged_in(self, state: Any) -> bool:
        return state is not None and scalar_key(state) in {scalar_key(v) for v in self.ok}


class User(Strict):
    """Another account on the same platform (permission checks log in as each one)."""

    credentials: dict[str, str] = Field(default_factory=dict, description="replace the platform's credentials")
    variables: dict[str, Any] = Field(default_factory=dict)


class PlatformProfile(Strict):
    """One platform, as `platforms.<name>` in the config."""

    profile: str | None = Field(None, description="start from a shipped profile: nuonuo, baiwang, simulator")
    description: str = ""
    base_url: WebUrl = Field(description="where the platform's API lives (http:// or https://)")
    sandbox: bool = Field(False, description="a test platform: canary invoices are allowed")
    allow_production_issuance: bool = Field(
        False, description="allow canary invoices on a production platform (they are voided at once)"
    )
    verify_tls: bool = True
    timeout: Duration = Field(timedelta(seconds=10), description="per request")
    timezone: ZoneName = Field("Asia/Shanghai", description="zone of times the platform writes without one")
    credentials: dict[str, str] = Field(
        default_factory=dict, description="appKey, appSecret, ... (use ${ENV}); always masked in output"
    )
    requires: list[str] = Field(default_factory=list, description="credentials the profile needs")
    variables: dict[str, Any] = Field(default_factory=dict, description="more {variables} for templates")
    auth: AuthSpec = Field(default_factory=lambda: NoAuth(scheme="none"))
    signing: AnySigning | None = None
    envelope: Envelope = Field(default_factory=Envelope)
    operations: dict[str, Operation] = Field(default_factory=dict)
    fields: Fields = Field(default_factory=Fields)
    statuses: Statuses = Field(default_factory=Statuses)
    certification: Certification | None = None
    users: dict[str, User] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _start_from_profile(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("profile"), str):
            return deep_merge(shipped_profile(data["profile"]), data)
        return data

    @model_validator(mode="after")
    def _complete(self) -> PlatformProfile:
        missing = [k for k in self.requires if not self.credentials.get(k)]
        if missing:
            who = f"the {self.profile} profile" if self.profile else "this platform"
            raise ValueError(f"credentials: missing {', '.join(missing)} ({who} needs {', '.join(self.requires)})")
        if self.certification and self.certification.operation not in self.operations:
            raise ValueError(f"certification.operation {self.certification.operation!r} is not under operations:")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def may_issue(self) -> bool:
        return self.sandbox or self.allow_production_issuance

    def canary_lookups(self) -> list[str]:
        """The operations that can tell us about one canary, best first: by serial
        (get_invoice), by order number (find_by_order), or through the list (fields.order_no)."""
        ways: list[str] = [op for op in ("get_invoice", "find_by_order") if op in self.operations]
        if "list_invoices" in self.operations and self.fields.order_no is not None:
            ways.append("list_invoices")
        return ways

    def operation(self, name: str) -> Operation:
        try:
            return self.operations[name]
        except KeyError:
            known = ", ".join(sorted(self.operations)) or "none"
            raise KeyError(f"the platform has no operation {name!r} (it has: {known})") from None


def scalar_key(value: Any) -> str:
    """Compare codes across JSON types: True/"true", 0/"0" are the same code."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def shipped_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


@cache
def _load_profile(name: str) -> dict[str, Any]:
    data = yaml.safe_load((PROFILES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def shipped_profile(name: str) -> dict[str, Any]:
    if name not in shipped_profiles():
        raise ValueError(f"unknown profile {name!r} (shipped: {', '.join(shipped_profiles())})")
    return _load_profile(name)


def deep_merge(base: Any, over: Any) -> Any:
    """`over` wins; mappings merge key by key, everything else (lists included) is replaced.

    A mapping naming a different `scheme:` replaces the shipped one whole (switching a profile
    from token to oauth must not inherit the token call's keys).
    """
    if isinstance(base, dict) and isinstance(over, dict):
        if "scheme" in over and over.get("scheme") != base.get("scheme"):
            return over  # another auth/signing scheme: nothing of the old one applies
        out = dict(base)
        for key, value in over.items():
            out[key] = deep_merge(base[key], value) if key in base else value
        return out
    return over
