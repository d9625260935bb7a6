"""How a service's failed pass is logged (`monitor.store.engine.log_failure`): a database that
went away is one warning line with the driver's reason; a bug keeps its traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from monitor.store.engine import log_failure, unavailable

log = logging.getLogger("tests.store.failures")


def _database_error(tmp_path: Path) -> sa.exc.SQLAlchemyError:
    """A real one: SQLite cannot open a file in a folder that is not there."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    try:
        with engine.connect():
            pass
    except sa.exc.SQLAlchemyError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("the connection opened")


def test_an_unavailable_database_is_one_warning_line_with_its_reason(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    exc = _database_error(tmp_path)
    assert unavailable(exc)
    with caplog.at_level(logging.INFO, logger=log.name):
        log_failure(log, "deciding failed (%d in a row); will retry", exc, 3)
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == ("deciding failed (3 in a row); will retry "
                                   "(the database: OperationalError: unable to open database file)")


def test_anything_else_is_an_error_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    try:
        {}["state"]
    except KeyError as exc:
        with caplog.at_level(logging.INFO, logger=log.name):
            log_failure(log, "deciding failed; will retry", exc)
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.getMessage() == "deciding failed; will retry"


def test_a_refused_value_is_not_an_unavailable_database() -> None:
    engine = sa.create_engine("sqlite://")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("CREATE TABLE t (x INTEGER NOT NULL)"))
            with pytest.raises(sa.exc.IntegrityError) as caught:
                conn.execute(sa.text("INSERT INTO t VALUES (NULL)"))
    finally:
        engine.dispose()
    assert not unavailable(caught.value)
