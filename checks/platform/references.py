"""What an invoice check names on its platform, resolved when the config loads.

A check names a platform (`platform: sim`), maybe an account on it (`user: sales`), the
operations it calls (`operation: list_invoices`, `forbidden: [{operation: void}]`, cleanup
operations) and status names. A name that does not resolve used to pass validation and turn
into a false outage at 3 a.m. ("CheckError: unknown platform"); the config loader now passes
the platforms in pydantic's validation context (`PLATFORMS_CONTEXT`: name -> profile, or None
for a profile that is itself invalid and reported under platforms:), and the specs resolve
their names here. Without that context (a spec built in code) nothing is resolved; the run
still says what is missing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from checks.platform.models import PlatformProfile

PLATFORMS_CONTEXT = "platforms"
BASE_STATUSES = ("pending", "issued", "failed", "voided")


def known_platforms(info: ValidationInfo) -> Mapping[str, PlatformProfile | None] | None:
    ctx = info.context
    platforms = ctx.get(PLATFORMS_CONTEXT) if isinstance(ctx, Mapping) else None
    return platforms if isinstance(platforms, Mapping) else None


def _unknown(prefix: str, name: str, known: Iterable[str], where: str) -> str:
    """`unknown platform 'x' (did you mean 'y'?)`, or naming the known ones and where they are."""
    names = sorted(known)
    hint = difflib.get_close_matches(name, names, n=1)
    if hint:
        return f"{prefix} {name!r} (did you mean {hint[0]!r}?)"
    return f"{prefix} {name!r} ({where}: {', '.join(names)})" if names else f"{prefix} {name!r} (there are none under {where})"


def _platform_name(value: str, info: ValidationInfo) -> str:
    platforms = known_platforms(info)
    if platforms is not None and value not in platforms:
        raise ValueError(_unknown("unknown platform", value, platforms, "platforms"))
    return value


def _user_name(value: str | None, info: ValidationInfo) -> str | None:
    platform = info.data.get("platform")  # the model's `platform:`, validated before `user:`
    profile = profile_of(info, platform)
    if value is not None and profile is not None and value not in profile.users:
        raise ValueError(_unknown(f"platform {platform!r} has no user", value, profile.users, f"platforms.{platform}.users"))
    return value


# `platform:` of a spec: a name under platforms:.
PlatformName = Annotated[str, Field(min_length=1, description="name under platforms:"), AfterValidator(_platform_name)]
# `user:` of a spec that also has `platform:` (declared before it): an entry of its users:.
PlatformUser = Annotated[str | None, AfterValidator(_user_name)]


def profile_of(info: ValidationInfo, platform: Any) -> PlatformProfile | None:
    """The platform's validated profile, or None (no context, unknown or invalid platform)."""
    platforms = known_platforms(info)
    if platforms is None or not isinstance(platform, str):
        return None
    return platforms.get(platform)


class Unresolved:
    """Names that do not resolve, each at its location inside the spec; `raise_if` raises them
    as one ValidationError so each is reported at its own key (pydantic prefixes the check's)."""

    def __init__(self, platform: str, profile: PlatformProfile) -> None:
        self.platform = platform
        self.profile = profile
        self.errors: list[InitErrorDetails] = []

    def add(self, loc: tuple[str | int, ...], message: str, given: Any = None) -> None:
        error = PydanticCustomError("unresolved_reference", "{reason}", {"reason": message})
        self.errors.append(InitErrorDetails(type=error, loc=loc, input=given))

    def operation(self, loc: tuple[str | int, ...], name: str, note: str = "") -> None:
        if name not in self.profile.operations:
            prefix = f"platform {self.platform!r} has no operation"
            self.add(loc, _unknown(prefix, name, self.profile.operations, f"platforms.{self.platform}.operations") + note, name)

    def user(self, loc: tuple[str | int, ...], name: str | None) -> None:
        if name is not None and name not in self.profile.users:
            prefix = f"platform {self.platform!r} has no user"
            self.add(loc, _unknown(prefix, name, self.profile.users, f"platforms.{self.platform}.users"), name)

    def may_issue(self, loc: tuple[str | int, ...], what: str) -> None:
        if not self.profile.may_issue:
            self.add(loc, f"{what} would make a real tax document: platform {self.platform!r} is not sandbox: true "
                          "and allow_production_issuance is not set (the check refuses to run)")

    def canary(self, cleanup: list[str], cleanup_given: bool) -> None:
        """What issuing and cancelling a canary needs: permission, issue, a way to read one
        canary (get_invoice, find_by_order, or list_invoices with fields.order_no), cleanup."""
        self.may_issue(("platform",), "a canary invoice")
        if "issue" not in self.profile.operations:
            self.add(("platform",), f"platform {self.platform!r} has no issue operation, which a canary needs")
        if not self.profile.canary_lookups():
            self.add(("platform",), f"platform {self.platform!r} cannot tell a canary's status: give it a get_invoice "
                                    "or find_by_order operation (or list_invoices and fields.order_no)")
        if cleanup_given:
            for j, op in enumerate(cleanup):
                self.operation(("cleanup", j), op)
        elif not any(op in self.profile.operations for op in cleanup):
            self.add(("cleanup",), f"platform {self.platform!r} has none of the cleanup operations "
                                   f"{', '.join(cleanup)}; a canary could not be cancelled")

    def status(self, loc: tuple[str | int, ...], name: str) -> None:
        known = [*BASE_STATUSES, *self.profile.statuses.names]
        if name not in known:
            self.add(loc, _unknown("unknown status", name, known, f"platforms.{self.platform}.statuses"), name)

    def raise_if(self, title: str) -> None:
        if self.errors:
            raise ValidationError.from_exception_data(title, self.errors)


def unresolved(info: ValidationInfo, platform: Any) -> Unresolved | None:
    """A collector for one platform's names, or None when there is nothing to resolve against."""
    profile = profile_of(info, platform)
    return Unresolved(platform, profile) if profile is not None else None
