"""What YAML can now say (issue 15.7), on two in-house APIs written here, nothing like the
simulator:

- `tasks`: issuance is a task; the task poll is the only place the invoice id appears, and the
  void needs that id (`/invoices/{invoice_id}/cancel`). Variables extracted by the poll reach
  the cleanup and the sweep.
- `flat`: no get-one-invoice endpoint at all; the canary is followed through the list
  (`fields.order_no`), and voiding twice answers 409.

Both monitored with issuance and lifecycle: up on every run, no canary left, no second void.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from checks.platform.sweep import recover
from monitor.core.clock import FakeClock
from monitor.core.results import Status

ISSUE_DELAY = timedelta(seconds=4)


class Books:
    """The invoices both apps keep, on the test's clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.tasks: dict[str, dict[str, Any]] = {}
        self.ids = itertools.count(1)
        self.second_voids = 0

    def submit(self, order: str) -> dict[str, Any]:
        for task in self.tasks.values():
            if task["order"] == order:
                raise web.HTTPConflict(text='{"error": "duplicate order"}', content_type="application/json")
        n = next(self.ids)
        task = {"id": f"T{n}", "order": order, "at": self.clock.now(), "invoice": f"INV-{n}", "number": f"2611{n:016d}",
                "cancelled": False}  # fmt: skip
        self.tasks[task["id"]] = task
        return task

    def state(self, task: dict[str, Any]) -> str:
        if task["cancelled"]:
            return "cancelled"
        return "issued" if self.clock.now() - task["at"] >= ISSUE_DELAY else "running"

    def view(self, task: dict[str, Any]) -> dict[str, Any]:
        state = self.state(task)
        out = {"id": task["id"], "orderNo": task["order"], "state": state, "updated": self.clock.now().isoformat()}
        if state != "running":  # the invoice id exists only once the task is done
            out.update(invoiceId=task["invoice"], invoiceNo=task["number"])
        return out

    def cancel(self, key: str, by: str) -> web.Response:
        task = next((t for t in self.tasks.values() if t[by] == key), None)
        if task is None:
            return web.json_response({"error": "no such invoice"}, status=404)
        if self.state(task) != "issued":
            self.second_voids += task["cancelled"]
            return web.json_response({"error": f"cannot cancel a {self.state(task)} invoice"}, status=409)
        task["cancelled"] = True
        return web.json_response({"ok": True})

    def outstanding(self) -> list[str]:
        return [t["order"] for t in self.tasks.values() if not t["cancelled"]]


def tasks_app(books: Books) -> web.Application:
    async def submit(request: web.Request) -> web.Response:
        return web.json_response({"task": {"id": books.submit((await request.json())["order"])["id"]}})

    async def task(request: web.Request) -> web.Response:
        found = books.tasks.get(request.match_info["id"])
        return web.json_response({"task": books.view(found)} if found else {"error": "no such task"}, status=200 if found else 404)

    async def by_order(request: web.Request) -> web.Response:
        return web.json_response({"tasks": [books.view(t) for t in books.tasks.values() if t["order"] == request.query["order"]]})

    async def cancel(request: web.Request) -> web.Response:
        return books.cancel(request.match_info["invoice"], "invoice")

    app = web.Application()
    app.add_routes([web.post("/tasks", submit), web.get("/tasks", by_order), web.get("/tasks/{id}", task),
                    web.post("/invoices/{invoice}/cancel", cancel)])  # fmt: skip
    return app


def flat_app(books: Books) -> web.Application:
    async def submit(request: web.Request) -> web.Response:
        return web.json_response({"id": books.submit((await request.json())["order"])["id"]})

    async def listing(request: web.Request) -> web.Response:
        since = datetime.fromisoformat(request.query["since"])
        return web.json_response({"items": [books.view(t) for t in books.tasks.values() if t["at"] >= since]})

    async def void(request: web.Request) -> web.Response:
        return books.cancel(request.match_info["id"], "id")

    app = web.Application()
    app.add_routes([web.post("/issue", submit), web.get("/invoices", listing), web.post("/invoices/{id}/void", void)])
    return app


