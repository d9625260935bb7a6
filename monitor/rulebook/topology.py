"""Who depends on whom: checks, their components, and effective dependencies. Built once per
config; pure data the engine reads.

A check's dependencies are its `depends_on` plus one implicit rule for invoice platforms:
every other check that names a `platform:` (query, issuance, freshness, completeness,
permission, lifecycle, a flow run through the platform's session) depends on that platform's
login checks (nothing works without a session), so a login outage is one incident with the
others folded in as symptoms, not five incidents.

A check's platform is its own `platform:`, else the one platform the other checks of its
component name (a plain http check of the platform's gateway beside the login check), so
several components of one platform failing on the same evidence can be told as one platform
incident (rulebook/incidents.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.core.spec import CheckSpec

LOGIN_KIND = "login"


def component_of(spec: CheckSpec) -> str:
    """The component a check reports on; a check without one is its own pseudo-component."""
    return spec.component or f"check:{spec.name}"


@dataclass(frozen=True, slots=True)
class ComponentInfo:
    id: str
    name: Any  # Text: a string or {language: string}
    public: bool = True


@dataclass(frozen=True)
class Topology:
    specs: Mapping[str, CheckSpec]
    components: Mapping[str, ComponentInfo] = field(default_factory=dict)
    deps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    by_component: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    platforms: Mapping[str, str] = field(default_factory=dict)  # component -> the one platform its checks name

    @classmethod
    def build(cls, specs: Iterable[CheckSpec], components: Iterable[Any] = ()) -> Topology:
        spec_map = {s.name: s for s in specs}
        comps = {c.id: ComponentInfo(c.id, c.name, bool(getattr(c, "public", True))) for c in components}
        by_component: dict[str, list[str]] = {}
        for s in spec_map.values():
            by_component.setdefault(component_of(s), []).append(s.name)
        return cls(
            specs=spec_map,
            components=comps,
            deps=effective_dependencies(spec_map.values()),
            by_component={k: tuple(v) for k, v in by_component.items()},
            platforms=_component_platforms(spec_map, by_component),
        )

    def platform_of(self, name: str) -> str | None:
        """The platform a check probes: its own, else its component's (None: none, or several)."""
        spec = self.specs.get(name)
        if spec is None:
            return None
        return getattr(spec, "platform", None) or self.platforms.get(component_of(spec))

    @property
    def baselines(self) -> tuple[str, ...]:
        return tuple(n for n, s in self.specs.items() if s.role == "baseline")


def effective_dependencies(specs: Iterable[CheckSpec]) -> dict[str, tuple[str, ...]]:
    specs = list(specs)
    logins: dict[str, list[str]] = {}
    for s in specs:
        platform = getattr(s, "platform", None)
        if s.kind == LOGIN_KIND and platform:
            logins.setdefault(platform, []).append(s.name)
    out: dict[str, tuple[str, ...]] = {}
    for s in specs:
        deps = list(s.depends_on)
        platform = getattr(s, "platform", None)
        if s.kind != LOGIN_KIND and platform:
            deps += [n for n in logins.get(platform, []) if n not in deps and n != s.name]
        out[s.name] = tuple(deps)
    return out


def _component_platforms(specs: Mapping[str, CheckSpec], by_component: Mapping[str, list[str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for comp, names in by_component.items():
        named = {p for n in names if (p := getattr(specs[n], "platform", None))}
        if len(named) == 1:
            out[comp] = named.pop()
    return out
