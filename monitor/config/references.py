"""References between sections, resolved at load so a run never meets an unknown name.

Two kinds: those checked over the raw data after validation (unique check names and
component ids, known components and dependencies, no dependency cycles; the deciding and
notifications sections' own references), so they are reported even when other keys are
invalid; and those the check kinds resolve themselves while they validate (platform, user,
operation, status names), for which `validation_context` hands them the platforms, each
validated on its own so one bad platform does not hide the references to the others.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError

from checks.platform.models import PlatformProfile
from checks.platform.references import PLATFORMS_CONTEXT
from monitor.config import deciding, notifications
from monitor.config.source import Source
from monitor.core.errors import ConfigProblem


def validation_context(data: dict[str, Any]) -> dict[str, Any]:
    """The pydantic context for `Config.model_validate`: platform name -> its profile, or None
    when the profile itself is invalid (its own errors are reported under platforms:)."""
    raw = data.get("platforms")
    platforms: dict[str, PlatformProfile | None] = {}
    if isinstance(raw, dict):
        for name, value in raw.items():
            try:
                platforms[name] = PlatformProfile.model_validate(value)
            except (ValidationError, ValueError, TypeError):
                platforms[name] = None
    return {PLATFORMS_CONTEXT: platforms}


def cross_check(data: dict[str, Any], src: Source) -> list[ConfigProblem]:
    """Reference checks over the raw data, so they run even when other keys are invalid."""
    problems = []
    components: list[Any] = data["components"] if isinstance(data.get("components"), list) else []
    checks: list[Any] = data["checks"] if isinstance(data.get("checks"), list) else []
    component_ids: dict[str, int] = {}
    for i, comp in enumerate(components):
        cid = comp.get("id") if isinstance(comp, dict) else None
        if not isinstance(cid, str):
            continue
        if cid in component_ids:
            problems.append(src.problem(("components", i, "id"), f"duplicate component id {cid!r}"))
        component_ids.setdefault(cid, i)
    specs = [(i, c) for i, c in enumerate(checks) if isinstance(c, dict) and isinstance(c.get("name"), str)]
    names: dict[str, int] = {}
    for i, spec in specs:
        name = spec["name"]
        if name in names:
            first = src.where(("checks", names[name], "name"))[0]
            problems.append(src.problem(("checks", i, "name"), f"duplicate check name {name!r} (first at line {first})"))
        names.setdefault(name, i)
    graph: dict[str, list[str]] = {}
    for i, spec in specs:
        component = spec.get("component")
        if isinstance(component, str) and component not in component_ids:
            hint = difflib.get_close_matches(component, list(component_ids), n=1)
            msg = f"unknown component {component!r}"
            msg += f" (did you mean {hint[0]!r}?)" if hint else " (declare it under components:)"
            problems.append(src.problem(("checks", i, "component"), msg))
        token = spec.get("token")
        if spec.get("kind") == "heartbeat" and isinstance(token, str) and token not in src.secrets | src.defaults:
            problems.append(src.problem(("checks", i, "token"), "give the token as ${ENV} or ${file:PATH}: written "
                                        "in the file it is readable by anyone who can read the config"))
        deps = spec.get("depends_on")
        deps = [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []
        graph.setdefault(spec["name"], [])
        for j, dep in enumerate(deps):
            if dep == spec["name"]:
                problems.append(src.problem(("checks", i, "depends_on", j), "a check cannot depend on itself"))
            elif dep not in names:
                hint = difflib.get_close_matches(dep, list(names), n=1)
                msg = f"unknown check {dep!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                problems.append(src.problem(("checks", i, "depends_on", j), msg))
            else:
                graph[spec["name"]].append(dep)
    problems.extend(dependency_cycles(graph, names, src))
    incidents = data.get("incidents")
    network = incidents.get("network_component", "network") if isinstance(incidents, dict) else "network"
    baseline = next((i for i, spec in specs if spec.get("role") == "baseline"), None)
    if baseline is not None and isinstance(network, str) and network not in component_ids:
        # A baseline that is down opens the "local network" incident on this component.
        where = ("incidents", "network_component") if isinstance(incidents, dict) and "network_component" in incidents \
            else ("checks", baseline, "role")
        problems.append(src.problem(where, f"the baseline checks' incident goes to component {network!r}, which is not "
                                           "under components: (declare it, or set incidents.network_component)"))
    # Sections that reference each other or the core sections (maintenance and SLOs ->
    # components; routes -> channels; channels -> components).
    problems.extend(deciding.cross_check(data, src, component_ids, names))
    problems.extend(notifications.cross_check(data, src))
    return problems


def dependency_cycles(graph: dict[str, list[str]], index: dict[str, int], src: Source) -> list[ConfigProblem]:
    """Every cycle of depends_on, each reported once at the check that closes it.

    Iterative depth-first search (a chain of thousands of checks must not exhaust Python's
    stack), linear in checks plus dependencies.
    """
    state: dict[str, int] = {}  # 1 = on the current trail, 2 = done
    problems = []
    for root in graph:
        if root in state:
            continue
        trail: list[str] = [root]
        at: dict[str, int] = {root: 0}  # node -> its index in trail
        stack: list[tuple[str, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            node, i = stack[-1]
            deps = graph.get(node, [])
            if i == len(deps):
                stack.pop()
                state[node] = 2
                trail.pop()
                del at[node]
                continue
            stack[-1] = (node, i + 1)
            dep = deps[i]
            if state.get(dep) == 1:
                cycle = " -> ".join([*trail[at[dep]:], dep])
                problems.append(src.problem(("checks", index[node], "depends_on"), f"dependency cycle: {cycle}"))
            elif dep not in state:
                state[dep] = 1
                at[dep] = len(trail)
                trail.append(dep)
                stack.append((dep, 0))
    return problems