COMMON = """
    sandbox: true
    fields: {number: $.invoiceNo, status: $.state, serial: $.id, order_no: $.orderNo, updated_at: $.updated}
    statuses: {pending: [running], issued: [issued], voided: [cancelled]}
"""


def config(tasks_url: str, flat_url: str) -> str:
    return f"""
platforms:
  tasks:
    base_url: {tasks_url}
{COMMON}
    operations:
      issue: {{request: {{method: POST, path: /tasks, json: {{order: "{{order_no}}"}}}}, extract: {{serial: $.task.id}}}}
      get_invoice:
        request: {{path: "/tasks/{{serial}}"}}
        item: $.task
        extract: {{invoice_id: $.task.invoiceId}}       # only the task poll knows it
      find_by_order: {{request: {{path: /tasks, params: {{order: "{{order_no}}"}}}}, item: "$.tasks[0]"}}
      void: {{request: {{method: POST, path: "/invoices/{{invoice_id}}/cancel"}}}}
  flat:
    base_url: {flat_url}
{COMMON}
    operations:
      issue: {{request: {{method: POST, path: /issue, json: {{order: "{{order_no}}"}}}}, extract: {{serial: $.id}}}}
      list_invoices: {{request: {{path: /invoices, params: {{since: "{{since:iso}}"}}}}, items: $.items}}
      void: {{request: {{method: POST, path: "/invoices/{{serial}}/void"}}}}
checks:
"""  + "".join(f"""
  - {{name: {p}-issue, kind: issuance, platform: {p}, cleanup: [void], poll_every: 1s, deadline: 20s, timeout: 30s}}
  - name: {p}-life
    kind: lifecycle
    platform: {p}
    cleanup: [void]
    poll_every: 1s
    deadline: 20s
    timeout: 30s
    expect: [{{status: pending}}, {{status: issued, within: 10s}}, {{status: voided, within: 15s}}]
""" for p in ("tasks", "flat"))


async def test_yaml_alone_issues_follows_and_cancels_on_both_shapes(http_server, make_env, clock: FakeClock) -> None:
    tasks_books, flat_books = Books(clock), Books(clock)
    env = make_env(config(await http_server(tasks_app(tasks_books)), await http_server(flat_app(flat_books))))
    for _ in range(3):
        for name in ("tasks-issue", "tasks-life", "flat-issue", "flat-life"):
            result = await env.run(name)
            assert result.status is Status.UP, f"{name}: {result.message}"
            assert "leftover canaries" not in [s.name for s in result.steps], name
            clock.advance(timedelta(minutes=5))
    assert tasks_books.outstanding() == [] and flat_books.outstanding() == []
    assert len(tasks_books.tasks) == len(flat_books.tasks) == 6
    assert tasks_books.second_voids == flat_books.second_voids == 0
    for platform in ("tasks", "flat"):
        assert await env.registry.ledger.unfinished(platform) == []


async def test_the_sweep_cancels_with_the_id_the_task_poll_returned(http_server, make_env, clock: FakeClock) -> None:
    """A canary left behind is cancelled later from the ledger, the invoice id kept with it."""
    books = Books(clock)
    env = make_env(config(await http_server(tasks_app(books)), "http://127.0.0.1:9"))
    original = books.cancel
    books.cancel = lambda key, by: web.json_response({"error": "down"}, status=503)  # type: ignore[method-assign]
    result = await env.run("tasks-issue")
    assert result.status is Status.DEGRADED and "not cancelled" in result.message
    [row] = await env.registry.ledger.unfinished("tasks")
    assert row.variables["invoice_id"] == "INV-1"
    books.cancel = original  # type: ignore[method-assign]
    assert (await recover(env.registry, "tasks")).cleaned == 1
    assert books.outstanding() == []
