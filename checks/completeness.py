"""`completeness`: the share of recent records missing required fields.

数电-aware: a fully digital invoice has no invoice code, so an empty code is fine when the
number is a 20-digit 数电 number (or the profile's `digital_number` field holds one). A field
counts as missing when absent, null or blank. Evidence: `missing_share`, `records`,
`missing_records`, `missing_fields` (field -> count) and `examples` (numbers of damaged records).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from checks.base import Context
from checks.platform.models import Fields
from checks.platform.registry import platforms_of
from checks.platform.specs import PlatformTarget, ShareThresholds, window_variables
from checks.platform.steps import Steps, finish
from monitor.core.durations import Duration
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec

FIELD_NAMES = tuple(Fields.model_fields)


class Spec(CheckSpec, PlatformTarget):
    kind: Literal["completeness"]
    operation: str = Field("list_invoices", description="the list operation of the platform profile")
    window: Duration = Field(timedelta(hours=1), description="judge the records of the last ...")
    sample: int = Field(200, ge=1, le=5000, description="records to judge at most")
    required: list[str] = Field(
        default_factory=lambda: ["number", "code", "date", "amount"],
        description=f"fields every record needs; of {', '.join(FIELD_NAMES)}",
    )
    thresholds: ShareThresholds = Field(
        default_factory=lambda: ShareThresholds(degraded=0.01, down=0.1),
        description="share of damaged records above which the check is degraded / down",
    )
    examples: int = Field(5, ge=0, le=50, description="how many damaged records to name")

    @field_validator("required")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in FIELD_NAMES]
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}; fields are {', '.join(FIELD_NAMES)}")
        if not value:
            raise ValueError("name at least one required field")
        return value


async def run(spec: Spec, ctx: Context) -> Result:
    registry = platforms_of(ctx, spec)
    session = registry.session(spec.platform, spec.user)
    fields = session.profile.fields
    unmapped = [f for f in spec.required if getattr(fields, f) is None]
    result = Result(spec.name, Status.UP, ctx.clock.now())
    steps = Steps()
    variables = {**window_variables(ctx.clock.now(), spec.window), **spec.variables}
    records, exchanges, _total = await session.list_records(spec.operation, variables, limit=spec.sample)
    result.latency_ms = steps.pages(spec.operation, exchanges)
    if records is None:
        return finish(result, steps, message_ok="")
    required = [f for f in spec.required if f not in unmapped]
    by_field: dict[str, int] = {}
    damaged: list[str] = []
    for i, rec in enumerate(records):
        missing = rec.missing(required)
        if missing:
            damaged.append(rec.label(i))
            for f in missing:
                by_field[f] = by_field.get(f, 0) + 1
    share = len(damaged) / len(records) if records else 0.0
    result.values.update(
        records=len(records),
        missing_records=len(damaged),
        missing_share=round(share, 4),
        missing_fields=by_field,
        examples=damaged[: spec.examples],
    )
    if unmapped:
        result.values["unmapped_fields"] = unmapped
    if not records:
        steps.add("fields", Status.UP, f"no records in the last {spec.window.total_seconds():g}s to judge")
        return finish(result, steps, message_ok="no records to judge")
    t = spec.thresholds
    status = Status.UP
    if t.down is not None and share > t.down:
        status = Status.DOWN
    elif t.degraded is not None and share > t.degraded:
        status = Status.DEGRADED
    detail = ", ".join(f"{f} {n}" for f, n in sorted(by_field.items(), key=lambda kv: -kv[1]))
    text = (
        f"{len(damaged)} of {len(records)} records ({share:.1%}) miss fields: {detail}; e.g. {', '.join(damaged[:3])}"
        if damaged
        else f"all {len(records)} records complete"
    )
    steps.add("fields", status, text, values={"missing_share": round(share, 4)})
    if status is not Status.UP:
        result.message = text
    return finish(result, steps, message_ok=text)
