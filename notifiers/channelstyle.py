"""How a message reads in the group bots IT on-call in China use: WeCom (企业微信, Apprise's
`wecombot://`), DingTalk (钉钉, `dingtalk://`) and Feishu / Lark (飞书, `feishu://`, `lark://`).
Pure functions of (scheme, title, body, mentions); `notifiers.sender` applies them just before
Apprise, after grouped messages were combined, so the limit holds for what is really sent.

What Apprise 2.3 sends (read from its plugins):

| scheme   | request body                                                   | we send   | limit we keep     |
|----------|----------------------------------------------------------------|-----------|-------------------|
| wecombot | {"msgtype": "text", "text": {"content": title + body}}         | text      | 2048 bytes (WeCom's cap on text content, in UTF-8 bytes: ~680 Chinese characters) |
| dingtalk | markdown: {"msgtype": "markdown", "markdown": {"title", "text": "# title\\n" + body}, "at": {"atMobiles": [URL targets]}} | markdown | 20000 bytes |
| feishu, lark | markdown: an interactive card, title in the header, body as lark_md | markdown | 19985 characters (Apprise's own cap) |

Mentions (`channels[].mentions`): DingTalk pings a phone number only when it is both in
`at.atMobiles` (Apprise takes them from the URL's targets; we add each mention there) and
written as @number in the text (we add that line). Feishu pings `<at id=USER_ID></at>`
(`all` for everyone) inside the card. Apprise's wecombot sends no `mentioned_list`, so on
WeCom a mention is written as @name and does not ping anyone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Style:
    scheme: str
    body_format: str  # what `format: auto` means for this channel
    max_bytes: int | None = None  # UTF-8 bytes of title + body
    max_chars: int | None = None
    line_break: str = "\n"  # inside markdown: how a line break is written


STYLES: dict[str, Style] = {
    "wecombot": Style("wecombot", "text", max_bytes=2048),
    "dingtalk": Style("dingtalk", "markdown", max_bytes=20000, line_break="  \n"),
    "feishu": Style("feishu", "markdown", max_chars=19985),
    "lark": Style("lark", "markdown", max_chars=19985),
}

_LABEL = re.compile(r"^(\s*)([^\s:：\d][^:：]{0,23}?)([:：])(\s?)(.*)$")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#<>])")


def style_of(scheme: str) -> Style | None:
    return STYLES.get(scheme.lower())


def to_markdown(body: str, style: Style) -> str:
    """Our plain-text message as markdown: "label：value" lines get a bold label, markdown's
    special characters are escaped, every line break survives (markdown joins lines)."""
    out = []
    for line in body.splitlines():
        if not line.strip():
            out.append("")
            continue
        m = _LABEL.match(line)
        if m and "://" not in m.group(2):
            indent, label, colon, space, rest = m.groups()
            out.append(f"{indent}**{_escape(label)}**{colon}{space}{_escape(rest)}")
        else:
            out.append(_escape(line))
    text = "\n".join(out)
    paragraphs = [p.replace("\n", style.line_break) for p in re.split(r"\n{2,}", text)]
    return "\n\n".join(paragraphs)


def _escape(text: str) -> str:
    # URLs stay clickable: escape everything but them.
    parts = re.split(r"(https?://\S+)", text)
    return "".join(p if i % 2 else _MD_SPECIAL.sub(r"\\\1", p) for i, p in enumerate(parts))


def mention_line(style: Style, mentions: Sequence[str], body_format: str) -> str:
    if not mentions:
        return ""
    if style.scheme in ("feishu", "lark"):
        if body_format == "markdown":
            return " ".join(f"<at id={m}></at>" for m in mentions)
        return " ".join(f'<at user_id="{m}"></at>' for m in mentions)
    return " ".join(f"@{m}" for m in mentions)


def with_mentions(url: str, style: Style, mentions: Sequence[str]) -> str:
    """DingTalk: the mentioned phone numbers join the URL's targets (Apprise's atMobiles)."""
    if style.scheme != "dingtalk" or not mentions:
        return url
    base, sep, query = url.partition("?")
    return base.rstrip("/") + "/" + "/".join(quote(m, safe="") for m in mentions) + "/" + (sep + query if sep else "")


def fit(title: str, body: str, style: Style, tail: str = "") -> str:
    """`body` (plus `tail`, the mentions, always kept) cut at a line end so that title + body
    stays within the channel's limit; a cut body ends with an ellipsis line."""
    whole = body + ("\n\n" + tail if tail else "")
    if _fits(title, whole, style):
        return whole
    end = "\n" + ELLIPSIS + ("\n\n" + tail if tail else "")
    lines = body.splitlines()
    while lines and not _fits(title, "\n".join(lines) + end, style):
        lines.pop()
    if lines:
        return "\n".join(lines) + end
    cut = body
    while cut and not _fits(title, cut + end, style):
        cut = cut[: max(0, len(cut) - max(1, len(cut) // 8))]
    return cut + end


def _fits(title: str, body: str, style: Style) -> bool:
    text = title + "\n" + body
    if style.max_bytes is not None and len(text.encode("utf-8")) > style.max_bytes - 16:
        return False  # 16 bytes of room for the line breaks and heading marks Apprise adds
    return not (style.max_chars is not None and len(text) > style.max_chars - 16)
