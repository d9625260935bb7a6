"""Fixtures of the command-line tests (helpers live in tests/cli/cli_kit.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.cli_kit import CHECKS, config_text, seed


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    db = f"sqlite:///{tmp_path}/m.db"
    seed(db)
    path = tmp_path / "c.yaml"
    path.write_text(config_text(db, CHECKS), encoding="utf-8")
    return path
