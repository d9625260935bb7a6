"""Config base types every section shares: `Strict` models, `Language`, and `Text` (one
wording, or one per language) with `text_in` to pick the wording for a reader."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[str, ...] = ("zh-CN", "en")

# Text shown to people: one string (in the monitor's language) or one per language.
Text = str | dict[Language, str]


def text_in(text: Text | None, language: str, fallback: str = "zh-CN") -> str:
    """Pick the wording of `text` for a language, falling back to any wording there is."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    return text.get(language) or text.get(fallback) or next(iter(text.values()), "")  # type: ignore[call-overload]


def names_in(names: list[str], language: str) -> str:
    """Several names in one phrase: 登录、发票查询 / Login, Invoice query."""
    return ("、" if language == "zh-CN" else ", ").join(names)


class Strict(BaseModel):
    """A config section: unknown keys are errors, values are frozen (reloads compare them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
