"""Block Kit for an incident event, safe against the text of the posts it quotes.

Everything that comes from the public (post texts, author handles, post URLs, story ids, terms,
even the detector's reason) is escaped for Slack: ``&`` -> ``&amp;``, ``<`` -> ``&lt;``,
``>`` -> ``&gt;``. Slack only turns ``<...>`` sequences into mentions and links, so after escaping
a post saying ``<!channel>`` or ``<http://evil.example|your bank>`` shows as that text and pings
or disguises nothing. The only links in a message are ones built here: a post URL becomes a link
only if it is a plain ``http(s)`` URL, with the characters that could break out of ``<url|label>``
percent-encoded; anything else is shown escaped, as text.

Escaping is not enough for mrkdwn's *formatting* (``*bold*``, ``_italic_``, backticks), which has
no escape at all, nor for its automatic parsing (bare URLs and ``#channel`` names become links).
So the text and author of quoted posts go in ``plain_text`` objects, which Slack shows as typed;
every ``mrkdwn`` object is ``verbatim`` (no automatic parsing); and the short public strings that
stay in mrkdwn (story ids, terms) sit in code spans, which format nothing, with any backtick that
would close the span early replaced by a look-alike (ˋ, U+02CB).

Lengths stay within Block Kit limits: 3,000 characters per section text, 150 for the header,
50 blocks, and a short fallback ``text`` (what notifications and screen readers show).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150
MAX_CONTEXT_CHARS = 2000
MAX_BLOCKS = 50
MAX_FALLBACK_CHARS = 400
MAX_QUOTED_POST_CHARS = 700

SEVERITY_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "watch": ":large_yellow_circle:",
                  "none": ":white_circle:"}
RESOLVED_EMOJI = ":white_check_mark:"

_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")


def escape(text: object) -> str:
    """``text`` with the three characters Slack mrkdwn treats as control characters escaped."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """Cut already-escaped ``text`` to at most ``limit`` characters, never inside an ``&...;`` entity."""
    if len(text) <= limit:
        return text
    cut = _PARTIAL_ENTITY.sub("", text[: limit - 1])
    return cut + "…"


def escaped(text: object, limit: int) -> str:
    """Escape then :func:`truncate`."""
    return truncate(escape(text), limit)


def code(text: object, limit: int) -> str:
    """``text`` as a mrkdwn code span: escaped, cut, and unable to close the span early."""
    return "`" + escaped(text, limit).replace("`", "\u02cb") + "`"


def link(url: object, label: str) -> str:
    """A mrkdwn link to ``url`` if it is a plain http(s) URL, else the URL escaped as text.

    ``label`` is escaped here. In the URL, whitespace, ``<``, ``>``, ``|`` and quotes are
    percent-encoded so that the ``<url|label>`` syntax cannot be closed or split early.
    """
    text = str(url or "")
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or len(text) > 2000:
        return escaped(text, 300)
    safe_url = quote(text, safe="/:?#[]@!$&'()*+,;=%-._~").replace("&", "&amp;")
    return f"<{safe_url}|{escape(label)}>"


def compact_number(value: float) -> str:
    """``1234567`` -> ``1.2M``: reach figures are orders of magnitude, not accounting."""
    value = float(value)
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.1f}{suffix}"
    return f"{value:.0f}"


def _time(epoch: float | None) -> str:
    if epoch is None:
        return "?"
    return datetime.fromtimestamp(float(epoch), tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_CHARS), "verbatim": True}}


def _plain_section(text: str) -> dict[str, Any]:
    """A section Slack shows as typed (``text`` already escaped): no formatting, mentions or links."""
    return {"type": "section", "text": {"type": "plain_text", "text": truncate(text, MAX_SECTION_CHARS),
                                        "emoji": False}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, MAX_CONTEXT_CHARS),
                                             "verbatim": True}]}


def headline(event: dict[str, Any]) -> str:
    """One line, plain (not escaped): ``CRITICAL skyway: 240 posts/min (expected 15)``."""
    figures = event.get("figures") or {}
    state = "RESOLVED" if event["kind"] == "resolve" else event["severity"].upper()
    return (f"{state} {event['brand']}: {figures.get('posts_per_minute', 0):.0f} posts/min "
            f"(expected {figures.get('expected_per_minute', 0):.0f})")


def build_message(event: dict[str, Any], *, dashboard_url: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """The ``blocks`` and fallback ``text`` of the incident's main message, for ``event``'s state.

    ``dashboard_url`` may contain ``{brand}`` and ``{incident_id}``, filled in URL-encoded.
    """
    figures = event.get("figures") or {}
    resolved = event["kind"] == "resolve"
    severity = event["severity"]
    if resolved:
        title = f"{RESOLVED_EMOJI} Resolved: {event['brand']} (peak {event.get('peak_severity', severity)})"
    else:
        title = f"{SEVERITY_EMOJI.get(severity, '')} {severity.upper()}: {event['brand']}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut_plain(title, MAX_HEADER_CHARS), "emoji": True}},
    ]
    if resolved:
        blocks.append(_section(f"*Resolved* at {_time(event.get('resolved_at'))}, signals calm. "
                               f"Peak {event.get('peak_posts_per_minute', 0):.0f} posts/min."))
    figures_line = (f"*Posts/min:* {figures.get('posts_per_minute', 0):.0f} "
                    f"(expected {figures.get('expected_per_minute', 0):.0f})   "
                    f"*Reach:* {compact_number(figures.get('reach', 0))}   "
                    f"*Negative:* {100 * float(figures.get('negative_share', 0)):.0f}%")
    blocks.append(_section(figures_line))
    if event.get("reason") and not resolved:
        blocks.append(_section(f"*Why:* {escaped(event['reason'], MAX_SECTION_CHARS - 10)}"))
    terms = [code(term, 100) for term in figures.get("top_terms", [])]
    if terms:
        blocks.append(_section("*Top terms:* " + ", ".join(terms)))
    posts = figures.get("top_posts", [])[:3]
    if posts:
        blocks.append(_section("*Most shared posts*"))
        for post in posts:
            blocks.extend(_quoted_post(post))
    context = [f"Incident {code(event['incident_id'], 300)}", f"opened {_time(event.get('opened_at'))}"]
    if event.get("story_id"):
        context.append(f"story {code(event['story_id'], 200)}")
    if dashboard_url:
        context.append(link(_fill(dashboard_url, event), "dashboard"))
    blocks.append(_context(" · ".join(context)))
    fallback = truncate(escape(headline(event)) + (f" - {escape(event['reason'])}" if event.get("reason") else ""),
                        MAX_FALLBACK_CHARS)
    return blocks[:MAX_BLOCKS], fallback


def thread_reply(event: dict[str, Any]) -> str:
    """The short thread reply that tells what changed in an update or resolution."""
    figures = event.get("figures") or {}
    changes = set(event.get("changes", []))
    if event["kind"] == "resolve":
        text = (f"{RESOLVED_EMOJI} Resolved: calm since {_time(event.get('calm_since'))}. "
                f"Peak {event.get('peak_severity')}, {event.get('peak_posts_per_minute', 0):.0f} posts/min.")
        return truncate(text, MAX_SECTION_CHARS)
    parts = []
    if "reopened" in changes:
        parts.append(f"Flared up again: *{event['severity']}*")
    if changes & {"escalated", "deescalated"}:
        parts.append(f"Severity {event.get('previous_severity')} → *{event['severity']}*")
    if "growth" in changes:
        parts.append("Still growing")
    if "story" in changes and event.get("story_id"):
        parts.append(f"Story {code(event['story_id'], 200)}")
    parts.append(f"{figures.get('posts_per_minute', 0):.0f} posts/min (expected "
                 f"{figures.get('expected_per_minute', 0):.0f}), reach {compact_number(figures.get('reach', 0))}")
    return truncate(". ".join(parts) + ".", MAX_SECTION_CHARS)


def _quoted_post(post: dict[str, Any]) -> list[dict[str, Any]]:
    """The post's text and byline as plain text, then its link (if it is a plain http(s) URL)."""
    text = escaped(post.get("text", ""), MAX_QUOTED_POST_CHARS)
    byline = f"— {escaped(post.get('author_handle', ''), 200)} · {int(post.get('reshares', 0)):,} reshares"
    url = post.get("url")
    opened = link(url, "open post") if url else ""
    if opened and not opened.startswith("<"):  # not a link: show the URL as text with the rest
        byline += f" · {opened}"
    blocks = [_plain_section(f"“{text}”\n{byline}")]
    if opened.startswith("<"):
        blocks.append(_context(opened))
    return blocks


def _fill(template: str, event: dict[str, Any]) -> str:
    return (template.replace("{brand}", quote(str(event["brand"]), safe=""))
            .replace("{incident_id}", quote(str(event["incident_id"]), safe="")))


def _cut_plain(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
