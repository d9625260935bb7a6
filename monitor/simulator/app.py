"""Build the simulator's aiohttp application and serve it on 127.0.0.1."""

from __future__ import annotations

from aiohttp import web

from monitor.simulator import admin, baiwang, inbox, native, nuonuo
from monitor.simulator.common import SIMULATOR
from monitor.simulator.state import Simulator
from monitor.simulator.transport import dropped_middleware

_MODES = {"native": native.routes, "nuonuo": nuonuo.routes, "baiwang": baiwang.routes}


def create_app(sim: Simulator) -> web.Application:
    """One app for every mode in `sim.settings.modes`, plus /_admin, over one shared state."""
    app = web.Application(middlewares=[admin.guard, dropped_middleware], client_max_size=1024 * 1024)
    app[SIMULATOR] = sim
    for mode in sim.settings.modes:
        app.add_routes(_MODES[mode]())
    app.add_routes(admin.routes())
    app.add_routes(inbox.routes())

    async def release(_: web.Application) -> None:
        sim.faults.release_hangs()  # hung requests end now rather than at hang_cap

    app.on_shutdown.append(release)
    return app


async def serve(sim: Simulator, host: str = "127.0.0.1", port: int = 8900) -> tuple[web.AppRunner, str]:
    """Start the app; returns the runner (call `cleanup()` to stop) and the base URL."""
    runner = web.AppRunner(create_app(sim), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, f"http://{host}:{bound}"
