"""Request signing schemes, one small module each, found through SIGNERS.

A scheme module exports

    class Options(SigningBase):          # `scheme: Literal["<name>"]` plus its own keys
    def sign(request: Outgoing, options: Options, render: Render) -> None

`sign` runs last, after the request is fully built (params, headers, the exact body bytes),
and adds the signature (a header or a parameter). `render` expands `{appSecret}`-style
templates against the request's variables, so secrets stay in `credentials:`.
Adding a scheme is one module and one line in `_SIGNER_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

Render = Callable[[str], str]

_SIGNER_MODULES: dict[str, str] = {
    "hmac-sha1": "checks.platform.signing.hmac_sha1",
    "md5": "checks.platform.signing.md5",
}


class SigningBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scheme: str
    secret: str = Field("{appSecret}", description="the signing key (a template over credentials)")


@dataclass
class Outgoing:
    """A request about to be sent, in the form signers need: exact params and body bytes."""

    method: str
    url: str  # without the query string
    path: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    variables: dict[str, Any] = field(default_factory=dict)


SIGNERS: dict[str, ModuleType] = {name: importlib.import_module(path) for name, path in _SIGNER_MODULES.items()}

def _scheme_of(value: Any) -> Any:
    return value.get("scheme") if isinstance(value, dict) else getattr(value, "scheme", None)


AnySigning: Any = Annotated[
    Union[tuple(Annotated[m.Options, Tag(name)] for name, m in SIGNERS.items())],  # noqa: UP007 - built at import time
    Discriminator(
        _scheme_of,
        custom_error_type="unknown_signing_scheme",
        custom_error_message=f"signing.scheme must be one of {', '.join(SIGNERS)}",
    ),
]


def sign(request: Outgoing, options: SigningBase, render: Render) -> None:
    SIGNERS[options.scheme].sign(request, options, render)
