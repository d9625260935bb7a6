"""The schema: one linear Alembic chain, migrations that build exactly the models, and databases
made by the first releases (four Alembic roots) adopted in place with their data, on SQLite
and PostgreSQL.

The first releases' migration scripts are kept unchanged in tests/store/legacy_migrations;
`legacy_database` runs them with Alembic into a fresh database and writes rows the way those
releases did (naive UTC times, JSON as JSON), so nothing here trusts the new models to build
the old schema.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from monitor.core.errors import StoreError
from monitor.core.results import Result, Status
from monitor.store import Store, announcements, incidents, maintenance, metadata, migrate, outbox, slo
from monitor.store.canaries import SqlCanaryLedger
from monitor.store.engine import make_engine
from monitor.store.migrate import LEGACY_EQUIVALENT, LEGACY_HEADS, LEGACY_REVISIONS, scripts

LEGACY = Path(__file__).parent / "legacy_migrations"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
NAIVE = T0.replace(tzinfo=None)  # what the first releases stored: naive UTC


def versions(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return sorted(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def schema_diff(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        return list(compare_metadata(context, metadata()))


def legacy_upgrade(url: str, target: str = "heads") -> None:
    """Run the first releases' migrations, as their Store.migrate() did (`upgrade heads`)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(LEGACY))
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, target)
    finally:
        engine.dispose()


def legacy_rows(url: str) -> None:
    """One row in every table, through tables reflected from the database itself."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            meta = sa.MetaData()
            meta.reflect(conn)
            t = meta.tables

            def insert(name: str, **values: Any) -> Any:
                return conn.execute(sa.insert(t[name]).values(**values)).inserted_primary_key[0]  # type: ignore[index]

            insert("check_result", ts=NAIVE, check="登录", location="", status="down", latency_ms=12.5,
                   message="refused", phases={"total": 12.5}, values=None, detail=None)
            insert("check_state", check="登录", location="", status="down", since=NAIVE, last_result_at=NAIVE,
                   last_status="down", last_latency_ms=12.5, last_message="refused", data={"fails": 3})
            iid = insert("incident", component="login", title="登录中断", status="investigating", impact="critical",
                         started_at=NAIVE, detected_at=NAIVE, root_check="登录", data={"checks": ["登录"]},
                         public=True, updated_at=NAIVE)
            insert("incident_update", incident_id=iid, at=NAIVE, status="investigating", kind="auto",
                   message="opened", data={"action": "opened"})
            insert("component_status", component="login", status="major_outage", since=NAIVE, updated_at=NAIVE)
            insert("component_status_change", component="login", at=NAIVE, status="major_outage")
            insert("maintenance_window", title="升级", components=["login"], starts_at=NAIVE,
                   ends_at=NAIVE + timedelta(hours=2), timezone="Asia/Shanghai", created_by="alice",
                   created_at=NAIVE, source="cli")
            insert("silence", target="登录", target_kind="check", reason="vendor", created_by="bob",
                   created_at=NAIVE, starts_at=NAIVE, ends_at=NAIVE + timedelta(hours=1))
            insert("slo_status", slo="login", component="login", objective=0.995, good=10, total=11,
                   alert="page", alert_since=NAIVE, updated_at=NAIVE)
            oid = insert("outbox", key=f"incident:{iid}:opened", channel="oncall", target_index=0,
                         event="incident.opened", incident_id=iid, component="login", severity="critical",
                         audience="oncall", language="zh-CN", title="t", body="b", body_format="text",
                         status="pending", attempts=0, next_attempt_at=NAIVE, created_at=NAIVE)
            insert("delivery_attempt", outbox_id=oid, at=NAIVE, ok=False, error="timeout", duration_ms=5.0)
            insert("announcement", incident_id=iid, components=["login"], status="published",
                   title={"zh-CN": "登录故障"}, body={"zh-CN": {"phenomenon": "无法登录"}}, manual=False,
                   created_at=NAIVE, updated_at=NAIVE, revision=0)
            insert("platform_canary", platform="sim", check="canary", order_no="IWCANARY1", serial="S1",
                   state="pending", created_at=NAIVE, updated_at=NAIVE, attempts=1, variables={"buyer": "x"})
    finally:
        engine.dispose()


@pytest.fixture
def legacy_database(db_url: str) -> str:
    legacy_upgrade(db_url)
    legacy_rows(db_url)
    return db_url


# --- the chain ------------------------------------------------------------------------------


def test_alembic_sees_one_head_and_one_base() -> None:
    script = scripts()
    assert script.get_heads() == [script.get_current_head()]
    assert len(script.get_bases()) == 1
    revisions = list(script.walk_revisions())  # head first, down to the base
    assert revisions[-1].revision == LEGACY_EQUIVALENT == script.get_bases()[0]
    for newer, older in itertools.pairwise(revisions):
        assert newer.down_revision == older.revision, "linear: each revision follows the one before"
    assert all(not r.branch_labels and not r.dependencies for r in revisions)


def test_the_fixture_really_has_the_four_first_release_roots() -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(LEGACY))
    old = ScriptDirectory.from_config(cfg)
    assert set(old.get_bases()) == set(old.get_heads()) == LEGACY_REVISIONS


def test_migrate_from_empty_creates_every_table_at_the_head(db_url: str) -> None:
    store = Store(db_url)
    try:
        store.migrate()
        names = set(sa.inspect(store.engine).get_table_names())
        assert set(metadata().tables) | {"alembic_version"} <= names
        assert versions(store) == [scripts().get_current_head()]
    finally:
        store.close()


def test_migrate_twice_changes_nothing(store: Store) -> None:
    store.write_results([Result("登录", Status.UP, T0, 12.5)])
    before = versions(store)
    store.migrate()
    assert versions(store) == before and before
    assert store.count_results() == 1


def test_migrated_schema_equals_the_models(store: Store) -> None:
    """Every aggregate's tables: the migrations must build exactly what the models say."""
    assert schema_diff(store) == []


