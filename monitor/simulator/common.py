"""What every API shape's handlers share: the app key for the Simulator, JSON in and out."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from aiohttp import web

from monitor.simulator.model import Kind, SimError
from monitor.simulator.state import Simulator

SIMULATOR = web.AppKey("simulator", Simulator)

_dumps = partial(json.dumps, ensure_ascii=False)


def sim_of(request: web.Request) -> Simulator:
    return request.app[SIMULATOR]


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def parse_json(raw: bytes, *, default: Any = None) -> Any:
    """The body as JSON (`default` when empty); BAD_PARAM when it is not JSON."""
    if not raw.strip():
        return {} if default is None else default
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise SimError(Kind.BAD_PARAM, "参数错误: 请求体不是有效的JSON") from None


def as_int(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SimError(Kind.BAD_PARAM, f"参数错误: {name}不是整数") from None


def as_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SimError(Kind.BAD_PARAM, "参数错误: 请求体须为JSON对象")
    return value


def check_skew(sim: Simulator, timestamp: str, *, per_second: int) -> None:
    """A signed request's timestamp must be near the simulator clock (unless the check is off)."""
    skew = sim.settings.signature_max_skew.total_seconds()
    if skew <= 0:
        return
    try:
        sent = int(timestamp) / per_second
    except (TypeError, ValueError):
        raise SimError(Kind.BAD_TIMESTAMP, "timestamp格式不正确") from None
    if abs(sim.clock.now().timestamp() - sent) > skew:
        raise SimError(Kind.BAD_TIMESTAMP, "timestamp超出允许范围")
