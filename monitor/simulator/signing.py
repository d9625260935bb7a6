"""The two request signatures, exactly as API.md states them (the simulator verifies with these).

Kept free of aiohttp and simulator state so a reader can check them against the text in
API.md at a glance, and tests can sign requests the way a client would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping


def nuonuo_text(app_key: str, senid: str, nonce: str, timestamp: str, body: str,
                path: tuple[str, str, str] = ("open", "v1", "services")) -> str:  # fmt: skip
    """`a=<api>&l=<version>&p=<prefix>&k=…&i=…&n=…&t=…&f=<body>` for a path /<prefix>/<version>/<api>."""
    prefix, version, api = path
    return f"a={api}&l={version}&p={prefix}&k={app_key}&i={senid}&n={nonce}&t={timestamp}&f={body}"


def nuonuo_sign(app_secret: str, app_key: str, senid: str, nonce: str, timestamp: str, body: str) -> str:
    """base64(HMAC-SHA1(appSecret, text)): the X-Nuonuo-Sign header."""
    text = nuonuo_text(app_key, senid, nonce, timestamp, body)
    digest = hmac.new(app_secret.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def baiwang_sign(app_secret: str, params: Mapping[str, str], body: str) -> str:
    """upper(md5(secret + k1v1k2v2… (sorted by name, `sign` left out) + body + secret))."""
    pairs = "".join(f"{k}{v}" for k, v in sorted(params.items()) if k != "sign")
    return hashlib.md5(f"{app_secret}{pairs}{body}{app_secret}".encode()).hexdigest().upper()


def same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
