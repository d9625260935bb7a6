"""Staff announcements (monitor.store.announcements), over SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from monitor.store import Store, announcements
from monitor.store.announcements import AnnouncementRow


def announcement(at: datetime, **kw: object) -> AnnouncementRow:
    values: dict[str, object] = {"components": ["login"], "title": {"zh-CN": "登录故障", "en": "Login down"},
                                 "body": {"zh-CN": {"phenomenon": "无法登录", "workaround": "纸质发票"}},
                                 "created_at": at, "updated_at": at}
    values.update(kw)
    return AnnouncementRow(**values)


def test_active_announcements_newest_first_closed_left_out(store: Store, t0: datetime) -> None:
    with store.session() as s:
        a = announcements.save(s, announcement(t0, incident_id=1, next_update_at=t0 + timedelta(minutes=30)))
        b = announcements.save(s, announcement(t0, manual=True, author="alice"))
        announcements.save(s, announcement(t0, incident_id=2, status="closed", closed_at=t0))
        s.commit()
    with store.session() as s:
        assert [r.id for r in announcements.active(s)] == [b.id, a.id]
        one = announcements.for_incident(s, 1)
        assert one is not None and one.body == {"zh-CN": {"phenomenon": "无法登录", "workaround": "纸质发票"}}
        assert announcements.for_incident(s, 7) is None
        got = announcements.get(s, int(b.id or 0))
        assert got is not None and (got.manual, got.author, got.revision, got.status) == (True, "alice", 0, "published")
        assert announcements.get(s, 999) is None


def test_an_update_is_due_when_its_promised_time_has_come(store: Store, t0: datetime) -> None:
    with store.session() as s:
        announcements.save(s, announcement(t0, incident_id=1, next_update_at=t0 + timedelta(minutes=30)))
        announcements.save(s, announcement(t0, next_update_at=None))
        announcements.save(s, announcement(t0, incident_id=2, status="closed", next_update_at=t0))
        s.commit()
    with store.session() as s:
        assert announcements.update_due(s, t0 + timedelta(minutes=29)) == []
        assert [r.incident_id for r in announcements.update_due(s, t0 + timedelta(minutes=30))] == [1]


def test_one_announcement_per_incident(store: Store, t0: datetime) -> None:
    with store.session() as s:
        announcements.save(s, announcement(t0, incident_id=1))
        s.commit()
    with store.session() as s, pytest.raises(sa.exc.IntegrityError):
        announcements.save(s, announcement(t0, incident_id=1))


def test_an_update_in_place_keeps_the_row(store: Store, t0: datetime) -> None:
    with store.session() as s:
        row = announcements.save(s, announcement(t0, incident_id=1))
        s.commit()
    with store.session() as s:
        row = announcements.for_incident(s, 1)
        assert row is not None
        row.status, row.revision, row.body = "updated", 1, {"zh-CN": {"scope": "全部"}}
        announcements.save(s, row)
        s.commit()
    with store.session() as s:
        [only] = announcements.active(s)
        assert (only.status, only.revision, only.body) == ("updated", 1, {"zh-CN": {"scope": "全部"}})
