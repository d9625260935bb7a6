"""invoicewatch: health monitor and outage alerter for an electronic-invoice platform."""

from __future__ import annotations

from monitor.core import __version__

__all__ = ["__version__"]
