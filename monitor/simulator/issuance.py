"""Issuing, voiding and red-flushing: the operations that create or change tax documents.

Issuance is asynchronous, as on the real platforms: submit returns a serial number in status
`issuing`; the outcome (issued, failed, sealing_failed, or stuck) is decided at submit time from
the faults then in force and shows once `issue_delay` of simulated time has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.simulator.invoices import split_tax
from monitor.simulator.model import CHINA, INVOICE_TYPES, Invoice, Kind, SimError, Status

if TYPE_CHECKING:
    from monitor.simulator.state import Simulator

FAIL_CAUSES = {
    Status.FAILED: "开票失败：税务数字账户返回错误(9105)，请稍后重试",
    Status.SEALING_FAILED: "开票成功，签章失败：电子签章服务不可用",
}


@dataclass(frozen=True)
class Item:
    name: str
    quantity: float
    price: float  # tax-included unit price
    tax_rate: float


@dataclass(frozen=True)
class IssueRequest:
    order_no: str
    buyer_name: str
    buyer_tax_no: str
    items: tuple[Item, ...]
    invoice_type: str = "数电普票"
    department: str | None = None
    remark: str = ""


def _text(value: Any, name: str, *, required: bool = True, limit: int = 100) -> str:
    if value is None or value == "":
        if required:
            raise SimError(Kind.BAD_PARAM, f"参数错误: 缺少{name}")
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool) or len(str(value)) > limit:
        raise SimError(Kind.BAD_PARAM, f"参数错误: {name}格式不正确")
    return str(value)


def _number(value: Any, name: str, *, positive: bool = True) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SimError(Kind.BAD_PARAM, f"参数错误: {name}不是数字") from None
    if number != number or (positive and number <= 0) or number < 0:
        raise SimError(Kind.BAD_PARAM, f"参数错误: {name}必须大于0")
    return number


def make_request(
    *,
    order_no: Any,
    buyer_name: Any,
    buyer_tax_no: Any,
    items: Any,
    invoice_type: Any = None,
    department: Any = None,
    remark: Any = None,
    item_keys: tuple[str, str, str, str] = ("name", "quantity", "price", "taxRate"),
) -> IssueRequest:
    """Validate an issuance request as each mode spells it (`item_keys` names the item fields)."""
    kind = _text(invoice_type, "invoiceType", required=False) or "数电普票"
    if kind not in INVOICE_TYPES:
        raise SimError(Kind.BAD_PARAM, f"参数错误: invoiceType须为{'/'.join(INVOICE_TYPES)}")
    if not isinstance(items, list) or not items or len(items) > 100:
        raise SimError(Kind.BAD_PARAM, "参数错误: 明细(items)不能为空")
    name_k, qty_k, price_k, rate_k = item_keys
    parsed = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise SimError(Kind.BAD_PARAM, f"参数错误: 第{i + 1}行明细格式不正确")
        rate = _number(item.get(rate_k), rate_k, positive=False)
        if rate >= 1:
            raise SimError(Kind.BAD_PARAM, f"参数错误: {rate_k}须小于1")
        parsed.append(Item(_text(item.get(name_k), name_k), _number(item.get(qty_k), qty_k),
                           _number(item.get(price_k), price_k), rate))  # fmt: skip
    return IssueRequest(
        order_no=_text(order_no, "orderNo", limit=64),
        buyer_name=_text(buyer_name, "buyerName"),
        buyer_tax_no=_text(buyer_tax_no, "buyerTaxNo", required=kind == "数电专票", limit=20),
        items=tuple(parsed),
        invoice_type=kind,
        department=_text(department, "department", required=False, limit=32) or None,
        remark=_text(remark, "remark", required=False, limit=200),
    )


def submit(sim: Simulator, user_departments: list[str], req: IssueRequest) -> Invoice:
    faults, book, now = sim.faults, sim.book, sim.clock.now()
    if faults.active("tax_logged_out", "issue"):
        raise SimError(Kind.TAX_LOGGED_OUT, "未登录税局或税局登录已失效，请重新登录")
    existing = book.find_order(req.order_no)
    if existing is not None:
        sim.duplicates += 1
        raise SimError(Kind.DUPLICATE, f"订单号重复: {req.order_no}", {"serialNo": existing.serial_no})
    rejected = faults.active("issue_rejected", "issue")
    if rejected:
        raise SimError(Kind.REJECTED, f"开票申请被拒绝: {rejected.params['message']}")
    department = req.department or next((d for d in user_departments if d != "*"), "sales")
    if "*" not in user_departments and department not in user_departments:
        raise SimError(Kind.FORBIDDEN, f"无权限: 不能为部门{department}开票")
    outcome: Status | None = Status.ISSUED
    cause = ""
    if faults.active("issue_stuck", "issue"):
        outcome = None
    else:
        failed = faults.active("issue_failed", "issue")
        if failed and faults.chance(failed.params["rate"]):
            outcome = Status(failed.params["status"])
            cause = failed.params["message"] or FAIL_CAUSES[outcome]
    total = sum(round(i.quantity * i.price, 2) for i in req.items)
    tax = sum(split_tax(round(i.quantity * i.price, 2), i.tax_rate) for i in req.items)
    n = book.next_number()
    job = Invoice(
        serial_no=f"ISS{now.astimezone(CHINA):%Y%m%d%H%M%S}{n:06d}",
        order_no=req.order_no,
        invoice_type=req.invoice_type,
        department=department,
        buyer_name=req.buyer_name,
        buyer_tax_no=req.buyer_tax_no,
        total=round(total, 2),
        tax=round(tax, 2),
        status=Status.ISSUING,
        updated_at=now,
        remark=req.remark,
        planned_cause=cause,
        ready_at=now + sim.settings.issue_delay if outcome is not None else None,
        outcome=outcome,
    )
    book.add_job(job)
    return job


def settle(sim: Simulator) -> None:
    """Let every due issuance job reach its planned outcome, at the time it was due."""
    for job in list(sim.book.pending_jobs()):
        assert job.ready_at is not None and job.outcome is not None
        job.status = job.outcome
        job.fail_cause = job.planned_cause
        job.updated_at = job.ready_at
        if job.outcome in (Status.ISSUED, Status.SEALING_FAILED):
            job.issued_at = job.ready_at
            sim.book.assign_number(job, sim.book.next_number(), series="2")
        sim.book.job_done(job)


def void(sim: Simulator, inv: Invoice) -> Invoice:
    if sim.faults.active("tax_logged_out", "void"):
        raise SimError(Kind.TAX_LOGGED_OUT, "未登录税局或税局登录已失效，请重新登录")
    if inv.status != Status.ISSUED or inv.red_flag:
        raise SimError(Kind.BAD_STATE, f"当前状态({inv.status})不允许作废")
    if inv.digital:
        raise SimError(Kind.BAD_STATE, "数电发票不支持作废，请红冲")
    inv.status = Status.VOIDED
    inv.updated_at = sim.clock.now()
    return inv


def red_flush(sim: Simulator, inv: Invoice, reason: str) -> Invoice:
    if sim.faults.active("tax_logged_out", "red_flush"):
        raise SimError(Kind.TAX_LOGGED_OUT, "未登录税局或税局登录已失效，请重新登录")
    if inv.status not in (Status.ISSUED, Status.SEALING_FAILED) or inv.red_flag:
        raise SimError(Kind.BAD_STATE, f"当前状态({inv.status})不允许红冲")
    now = sim.clock.now()
    n = sim.book.next_number()
    red = Invoice(
        serial_no=f"RED{now.astimezone(CHINA):%Y%m%d%H%M%S}{n:06d}",
        order_no=f"{inv.order_no}-R",
        invoice_type=inv.invoice_type,
        department=inv.department,
        buyer_name=inv.buyer_name,
        buyer_tax_no=inv.buyer_tax_no,
        total=-inv.total,
        tax=-inv.tax,
        status=Status.ISSUED,
        updated_at=now,
        issued_at=now,
        red_flag=True,
        original_serial=inv.serial_no,
        remark=reason[:200],
    )
    sim.book.assign_number(red, n, series="3")
    sim.book.add_issued(red)
    inv.status = Status.RED_FLUSHED
    inv.updated_at = now
    return red


__all__ = ["IssueRequest", "Item", "make_request", "red_flush", "settle", "submit", "void"]
