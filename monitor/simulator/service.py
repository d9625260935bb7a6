"""`invoicewatch run` starts the simulator in-process when `simulator.enabled` is true.

Started first (monitor/runtime.py) so the platform is answering before the first probe runs.
It shares the monitor's clock, so a monitor driven by a FakeClock drives the simulator too.
A config reload does not restart it (that would drop its invoices and tokens); changed
simulator settings are logged as needing a restart.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from aiohttp import web

from monitor.core.errors import ListenError
from monitor.simulator.app import serve
from monitor.simulator.state import Simulator

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.config.simulator import SimulatorSection
    from monitor.core.clock import Clock

log = logging.getLogger(__name__)


class SimulatorService:
    def __init__(self, settings: SimulatorSection, *, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.simulator: Simulator | None = None
        self.url: str | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        settings = self.settings
        if not settings.enabled:
            return
        self.simulator = Simulator(self.clock, settings=settings)
        try:
            self._runner, self.url = await serve(self.simulator, settings.listen, settings.port)
        except OSError as exc:  # the checks aimed at it would probe whatever holds the port
            raise ListenError(
                f"the invoice platform simulator cannot listen on {settings.listen}:{settings.port}: "
                f"{os.strerror(exc.errno) if exc.errno else exc} (another invoicewatch running, e.g. `make run` in a terminal? "
                "stop it, or set simulator.port: 0 for any free port)") from None
        log.info("invoice platform simulator listening on %s (modes: %s)", self.url, ", ".join(settings.modes))

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def on_config(self, config: Config) -> None:
        if config.simulator != self.settings:
            log.warning("simulator settings changed; restart invoicewatch to apply them")

