"""The status page: database -> `Snapshot` (view model) -> static files, plus its service.

    snapshot.build_snapshot(store, config, now) -> Snapshot      reads, decides nothing new
    render.render_site(snapshot, out_dir)                         writes every file atomically
    service.service(monitor)                                      server + regeneration loop

Modules (the `status_page:` keys are monitor/config/status_page.py): uptime (pure uptime
arithmetic), model (the dataclasses), catalog (every string per language), api (Statuspage
JSON), svg (badges, latency chart), render, internal, service. What the page reads comes from
`monitor.store.pages`.
"""

from __future__ import annotations
