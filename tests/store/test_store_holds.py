"""Maintenance windows and silences (monitor.store.maintenance), over SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.store import Store, maintenance
from monitor.store.maintenance import MaintenanceWindow, Silence


def window(title: str, at: datetime, **kw: object) -> MaintenanceWindow:
    values: dict[str, object] = {"components": ["login"], "starts_at": at, "ends_at": at + timedelta(hours=2),
                                 "created_by": "alice", "created_at": at, "timezone": "Asia/Shanghai"}
    values.update(kw)
    return MaintenanceWindow(title=title, **values)


def test_windows_round_trip_and_ended_ones_are_not_current(store: Store, t0: datetime) -> None:
    with store.session() as s:
        one = maintenance.add_window(s, window("升级", t0, title_i18n={"zh-CN": "升级", "en": "Upgrade"}))
        weekly = maintenance.add_window(s, window("每周维护", t0, ends_at=None, recurrence="0 2 * * 0",
                                                  duration_s=3600, components=[]))
        assert one.id is not None and weekly.id is not None
        s.commit()
    with store.session() as s:
        assert maintenance.end_window(s, int(one.id), t0 + timedelta(minutes=30)) is not None
        assert maintenance.end_window(s, 999, t0) is None
        s.commit()
    with store.session() as s:
        assert [w.title for w in maintenance.current_windows(s)] == ["每周维护"]
        every = {w.title: w for w in maintenance.all_windows(s)}
    assert set(every) == {"升级", "每周维护"}, "an SLO still leaves out maintenance that is over"
    assert every["升级"].ended_at == t0 + timedelta(minutes=30)
    assert every["升级"].title_i18n == {"zh-CN": "升级", "en": "Upgrade"}
    assert (every["每周维护"].recurrence, every["每周维护"].duration_s, every["每周维护"].components) == ("0 2 * * 0", 3600, [])


def test_ending_a_window_twice_keeps_the_first_end(store: Store, t0: datetime) -> None:
    with store.session() as s:
        wid = int(maintenance.add_window(s, window("升级", t0)).id or 0)
        maintenance.end_window(s, wid, t0 + timedelta(minutes=1))
        s.commit()
    with store.session() as s:
        row = maintenance.end_window(s, wid, t0 + timedelta(minutes=9))
        assert row is not None and row.ended_at == t0 + timedelta(minutes=1)


def test_config_windows_by_key_and_deleted(store: Store, t0: datetime) -> None:
    with store.session() as s:
        maintenance.add_window(s, window("a", t0, source="config", config_key="k1"))
        maintenance.add_window(s, window("b", t0, source="config", config_key="k2"))
        maintenance.add_window(s, window("by hand", t0))
        s.commit()
    with store.session() as s:
        mirrored = maintenance.config_windows(s)
        assert {k: w.title for k, w in mirrored.items()} == {"k1": "a", "k2": "b"}
        maintenance.delete_windows(s, [mirrored["k1"]])
        s.commit()
    with store.session() as s:
        assert sorted(w.title for w in maintenance.all_windows(s)) == ["b", "by hand"]


def test_silences_are_active_between_start_and_end_until_ended(store: Store, t0: datetime) -> None:
    with store.session() as s:
        a = maintenance.add_silence(s, Silence(target="登录", target_kind="check", reason="vendor", created_by="bob",
                                               created_at=t0, starts_at=t0, ends_at=t0 + timedelta(hours=1)))
        maintenance.add_silence(s, Silence(target="query", target_kind="component", created_by="bob",
                                           created_at=t0, starts_at=t0 + timedelta(minutes=10),
                                           ends_at=t0 + timedelta(hours=2)))
        s.commit()
    with store.session() as s:
        assert [x.target for x in maintenance.active_silences(s, t0)] == ["登录"]
        assert [x.target for x in maintenance.active_silences(s, t0 + timedelta(minutes=30))] == ["登录", "query"]
        assert [x.target for x in maintenance.active_silences(s, t0 + timedelta(hours=1))] == ["query"], "ends_at excluded"
        ended = maintenance.end_silence(s, int(a.id or 0), t0 + timedelta(minutes=5))
        assert ended is not None and ended.ended_at == t0 + timedelta(minutes=5)
        assert maintenance.end_silence(s, 999, t0) is None
        s.commit()
    with store.session() as s:
        assert [x.target for x in maintenance.active_silences(s, t0 + timedelta(minutes=30))] == ["query"]