# --- a database made by the first releases ------------------------------------------------------


def test_first_release_database_is_adopted_with_its_data(legacy_database: str) -> None:
    store = Store(legacy_database)
    try:
        assert versions(store) == sorted(LEGACY_HEADS), "what the first releases leave in alembic_version"
        store.migrate()
        assert versions(store) == [scripts().get_current_head()], "exactly the one head, the old ones gone"
        assert schema_diff(store) == [], "the adopted schema is exactly the models'"

        [row] = store.results()
        assert (row.check, row.status, row.ts, row.phases) == ("登录", "down", T0, {"total": 12.5})
        state = store.state("登录")
        assert state is not None and (state.status, state.data, state.last_result_at) == ("down", {"fails": 3}, T0)
        with store.session() as s:
            [inc] = incidents.open_incidents(s)
            assert (inc.title, inc.started_at, inc.data) == ("登录中断", T0, {"checks": ["登录"]})
            assert [e.message for e in incidents.timeline(s, int(inc.id or 0))] == ["opened"]
            assert incidents.component_statuses(s)["login"].status == "major_outage"
            assert [w.title for w in maintenance.current_windows(s)] == ["升级"]
            assert [x.reason for x in maintenance.active_silences(s, T0 + timedelta(minutes=5))] == ["vendor"]
            assert slo.statuses(s)["login"].alert_since == T0
            [ann] = announcements.active(s)
            assert ann.body == {"zh-CN": {"phenomenon": "无法登录"}}
            assert outbox.keys_for_incident(s, int(inc.id or 0)) == [(f"incident:{inc.id}:opened", "incident.opened")]
        claim = outbox.claim(store.engine, [("oncall", 0)], T0, "node:1", T0 + timedelta(minutes=1))
        assert [r["key"] for r in claim.rows] == [f"incident:{inc.id}:opened"]

        ledger = SqlCanaryLedger(legacy_database)
        try:
            [canary] = asyncio.run(ledger.unfinished("sim"))
            assert (canary.order_no, canary.serial, canary.variables) == ("IWCANARY1", "S1", {"buyer": "x"})
        finally:
            asyncio.run(ledger.close())

        # The old rows' ids go on: new rows get new ids (PostgreSQL's sequences were kept).
        with store.session() as s:
            new = incidents.save(s, incidents.Incident(
                component="query", title="q", status="investigating", impact="major",
                started_at=T0, detected_at=T0, public=True,
            ))
            s.commit()
            assert new.id == int(inc.id or 0) + 1
        store.migrate()
        assert versions(store) == [scripts().get_current_head()]
    finally:
        store.close()


def test_a_database_of_an_older_development_build_is_refused_and_left_alone(db_url: str) -> None:
    """Only the four roots together are a first release; one alone cannot be adopted."""
    legacy_upgrade(db_url, "core@head")
    store = Store(db_url)
    try:
        with pytest.raises(StoreError, match="development build"):
            store.migrate()
        assert versions(store) == ["0001_core"]
        with store.engine.connect() as conn:
            assert "incident" not in sa.inspect(conn).get_table_names()
    finally:
        store.close()


def test_adoption_is_undone_when_the_upgrade_after_it_fails(legacy_database: str) -> None:
    """Stamp and upgrade share one transaction (Alembic must not commit the stamp on its own):
    an upgrade that fails after the stamp leaves the four old heads for the next try."""
    store = Store(legacy_database)
    try:
        with pytest.raises(sa.exc.SQLAlchemyError), store.engine.begin() as conn:
            assert migrate.adopt_legacy(conn, migrate.alembic_config(conn))
            assert migrate.current(conn) == {LEGACY_EQUIVALENT}
            conn.execute(sa.text("SELECT * FROM no_such_table"))  # what a broken later revision does
        assert versions(store) == sorted(LEGACY_HEADS)
        store.migrate()
        assert versions(store) == [scripts().get_current_head()]
    finally:
        store.close()
