"""A realistic e-invoice platform on 127.0.0.1, with faults on demand (see API.md).

    sim = Simulator(clock, seed=7)          # state: users, tokens, invoices, issuance, faults
    app = create_app(sim)                   # aiohttp app: /openapi, /nuonuo, /baiwang, /_admin
    runner, url = await serve(sim, port=0)  # or serve it yourself

The `simulator:` config section is monitor/config/simulator.py. Module map: model (invoices, failure kinds), invoices (the
generated stream), tokens (lifetime, quota), issuance (issue, void, red-flush), faults (catalog
and state), state (Simulator), transport (HTTP-level faults), native / nuonuo / baiwang (the
three API shapes), signing (the two signatures), admin (/_admin), app, service (`invoicewatch run`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.simulator.app import create_app, serve
    from monitor.simulator.state import Simulator

# Loaded on first use: `simulate` commands that only talk to a running simulator should not
# pull in aiohttp.
_WHERE = {
    "create_app": "monitor.simulator.app",
    "serve": "monitor.simulator.app",
    "Simulator": "monitor.simulator.state",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'monitor.simulator' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)


__all__ = ["Simulator", "create_app", "serve"]
