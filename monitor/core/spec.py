"""The keys every check has, whatever its kind: `CheckSpec`, the base of each kind's `Spec`.

The rulebook judges results by these keys alone (thresholds, retry interval, quorum,
locations), so it needs no check kind; each kind in `checks/` adds its own keys.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from monitor.core.addresses import WebUrl
from monitor.core.cron import CronExpr
from monitor.core.durations import Duration, PositiveDuration


class FrozenList(list[Any]):
    """A list that refuses to change: what specs share (every check that lists no
    `depends_on` holds the same empty one). Reads, equality, JSON and pydantic dumps are a
    list's; a copy (copy, deepcopy, pickle, model_copy(deep=True)) is a plain list."""

    __slots__ = ()

    def _refuse(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise TypeError("a check's configuration is frozen (shared by equal checks); copy it to change it")

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (list(self),))


class FrozenDict(dict[Any, Any]):
    """A dict that refuses to change, shared like FrozenList; a copy is a plain dict."""

    __slots__ = ()

    def _refuse(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise TypeError("a check's configuration is frozen (shared by equal checks); copy it to change it")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))


class _Pool:
    """Equal field values of specs held once. 60,000 checks repeat the same interval,
    timeout, latency thresholds, conditions, empty lists and set of keys written: held per
    spec they were ~1.2 KB of its ~2.6 KB. Only immutable values are pooled (lists and dicts
    as FrozenList / FrozenDict); at most `per_field` distinct values per field, so unique
    ones (names, URLs) stop being added once a field shows it does not repeat, and what a
    reload leaves behind stays bounded."""

    def __init__(self, per_field: int = 512) -> None:
        self.per_field = per_field
        self._values: dict[str, dict[Any, Any]] = {}
        self._fields_sets: dict[frozenset[str], set[str]] = {}
        self._defaults: dict[type[BaseModel], dict[str, Any]] = {}

    def share(self, model: BaseModel) -> None:
        values = model.__dict__
        defaults = self._defaults.get(type(model))
        if defaults is None:  # a field left at its plain default holds the one default object
            fields = type(model).model_fields
            defaults = self._defaults[type(model)] = {k: f.default for k, f in fields.items() if f.default_factory is None}
        for name, value in values.items():
            if value is None or value is defaults.get(name):
                continue
            shared = self._one(name, value)
            if shared is not value:
                values[name] = shared
        # The set of keys written: read by pydantic (exclude_unset), never changed in place
        # on a frozen model (model_copy copies it first).
        keys = model.__pydantic_fields_set__
        frozen = frozenset(keys)
        kept = self._fields_sets.get(frozen)
        if kept is None and len(self._fields_sets) < self.per_field:
            kept = self._fields_sets[frozen] = keys
        if kept is not None and kept is not keys:
            object.__setattr__(model, "__pydantic_fields_set__", kept)

    def _one(self, field: str, value: Any) -> Any:
        cls = type(value)
        if cls is bool:
            return value
        if cls is list:
            key: Any = (list, tuple(value))
        elif cls is dict:
            key = (dict, tuple(value.items()))
        elif cls in (str, int, float, timedelta) or (isinstance(value, BaseModel) and value.model_config.get("frozen")):
            key = (cls, value)
        else:
            return value
        pool = self._values.get(field)
        if pool is None:
            pool = self._values[field] = {}
        try:
            shared = pool.get(key)
        except TypeError:  # unhashable contents
            return value
        if shared is not None:
            return shared
        if len(pool) >= self.per_field:
            return value
        if cls is list:
            value = FrozenList(value)
        elif cls is dict:
            value = FrozenDict(value)
        pool[key] = value
        return value


_POOL = _Pool()


class LatencyThresholds(BaseModel):
    """Latency above `degraded` makes an otherwise healthy probe degraded; above `down`, down."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    degraded: Duration | None = None
    down: Duration | None = None

    @model_validator(mode="after")
    def _ordered(self) -> LatencyThresholds:
        if self.degraded is not None and self.down is not None and self.degraded >= self.down:
            raise ValueError("degraded must be lower than down")
        return self


class CheckSpec(BaseModel):
    """Keys every check has, whatever its kind. Defaults come from the config's `defaults:`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1, max_length=120, description="unique name, shown in alerts")
    kind: str
    component: str | None = Field(None, description="id of the component this check reports on")
    description: str = ""
    enabled: bool = True
    interval: PositiveDuration = Field(timedelta(seconds=60), description="time between runs")
    cron: CronExpr | None = Field(None, description="5-field cron expression; replaces interval")
    timeout: PositiveDuration = Field(timedelta(seconds=10), description="a run taking longer is down")
    latency: LatencyThresholds = Field(default_factory=LatencyThresholds)
    role: Literal["normal", "baseline"] = Field(
        "normal", description="baseline: our own network, the 'is it us?' test"
    )
    weight: Literal["critical", "normal", "minor"] = Field(
        "normal",
        description="what this check down means for its component: critical = a major outage whatever "
        "the other checks say; normal = counted with the others; minor = at most degraded performance",
    )
    depends_on: list[str] = Field(default_factory=list, description="names of checks this needs")
    locations: list[str] = Field(default_factory=list, description="run only at these locations")
    failure_threshold: int = Field(3, ge=1, description="failures in a row before down")
    success_threshold: int = Field(2, ge=1, description="successes in a row before up again")
    quorum: int | None = Field(
        None, ge=1, description="with several locations: down when at least this many are down (default: a majority)"
    )
    retry_interval: PositiveDuration = Field(
        timedelta(seconds=10), description="re-check this soon after a failure"
    )
    runbook: WebUrl | None = Field(None, description="http(s) URL of the on-call runbook for this check")

    @field_validator("timeout")
    @classmethod
    def _timeout_within_interval(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        interval = info.data.get("interval")
        if info.data.get("cron") is None and interval is not None and value > interval:
            raise ValueError(f"timeout ({value.total_seconds():g}s) must not exceed interval ({interval.total_seconds():g}s)")
        return value

    @model_validator(mode="after")
    def _share(self) -> CheckSpec:
        """Hold what equal checks have in common once (see _Pool): frozen, so safe to share."""
        _POOL.share(self)
        return self

    def __setstate__(self, state: dict[Any, Any]) -> None:
        """Unpickled (a config reload comes from a child process as a pickle): shared again."""
        super().__setstate__(state)
        _POOL.share(self)
