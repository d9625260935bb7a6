"""config.example.yaml monitors the bundled simulator with every invoice check kind: all up on
a healthy simulator, and each one down under the fault that breaks what it watches."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.core.results import Status
from tests.platform.platform_kit import SimHandle

ROOT = Path(__file__).resolve().parents[2]
INVOICE_KINDS = {"login", "query", "completeness", "freshness", "issuance", "lifecycle", "permission", "flow"}


def example(sim: SimHandle, tmp_path: Path) -> str:
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    text = text.replace("http://127.0.0.1:8900", sim.url)
    return text.replace("sqlite:///var/invoicewatch.db", f"sqlite:///{tmp_path}/iw.db")


async def test_every_invoice_kind_in_the_example_is_up_on_a_healthy_simulator(sim: SimHandle, make_env, tmp_path: Path) -> None:
    env = make_env(example(sim, tmp_path))
    specs = [s for s in env.config.checks if s.kind in INVOICE_KINDS]
    assert {s.kind for s in specs} == INVOICE_KINDS
    for spec in specs:
        result = await env.run(spec.name)
        assert result.status is Status.UP, f"{spec.name}: {result.message}"


@pytest.mark.parametrize(
    ("fault", "params", "check"),
    [
        ("login_refused", {}, "登录"),
        ("tax_logged_out", {}, "登录"),
        ("busy", {"endpoint": "list"}, "发票查询"),
        ("fields_dropped", {"rate": 0.5}, "发票字段完整性"),
        ("sync_lag", {"seconds": 1200}, "数据同步"),
        ("issue_rejected", {}, "开票"),
        ("issue_stuck", {}, "发票状态流转"),
        ("scope_shrink", {"rate": 0.5}, "查询权限"),
        ("error_rate", {"endpoint": "get", "status": 500}, "按流水号查询"),
    ],
)
async def test_each_invoice_check_of_the_example_goes_down_under_its_fault(
    sim: SimHandle, make_env, tmp_path: Path, fault: str, params: dict[str, object], check: str
) -> None:
    env = make_env(example(sim, tmp_path))
    await sim.fault(fault, **params)
    result = await env.run(check)
    assert result.status is Status.DOWN, f"{check} under {fault}: {result.status} {result.message}"
