"""Checks share what they have in common (monitor.core.spec._Pool): 60,000 specs held ~2.6 KB
each, most of it values every check repeats. Sharing must change nothing a reader of a spec
sees: equality, dumps, the keys written, copies, pickles (a reload comes back as one), and the
frozen values must refuse to change rather than change every check at once."""

from __future__ import annotations

import copy
import gc
import pickle
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from checks import KINDS
from checks.base import Context
from checks.client import HttpClientFactory
from monitor.config import load_config
from monitor.core.clock import SystemClock
from monitor.core.secrets import Redactor
from monitor.core.spec import CheckSpec, FrozenDict, FrozenList

CONFIG = """\
defaults:
  interval: 30s
checks:
  - name: a
    kind: http
    url: http://127.0.0.1:9/a
    conditions: ["[STATUS] == 200"]
  - name: b
    kind: http
    url: http://127.0.0.1:9/b
    conditions: ["[STATUS] == 200"]
    headers: {X-Team: ops}
  - name: c
    kind: http
    url: http://127.0.0.1:9/c
    conditions: ["[STATUS] == 200"]
    headers: {X-Team: ops}
    depends_on: [a]
    latency: {degraded: 1s}
"""


def http(i: int, **extra: Any) -> CheckSpec:
    spec: CheckSpec = KINDS["http"].Spec.model_validate(
        {"name": f"check-{i}", "kind": "http", "url": f"http://127.0.0.1:9/h?c={i}", "conditions": ["[STATUS] == 200"], **extra}
    )
    return spec


def test_equal_values_are_one_object_and_each_spec_keeps_its_own(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    a, b, c = load_config(path, env={}).checks
    assert a.conditions is b.conditions is c.conditions and a.latency is b.latency and a.depends_on is b.depends_on
    assert b.headers is c.headers and a.headers is not b.headers and a.interval is b.interval
    assert (a.url, b.url, c.url) == ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b", "http://127.0.0.1:9/c")
    assert (c.depends_on, c.latency.degraded is not None, a.latency.degraded) == (["a"], True, None)
    # The keys each wrote (what exclude_unset and the schema dump read) are still its own.
    assert set(a.model_dump(exclude_unset=True)) == {"name", "kind", "url", "conditions", "interval"}
    assert set(c.model_dump(exclude_unset=True)) >= {"headers", "depends_on", "latency"}
    assert a.model_dump()["headers"] == {} and b.model_dump(mode="json")["headers"] == {"X-Team": "ops"}


def test_shared_values_refuse_to_change_and_copies_are_plain() -> None:
    one, two = http(1), http(2, headers={"X": "1"})
    assert isinstance(one.depends_on, FrozenList) and isinstance(two.headers, FrozenDict)
    with pytest.raises(TypeError, match="frozen"):
        one.depends_on.append("x")
    with pytest.raises(TypeError, match="frozen"):
        two.headers["X"] = "2"
    with pytest.raises(TypeError, match="frozen"):
        one.conditions += []
    assert http(3).depends_on == [] and two.headers == {"X": "1"}
    deep = one.model_copy(deep=True)
    assert deep == one and type(deep.depends_on) is list
    deep.depends_on.append("x")  # a deep copy is the caller's to change
    assert one.depends_on == [] and type(copy.deepcopy(two.headers)) is dict
    changed = one.model_copy(update={"description": "new"})
    assert "description" in changed.model_fields_set and "description" not in one.model_fields_set
    assert "description" not in http(4).model_fields_set


def test_an_unpickled_spec_shares_again() -> None:
    """A reload's config comes from the child process as a pickle."""
    back = pickle.loads(pickle.dumps([http(1), http(2)]))
    fresh = http(3)
    assert back[0] == http(1) and back[0].depends_on is fresh.depends_on and back[1].conditions is fresh.conditions
    assert back[0].model_fields_set is fresh.model_fields_set


def test_the_http_plan_lives_on_its_spec_and_not_in_its_equality() -> None:
    from checks import http as kind

    ctx = Context(clock=SystemClock(), http=HttpClientFactory(), redactor=Redactor())
    spec, twin = http(1), http(1)
    kind.prepare(spec, ctx)  # type: ignore[arg-type]
    plan = kind._plan(spec, ctx.http.user_agent)  # type: ignore[arg-type]
    assert kind._plan(spec, ctx.http.user_agent) is plan and spec == twin  # type: ignore[arg-type]
    assert kind._plan(copy.copy(spec), ctx.http.user_agent) is not plan  # type: ignore[arg-type]
    assert "_plan" not in spec.__dict__ and "_plan" not in spec.model_dump()


def test_a_spec_costs_under_1_5_kb() -> None:
    """2.6 KB each before sharing (bench/capacity.py: 60,000 checks)."""
    http(0)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        specs = [http(i) for i in range(2000)]
        gc.collect()
        per_spec = (tracemalloc.get_traced_memory()[0] - before) / len(specs)
    finally:
        tracemalloc.stop()
    assert per_spec < 1500, per_spec
