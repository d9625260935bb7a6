"""invoicewatch: health monitor and outage alerter for an electronic-invoice platform."""

from __future__ import annotations

__version__ = "0.1.0"
