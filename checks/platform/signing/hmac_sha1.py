"""`hmac-sha1`, Nuonuo-style: HMAC-SHA1 with the app secret over a message template, base64.

Nuonuo's open API signs `a=services&l=v1&p=open&k={appKey}&i={senid}&n={nonce}&t={timestamp}&f={body}`
and sends the result in the `X-Nuonuo-Sign` header; both the message and where it goes are
options here, so a platform that signs another string is a YAML change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

from pydantic import Field

from checks.platform.signing import Outgoing, Render, SigningBase

NUONUO_MESSAGE = "a=services&l=v1&p=open&k={appKey}&i={senid}&n={nonce}&t={timestamp}&f={body}"


class Options(SigningBase):
    scheme: Literal["hmac-sha1"]
    message: str = Field(NUONUO_MESSAGE, description="template of the signed text; {body} is the exact body")
    header: str | None = Field("X-Nuonuo-Sign", description="put the signature in this header")
    param: str | None = Field(None, description="or in this query parameter")
    encoding: Literal["base64", "hex"] = "base64"


def signature(secret: str, message: str, encoding: str = "base64") -> str:
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()


def sign(request: Outgoing, options: Options, render: Render) -> None:
    body = request.body.decode("utf-8", errors="replace")
    # {body} is substituted last and literally: a JSON body's braces are not placeholders.
    head, sep, tail = options.message.partition("{body}")
    message = render(head) + (body + render(tail) if sep else "")
    value = signature(render(options.secret), message, options.encoding)
    if options.header:
        request.headers[options.header] = value
    if options.param:
        request.params[options.param] = value
