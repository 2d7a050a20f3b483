"""Console notifier: incident events as readable lines on a stream, for the demo and for debugging.

Post texts are public input, so control characters (ANSI escape sequences could rewrite the
terminal) are shown as ``\\x1b``-style escapes rather than written raw.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from alerts.slack_message import compact_number, headline

_CONTROL = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F) if code != 0x0A} | {0x0A: " "}


def printable(text: object, limit: int = 200) -> str:
    """``text`` on one line, control characters escaped, cut to ``limit`` characters."""
    clean = str(text).translate(_CONTROL)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


class ConsoleNotifier:
    """Write a few lines per event to ``stream`` (standard output by default)."""

    kind = "console"

    def __init__(self, stream: TextIO | None = None, *, name: str = "console") -> None:
        self.stream = stream
        self.name = name

    def send(self, event: dict[str, Any]) -> bool:
        stream = self.stream or sys.stdout
        figures = event.get("figures") or {}
        when = datetime.fromtimestamp(float(event["time"]), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        changes = ",".join(event.get("changes", []))
        lines = [f"[{when}Z] incident {event['incident_id']} #{event['sequence']} {event['kind']} ({changes}): "
                 f"{printable(headline(event))}"]
        if event["kind"] != "resolve":
            lines.append(f"    reach {compact_number(figures.get('reach', 0))}, "
                         f"{100 * float(figures.get('negative_share', 0)):.0f}% negative, "
                         f"terms: {printable(', '.join(figures.get('top_terms', [])))}")
            if event.get("reason"):
                lines.append(f"    why: {printable(event['reason'])}")
            for post in figures.get("top_posts", [])[:3]:
                author = printable(post.get("author_handle", ""), 60)
                text = printable(post.get("text", ""), 140)
                byline = f"{author}, " if author else ""
                lines.append(f"    > {text} ({byline}{int(post.get('reshares', 0))} reshares)")
        stream.write("\n".join(lines) + "\n")
        stream.flush()
        return True
