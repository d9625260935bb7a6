"""The invoice book: a steady stream of generated invoices plus the ones issued through the API.

Generation is lazy and follows the clock: invoice k sits on a fixed grid at k x interval (Unix
time), and every read first generates whatever the clock has reached. Content comes from
random.Random(seed:k), so the same seed gives the same invoices whatever order they are asked
for. The index is kept sorted by invoiceDate so a date-range query is two bisections.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from monitor.core.clock import Clock
from monitor.simulator.model import CHINA, Invoice, Status

BUYERS: tuple[tuple[str, str], ...] = (
    ("北京星河科技有限公司", "91110108MA01A2B3C4"),
    ("北京京华商贸有限公司", "91110105MA00K7L8M9"),
    ("天津海岸物流有限公司", "91120116MA05N1P2Q3"),
    ("北京东方餐饮管理有限公司", "91110101MA01R4S5T6"),
    ("上海浦江信息技术有限公司", "91310115MA1H7U8V9W"),
    ("北京朝阳医疗器械有限公司", "91110105MA02X1Y2Z3"),
    ("河北燕赵建材有限公司", "91130100MA07B4C5D6"),
    ("北京海淀教育咨询有限公司", "91110108MA03E7F8G9"),
    ("北京首都印务有限公司", "91110102MA04H1J2K3"),
    ("广州南粤电子有限公司", "91440101MA59L4M5N6"),
)
DEPARTMENTS: tuple[tuple[str, float], ...] = (("sales", 0.5), ("service", 0.3), ("online", 0.2))
TAX_RATES: tuple[float, ...] = (0.13, 0.06, 0.09, 0.03)
MAX_KEPT = 100_000  # ~50 MB (~530 bytes an invoice, measured): a long-running demo stays bounded


def _key(inv: Invoice) -> tuple[datetime, str]:
    assert inv.issued_at is not None
    return inv.issued_at, inv.serial_no


def _date_key(inv: Invoice) -> datetime:
    assert inv.issued_at is not None
    return inv.issued_at


def split_tax(total: float, rate: float) -> float:
    """The tax inside a tax-included amount, to the fen."""
    return round(total / (1 + rate) * rate, 2)


class InvoiceBook:
    def __init__(self, clock: Clock, *, seed: int, interval: timedelta, history: timedelta) -> None:
        self.clock = clock
        self.seed = seed
        self._step = interval.total_seconds()
        start = (clock.now() - history).timestamp()
        self._next_k = math.ceil(start / self._step)
        self._by_serial: dict[str, Invoice] = {}
        self._index: list[Invoice] = []  # issued-at-some-point invoices, sorted by invoiceDate
        self._jobs: list[Invoice] = []  # issuance jobs not yet settled
        self._orders: dict[str, Invoice] = {}  # orderNo -> invoice, for API submissions
        self._other_orders: dict[str, Invoice] = {}  # orderNo -> generated and red invoices (not API submissions)
        self._counter = 0
        self.generate()

    # --- the generated stream ---------------------------------------------------------------
    def generate(self) -> None:
        """Create every grid invoice the clock has reached."""
        limit = self.clock.now().timestamp()
        while self._next_k * self._step <= limit:
            inv = self._make(self._next_k)
            self._by_serial[inv.serial_no] = inv
            self._other_orders[inv.order_no] = inv
            self._index.append(inv)  # grid times only grow; API invoices are insorted
            self._next_k += 1
        if len(self._index) > MAX_KEPT:
            for old in self._index[: len(self._index) - MAX_KEPT]:
                self._by_serial.pop(old.serial_no, None)
                self._other_orders.pop(old.order_no, None)
            del self._index[: len(self._index) - MAX_KEPT]

    def _make(self, k: int) -> Invoice:
        rng = random.Random(f"{self.seed}:{k}")
        at = datetime.fromtimestamp(k * self._step, UTC)
        draw = rng.random()
        kind = "数电普票" if draw < 0.8 else "数电专票" if draw < 0.9 else "电子普票"
        department = rng.choices([d for d, _ in DEPARTMENTS], [w for _, w in DEPARTMENTS])[0]
        buyer, tax_no = rng.choice(BUYERS)
        total = round(rng.uniform(50, 20000), 2)
        day = at.astimezone(CHINA)
        inv = Invoice(
            serial_no=f"SIM{day:%Y%m%d}{k % 10**9:09d}",
            order_no=f"ORD{day:%Y%m%d}{k % 10**9:09d}",
            invoice_type=kind,
            department=department,
            buyer_name=buyer,
            buyer_tax_no=tax_no,
            total=total,
            tax=split_tax(total, rng.choice(TAX_RATES)),
            status=Status.ISSUED,
            updated_at=at,
            issued_at=at,
        )
        self.assign_number(inv, k, series="1")
        return inv

    @staticmethod
    def assign_number(inv: Invoice, n: int, series: str) -> None:
        """数电: no code, a 20-digit number. Old-style: a 12-digit code and an 8-digit number."""
        assert inv.issued_at is not None
        yy = inv.issued_at.astimezone(CHINA).strftime("%y")
        if inv.digital:
            inv.invoice_code, inv.invoice_no = "", f"{yy}11{series}{n % 10**15:015d}"
        else:
            inv.invoice_code, inv.invoice_no = f"0110{yy}00{series}{series * 3}", f"{n % 10**8:08d}"

    # --- API invoices -------------------------------------------------------------------------
    def next_number(self) -> int:
        self._counter += 1
        return self._counter

    def add_job(self, inv: Invoice) -> None:
        self._by_serial[inv.serial_no] = inv
        self._orders[inv.order_no] = inv
        self._jobs.append(inv)

    def add_issued(self, inv: Invoice) -> None:
        """An invoice issued at once (a red invoice), or a job that just became one."""
        self._by_serial[inv.serial_no] = inv
        if inv.order_no not in self._orders:
            self._other_orders[inv.order_no] = inv
        bisect.insort(self._index, inv, key=_key)

    def pending_jobs(self) -> Iterator[Invoice]:
        """Jobs whose outcome is due; the caller settles them and calls `job_done`."""
        now = self.clock.now()
        for job in sorted(self._jobs, key=lambda j: j.ready_at or now):
            if job.ready_at is not None and job.ready_at <= now:
                yield job

    def job_done(self, job: Invoice) -> None:
        self._jobs.remove(job)
        if job.issued_at is not None:
            bisect.insort(self._index, job, key=_key)

    @property
    def jobs(self) -> int:
        return len(self._jobs)

    # --- reading ------------------------------------------------------------------------------
    def get(self, serial_no: str) -> Invoice | None:
        return self._by_serial.get(serial_no)

    def find_order(self, order_no: str) -> Invoice | None:
        return self._orders.get(order_no) or self._other_orders.get(order_no)

    def via_api(self, inv: Invoice) -> bool:
        """Issued through the API: a submitted job, or the red invoice of one."""
        return inv.order_no in self._orders or (inv.red_flag and inv.order_no.removesuffix("-R") in self._orders)

    def orders(self) -> list[Invoice]:
        """Every invoice submitted through the API (canaries included), in submission order."""
        return list(self._orders.values())

    def window(self, start: datetime, end: datetime) -> list[Invoice]:
        """Invoices with start <= invoiceDate <= end, oldest first."""
        lo = bisect.bisect_left(self._index, start, key=_date_key)
        hi = bisect.bisect_right(self._index, end, key=_date_key)
        return self._index[lo:hi] if hi > lo else []

    def __len__(self) -> int:
        return len(self._by_serial)
