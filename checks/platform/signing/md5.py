"""`md5`, Baiwang-style: MD5 over secret + sorted parameters (key then value) + body + secret.

Baiwang's gateway puts method, appKey, timestamp, token ... in the query string and the
signature in `sign`, upper-case hex. Which parameters are left out, whether the body counts
and the case are options.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import Field

from checks.platform.signing import Outgoing, Render, SigningBase


class Options(SigningBase):
    scheme: Literal["md5"]
    param: str = Field("sign", description="query parameter that carries the signature")
    header: str | None = Field(None, description="or a header")
    include_body: bool = True
    exclude: list[str] = Field(default_factory=list, description="parameters left out of the signed text")
    uppercase: bool = True


def signed_text(secret: str, params: dict[str, str], body: bytes, *, exclude: set[str], include_body: bool) -> str:
    pairs = "".join(f"{k}{v}" for k, v in sorted(params.items()) if k not in exclude)
    middle = body.decode("utf-8", errors="replace") if include_body else ""
    return f"{secret}{pairs}{middle}{secret}"


def signature(text: str, uppercase: bool = True) -> str:
    digest = hashlib.md5(text.encode()).hexdigest()
    return digest.upper() if uppercase else digest


def sign(request: Outgoing, options: Options, render: Render) -> None:
    exclude = {options.param, *options.exclude}
    text = signed_text(render(options.secret), request.params, request.body, exclude=exclude, include_body=options.include_body)
    value = signature(text, options.uppercase)
    if options.header:
        request.headers[options.header] = value
    else:
        request.params[options.param] = value
