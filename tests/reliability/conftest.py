"""Fixtures of the reliability trials: a real small disk (see disk_kit)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.reliability.disk_kit import SmallDisk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """An 8 MiB tmpfs at tmp_path/disk, unmounted afterwards."""
    disk = SmallDisk(tmp_path / "disk", 8)
    require(disk.mount(), "mounting a small tmpfs (root)")
    try:
        yield disk
    finally:
        disk.free()
        disk.unmount()


# The deciding service driven by hand, and a webhook receiver, as the evaluator and notifier
# suites have them (fixtures shared by name, not copied).
from tests.evaluator.conftest import boot  # noqa: E402
from tests.notifiers.conftest import json_sink  # noqa: E402

__all__ = ["boot", "json_sink", "small_disk"]
