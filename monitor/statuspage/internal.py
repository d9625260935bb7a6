"""The internal page (/internal/): check-level detail for IT, rendered per request, never written
to the public folder.

Shows what the public page deliberately hides: every component (private ones too), every
check's last status, latency and message (unknown at a location no node reports from), the
nodes sharing the database with their last report, and open/recent incidents with their titles, root
check, probable cause (with what to check first), folded checks, timeline and raw evidence.
Every word is from the catalog or the messages' words, in the monitor's language. Text passes through the Redactor again (results
were redacted when written; a secret added by a later reload is masked here too) and through
Jinja2 autoescaping. Who may see it is decided by the server (see server.internal_allowed).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from monitor.config import Config
from monitor.core.secrets import Redactor
from monitor.core.text import text_in
from monitor.rulebook import nodes as node_rules
from monitor.statuspage.render import META_CSP, PageContext, asset_version, environment, static_files
from monitor.statuspage.snapshot import build_snapshot, check_specs
from monitor.store import Store, nodes, pages
from notifiers.outbox import environment_for
from notifiers.render import cause_words

RECENT = timedelta(days=7)


def render_internal(store: Store, config: Config, now: datetime, redactor: Redactor) -> str:
    snap = build_snapshot(store, config, now)
    lang = config.monitor.language
    ctx = PageContext(snap, lang)
    states = pages.states_by_check(store.states())
    with store.engine.connect() as conn:
        have = pages.tables(conn)
        current = pages.current_statuses(conn, have)
        incidents = pages.incidents(conn, have, now - RECENT)
        known = nodes.listing(conn) if "monitor_node" in have else []
    silent_after = config.monitor.node_silent_after
    unheard = node_rules.unheard(known, now, silent_after)
    checks = []
    for spec in check_specs(config):
        shown: list[Any] = list(states.get(spec.name, [])) or [None]
        for st in shown:
            quiet = unheard.get(st.location) if st else None
            checks.append({
                "name": spec.name, "kind": spec.kind, "component": spec.component or "",
                "location": st.location if st else "",
                "status": "unknown" if quiet else (st.last_status if st else None) or "no_data",
                "at": st.last_result_at if st else None,
                "latency": None if st is None or st.last_latency_ms is None else f"{st.last_latency_ms:.0f} ms",
                "message": ctx.t("int_unheard", node=quiet.name, since=ctx.fmt_time(quiet.since)) if quiet
                else redactor.redact((st.last_message if st else "") or ""),
            })
    node_list = []
    for n in known:
        q = node_rules.quiet(n, now, silent_after)
        state = ctx.t("int_node_reporting") if q is None else \
            ctx.t("int_node_stopped" if q.stopped else "int_node_silent", since=ctx.fmt_time(q.since))
        node_list.append({"name": n.name, "role": n.role, "location": n.location, "at": node_rules.last_heard(n),
                          "results": n.results, "state": state})
    components = [
        {"id": c.id, "name": text_in(c.name, lang), "public": c.public,
         "status": current[c.id].status if c.id in current else "no_data"}
        for c in config.components
    ]
    env = environment_for(config)
    raw = [
        {
            "id": i.id, "component": i.component, "status": i.status,
            "title": redactor.redact(((i.data or {}).get("title_i18n") or {}).get(lang) or i.title),
            "cause": cause_words(env, lang, ((i.data or {}).get("evidence") or {}).get("cause")),
            "symptoms": list((i.data or {}).get("symptoms") or ()),
            "impact": i.impact, "public": i.public, "root_check": i.root_check or "",
            "started_at": i.started_at, "resolved_at": i.resolved_at,
            "acked": f"{i.acked_by or ''} {ctx.fmt_time(i.acked_at)}".strip() if i.acked_at else "",
            "data": json.dumps(redactor.redact_obj(i.data or {}), ensure_ascii=False, indent=2, default=str),
            "updates": [
                {"at": u.at, "status": u.status, "kind": u.kind, "author": u.author or "",
                 "action": (u.data or {}).get("action") or "", "check": (u.data or {}).get("check") or "",
                 "message": redactor.redact(u.message) if u.kind == "manual" and (u.data or {}).get("action") != "ack" else ""}
                for u in i.updates
            ],
        }
        for i in incidents
    ]
    statics = static_files()
    return environment().get_template("internal.html.j2").render(
        lang=lang, t=ctx.t, fmt_time=ctx.fmt_time, meta_csp=META_CSP, now=now, zone=ctx.zone_label(),
        css_version=asset_version(statics["static/status.css"]), checks=checks, components=components,
        incidents=raw, nodes=node_list, title=text_in(config.status_page.title, lang),
    )
