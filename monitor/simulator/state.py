"""The simulated platform's state and operations, independent of any API shape.

`Simulator` owns the clock, the seed, the users and tokens, the invoice book and the faults.
Each mode (native, nuonuo, baiwang) parses its own requests, calls these operations and
renders the answer or the `SimError` in its own words; so data and faults are shared by all.
Every operation first brings the world up to the clock (new invoices, settled issuance).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.config.simulator import SimulatorSection, SimUser
from monitor.core.clock import Clock, SystemClock
from monitor.simulator import issuance
from monitor.simulator.faults import Faults
from monitor.simulator.invoices import InvoiceBook
from monitor.simulator.model import Invoice, Kind, SimError, Status
from monitor.simulator.tokens import Grant, TokenDesk

MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Page:
    total: int
    page: int
    page_size: int
    items: list[Invoice]


KEEP = 200
MAX_BOXES = 20


class Inbox:
    """The demo's webhook receiver's messages: the newest KEEP per box, at most MAX_BOXES
    boxes (the HTTP side is monitor/simulator/inbox.py)."""

    def __init__(self) -> None:
        self.boxes: dict[str, deque[dict[str, Any]]] = {}

    def put(self, box: str, message: dict[str, Any]) -> bool:
        if box not in self.boxes:
            if len(self.boxes) >= MAX_BOXES:
                return False
            self.boxes[box] = deque(maxlen=KEEP)
        self.boxes[box].append(message)
        return True

    def get(self, box: str) -> list[dict[str, Any]]:
        return list(self.boxes.get(box, ()))


class Simulator:
    def __init__(
        self,
        clock: Clock | None = None,
        *,
        seed: int | None = None,
        settings: SimulatorSection | None = None,
    ) -> None:
        self.settings = settings or SimulatorSection()
        self.clock = clock or SystemClock()
        self.seed = self.settings.seed if seed is None else seed
        self.started_at = self.clock.now()
        self.faults = Faults(self.clock, self.seed)
        self.tokens = TokenDesk(
            self.clock,
            self.settings.effective_users,
            lifetime=self.settings.token_lifetime,
            quota=self.settings.token_quota,
            window=self.settings.token_quota_window,
            seed=self.seed,
        )
        self.book = InvoiceBook(
            self.clock, seed=self.seed, interval=self.settings.invoice_interval, history=self.settings.history
        )
        self._nonces: dict[str, datetime] = {}
        self.duplicates = 0  # submits refused as "duplicate order number" (a caller resubmitting)
        self.inbox = Inbox()  # the demo's webhook receiver (monitor/simulator/inbox.py)

    # --- the common start of every operation ----------------------------------------------
    def begin(self, op: str) -> None:
        """Bring the world up to the clock; answer 'system busy' when the `busy` fault says so."""
        self.book.generate()
        issuance.settle(self)
        busy = self.faults.active("busy", op)
        if busy and self.faults.chance(busy.params["rate"]):
            raise SimError(Kind.BUSY, "系统繁忙，请稍后再试")

    # --- tokens ---------------------------------------------------------------------------
    def token(self, app_key: str, app_secret: str) -> Grant:
        self.begin("token")
        if not app_key or not app_secret:
            raise SimError(Kind.BAD_PARAM, "参数错误: 缺少appKey或appSecret")
        if self.faults.active("login_refused", "token"):
            raise SimError(Kind.BAD_CREDENTIALS, "appKey或appSecret错误")
        if self.faults.active("quota_exhausted", "token"):
            raise SimError(Kind.QUOTA, "token申请次数已达上限")
        user = self.tokens.check_secret(app_key, app_secret)
        return self.tokens.grant(user)

    def authenticate(self, token: str | None) -> SimUser:
        refused = self.faults.active("login_refused")
        if refused and refused.params["revoke"]:
            raise SimError(Kind.TOKEN_INVALID, "token无效")
        user, _ = self.tokens.authenticate(token)
        return user

    @staticmethod
    def require(user: SimUser, scope: str) -> None:
        if scope not in user.scopes:
            raise SimError(Kind.FORBIDDEN, f"无权限: 用户{user.app_key}没有{scope}权限")

    def remember_nonce(self, app_key: str, nonce: str) -> bool:
        """False when this nonce was already used within the signature skew window."""
        now = self.clock.now()
        horizon = now - self.settings.signature_max_skew
        if len(self._nonces) > 10000:
            self._nonces = {k: t for k, t in self._nonces.items() if t > horizon}
        key = f"{app_key}\n{nonce}"
        seen = self._nonces.get(key)
        if seen is not None and seen > horizon:
            return False
        self._nonces[key] = now
        return True

    # --- reading invoices -----------------------------------------------------------------
    def visible_until(self) -> datetime:
        """The newest invoiceDate a list query can see, given the sync faults."""
        edge = self.clock.now()
        lag = self.faults.active("sync_lag", "list")
        if lag:
            edge = min(edge, self.clock.now() - timedelta(seconds=lag.params["seconds"]))
        frozen = self.faults.active("sync_frozen", "list")
        if frozen:
            edge = min(edge, frozen.set_at)
        return edge

    def list_invoices(
        self,
        user: SimUser,
        start: datetime,
        end: datetime,
        *,
        page: int = 1,
        page_size: int = 20,
        status: str | None = None,
        order: str = "desc",
    ) -> Page:
        self.begin("list")
        self.require(user, "query")
        if page < 1:
            raise SimError(Kind.BAD_PARAM, "参数错误: page须从1开始")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise SimError(Kind.BAD_PARAM, f"参数错误: pageSize须在1到{MAX_PAGE_SIZE}之间")
        if end < start:
            raise SimError(Kind.BAD_PARAM, "参数错误: 结束时间早于开始时间")
        if order not in ("asc", "desc"):
            raise SimError(Kind.BAD_PARAM, "参数错误: order须为asc或desc")
        edge = self.visible_until()
        found = self.book.window(start, min(end, edge))
        frozen = self.faults.active("sync_frozen", "list")
        if frozen is not None and frozen.params["api_visible"] and end > edge:
            # The feed of other channels stopped; what this API issued itself still shows.
            found += [inv for inv in self.book.window(edge, end) if inv.issued_at != edge and self.book.via_api(inv)]
        shrink = self.faults.active("scope_shrink", "list")
        shrinking = shrink is not None and (
            shrink.params["user"] == user.app_key if shrink.params["user"] else not user.all_departments
        )
        items = [
            inv
            for inv in found
            if user.sees(inv.department)
            and (status is None or inv.status == status)
            and not (shrinking and self.faults.stable_fraction("scope", inv.serial_no) < shrink.params["rate"])  # type: ignore[union-attr]
        ]
        if order == "desc":
            items.reverse()
        first = (page - 1) * page_size
        return Page(len(items), page, page_size, items[first : first + page_size])

    def get_invoice(self, user: SimUser, serial_no: str, *, op: str = "get") -> Invoice:
        self.begin(op)
        self.require(user, "query" if op == "get" else "void")
        inv = self.book.get(str(serial_no or ""))
        if inv is None or not user.sees(inv.department):
            raise SimError(Kind.NOT_FOUND, f"发票不存在: {serial_no}")
        return inv

    def find_order(self, user: SimUser, order_no: str) -> Invoice:
        """The invoice submitted with this order number: how a caller whose submit got no answer
        learns whether it happened, without submitting again."""
        self.begin("get")
        self.require(user, "query")
        inv = self.book.find_order(str(order_no or ""))
        if inv is None or not user.sees(inv.department):
            raise SimError(Kind.NOT_FOUND, f"订单不存在: {order_no}")
        return inv

    def outstanding(self) -> list[dict[str, str]]:
        """API-submitted invoices still valid or on their way: what a caller left to cancel."""
        open_states = (Status.ISSUING, Status.ISSUED, Status.SEALING_FAILED)
        return [
            {"orderNo": inv.order_no, "serialNo": inv.serial_no, "status": str(inv.status)}
            for inv in self.book.orders()
            if inv.status in open_states and not inv.red_flag
        ]

    def damage(self, inv: Invoice) -> dict[str, str]:
        """The native fields this record loses under `fields_dropped`: field -> absent|null|empty."""
        fault = self.faults.active("fields_dropped")
        if fault is None or self.faults.stable_fraction("fields", inv.serial_no) >= fault.params["rate"]:
            return {}
        hows = ("absent", "null", "empty")
        out = {}
        for name in fault.params["fields"]:
            how = fault.params["how"]
            if how == "mixed":
                how = hows[int(self.faults.stable_fraction("how", inv.serial_no, name) * 3)]
            out[name] = how
        return out

    # --- changing invoices ----------------------------------------------------------------
    def issue(self, user: SimUser, request: issuance.IssueRequest) -> Invoice:
        self.begin("issue")
        self.require(user, "issue")
        return issuance.submit(self, user.departments, request)

    def void(self, user: SimUser, serial_no: str) -> Invoice:
        inv = self.get_invoice(user, serial_no, op="void")
        return issuance.void(self, inv)

    def red_flush(self, user: SimUser, serial_no: str, reason: str = "") -> Invoice:
        inv = self.get_invoice(user, serial_no, op="red_flush")
        return issuance.red_flush(self, inv, reason)

    def certification(self, user: SimUser) -> dict[str, Any]:
        self.begin("certification")
        self.require(user, "certification")
        out = self.faults.active("tax_logged_out", "certification")
        return {
            "loggedIn": out is None,
            "since": out.set_at if out else self.started_at,
            "taxNo": self.settings.seller_tax_no,
        }

    # --- admin ------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        self.book.generate()
        issuance.settle(self)
        return {
            "now": self.clock.now().isoformat().replace("+00:00", "Z"),
            "invoices": len(self.book),
            "jobs": self.book.jobs,
            "outstanding": self.outstanding(),
            "duplicate_orders": self.duplicates,
            "tokens": self.tokens.describe(),
            "modes": list(self.settings.modes),
        }
