"""The machine-readable page: Atlassian Statuspage v2 shapes built from a Snapshot.

    api/v2/summary.json     page, status, components, unresolved incidents, scheduled maintenances
    api/v2/status.json      page, status
    api/v2/components.json  page, components
    api/v2/incidents.json   page, the 50 newest incidents (open and resolved)
    api/v2/incidents/unresolved.json, api/v2/scheduled-maintenances.json

Names and update bodies are in the page's default language and are the same public texts the
HTML shows (templated titles, human-written updates). A component without any status yet is
reported as "no_data" with `"no_data": true` (never as operational: nothing says it works);
it does not count towards the page indicator. Times carry the configured zone's offset.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5
from zoneinfo import ZoneInfo

from monitor.core.text import text_in
from monitor.statuspage.catalog import Translator
from monitor.statuspage.model import (
    NO_DATA,
    SEVERITY,
    ComponentView,
    IncidentView,
    MaintenanceView,
    Snapshot,
)

INCIDENT_LIMIT = 50


class Api:
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.lang = snap.page.language
        self.t = Translator(self.lang)
        self.tz = ZoneInfo(snap.page.timezone)
        self.page = {
            "id": snap.page.name,
            "name": text_in(snap.page.title, self.lang),
            "url": snap.page.public_url or "",
            "time_zone": snap.page.timezone,
            "updated_at": self.time(snap.generated_at),
        }
        self._components = {c.id: c for c in snap.components}

    def time(self, when: datetime | None) -> str | None:
        return None if when is None else when.astimezone(self.tz).isoformat(timespec="milliseconds")

    # documents ------------------------------------------------------------------------------
    def files(self) -> dict[str, bytes]:
        components = self.components()
        status = self.status()
        unresolved = [self.incident(i) for i in self.snap.active_incidents]
        recent = sorted(
            [*self.snap.active_incidents, *self.snap.past_incidents],
            key=lambda i: (i.started_at or i.detected_at or self.snap.generated_at, i.id),
            reverse=True,
        )[:INCIDENT_LIMIT]
        maintenances = [self.maintenance(m) for m in (*self.snap.maintenance_active, *self.snap.maintenance_planned)]
        docs = {
            "summary.json": {
                "page": self.page, "status": status, "components": components,
                "incidents": unresolved, "scheduled_maintenances": maintenances,
            },
            "status.json": {"page": self.page, "status": status},
            "components.json": {"page": self.page, "components": components},
            "incidents.json": {"page": self.page, "incidents": [self.incident(i) for i in recent]},
            "incidents/unresolved.json": {"page": self.page, "incidents": unresolved},
            "scheduled-maintenances.json": {"page": self.page, "scheduled_maintenances": maintenances},
        }
        return {f"api/v2/{name}": dump(doc) for name, doc in docs.items()}

    def status(self) -> dict[str, str]:
        overall = self.snap.overall
        return {"indicator": overall.indicator, "description": self.t(f"overall_{overall.indicator if overall.status != NO_DATA else NO_DATA}")}

    def components(self) -> list[dict[str, Any]]:
        out = [self.component(c) for c in self.snap.components]
        groups: dict[str, list[ComponentView]] = {}
        for c in self.snap.components:
            if c.group:
                groups.setdefault(c.group, []).append(c)
        for position, (name, members) in enumerate(groups.items(), start=len(out)):
            known = [m.status for m in members if m.status in SEVERITY]
            worst = max(known, key=SEVERITY.__getitem__) if known else "operational"
            out.append({
                "id": _group_id(name), "name": name, "status": worst,
                "created_at": None, "updated_at": self.time(max((m.updated_at for m in members if m.updated_at), default=None)),
                "position": position, "description": None, "showcase": False, "start_date": None,
                "group_id": None, "page_id": self.page["id"], "group": True, "only_show_if_degraded": False,
                "components": [m.id for m in members],
            })
        return out

    def component(self, c: ComponentView) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": c.id,
            "name": text_in(c.name, self.lang),
            "status": c.status if c.status in SEVERITY else NO_DATA,
            "created_at": None,
            "updated_at": self.time(c.updated_at or c.since),
            "position": c.position,
            "description": text_in(c.description, self.lang) or None,
            "showcase": True,
            "start_date": None,
            "group_id": _group_id(c.group) if c.group else None,
            "page_id": self.page["id"],
            "group": False,
            "only_show_if_degraded": False,
            "uptime": {w: (None if v is None else float(v)) for w, v in c.uptime.items()},
        }
        if c.status == NO_DATA:
            doc["no_data"] = True
        if c.affected is not None:
            doc["affected_by"] = c.affected.by
            doc["measurable"] = not c.affected.measuring
        return doc

    def incident_title(self, i: IncidentView) -> str:
        return self.t("incident_title", component=text_in(i.component_name, self.lang), impact=self.t(f"impact_{i.impact}"))

    def update_body(self, i: IncidentView, message: str | None, status: str) -> str:
        if message is not None:
            return message
        return self.t(f"auto_update_{status}", component=text_in(i.component_name, self.lang))

    def incident(self, i: IncidentView) -> dict[str, Any]:
        comps = [self._components[c] for c in i.components or (i.component,) if c in self._components]
        monitoring = min((u.at for u in i.updates if u.status == "monitoring"), default=None)
        return {
            "id": str(i.id),
            "name": self.incident_title(i),
            "status": i.status,
            "created_at": self.time(i.detected_at or i.started_at),
            "updated_at": self.time(i.updated_at),
            "monitoring_at": self.time(monitoring),
            "resolved_at": self.time(i.resolved_at),
            "impact": i.impact,
            "shortlink": self._link(f"history.html#incident-{i.id}"),
            "started_at": self.time(i.started_at or i.detected_at),
            "page_id": self.page["id"],
            "incident_updates": [
                {
                    "id": str(u.id), "status": u.status, "body": self.update_body(i, u.message, u.status),
                    "incident_id": str(i.id), "created_at": self.time(u.at), "updated_at": self.time(u.at),
                    "display_at": self.time(u.at), "affected_components": None,
                    "deliver_notifications": True, "custom_tweet": None, "tweet_id": None,
                }
                for u in i.updates
            ],
            "components": [self.component(c) for c in comps],
        }

    def maintenance(self, m: MaintenanceView) -> dict[str, Any]:
        ident = f"{m.id}-{int(m.starts_at.timestamp())}"
        return {
            "id": ident,
            "name": text_in(m.title, self.lang),
            "status": "in_progress" if m.active else "scheduled",
            "created_at": None,
            "updated_at": self.time(self.snap.generated_at),
            "monitoring_at": None,
            "resolved_at": None,
            "impact": "maintenance",
            "shortlink": self._link("index.html#maintenance"),
            "started_at": self.time(m.starts_at),
            "page_id": self.page["id"],
            "incident_updates": [],
            "components": [self.component(self._components[cid]) for cid, _ in m.components if cid in self._components],
            "scheduled_for": self.time(m.starts_at),
            "scheduled_until": self.time(m.ends_at),
        }

    def _link(self, path: str) -> str | None:
        return self.snap.page.public_url + path if self.snap.page.public_url else None


def _group_id(name: str) -> str:
    return "group-" + uuid5(NAMESPACE_URL, f"invoicewatch:group:{name}").hex[:12]


def dump(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

