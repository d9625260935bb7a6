"""Host names, ports and web URLs as a config may write them, checked when it loads.

Why here: an address that cannot work (`listen: 999.1.1.1`, `http://h:99999/`, a runbook of
`javascript:...`) used to pass validation and fail at run time, as a false outage or a link
that runs script. Checks (tcp, tls, platforms, flows) and the monitor's own sections (status
page, notifications, runbooks) take the same rules, so they live in the core vocabulary.
No DNS is asked: a well-formed name that does not resolve is the target's problem, seen when
the check runs.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_HOST = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_LOOKS_IPV4 = re.compile(r"^[0-9.]+$")


def host_problem(host: str) -> str | None:
    """Why `host` is neither an IP address nor a well-formed host name, or None."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare)
        return None
    except ValueError:
        pass
    if _LOOKS_IPV4.match(bare):
        return f"{host!r} is not an IP address (each of the four numbers is 0-255)"
    if ":" in bare:
        return f"{host!r} is not an IP address"
    if len(bare) > 253 or not _HOST.match(bare):
        return f"{host!r} is not a host name or IP address (letters, digits, '-' and '.', no spaces)"
    return None


def check_host(host: str) -> str:
    problem = host_problem(host)
    if problem:
        raise ValueError(problem)
    return host


def web_url_problem(url: str) -> str | None:
    """Why `url` is not an absolute http(s) URL with a host and a valid port, or None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"{parts.scheme}:" if parts.scheme else "nothing"
        return f"must be an http:// or https:// URL, not {shown}"
    if not parts.hostname:
        return "the URL has no host (write it like https://example.com/path)"
    if port == 0:
        return "port 0 is not a port one can connect to (1-65535)"
    return host_problem(parts.hostname)


def check_web_url(url: str) -> str:
    problem = web_url_problem(url)
    if problem:
        raise ValueError(problem)
    return url


# A host to connect to or bind: an IP address (IPv6 with or without brackets) or a name.
Host = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(check_host)]
# An absolute http(s) URL: where people or the monitor go (runbooks, the page, an API).
WebUrl = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(check_web_url)]
