"""Checks that what crisiswatch sent to Slack shows public text as plain text (used by several tests).

"Public" strings are the ones that came from posts: texts, author handles, URLs, story ids (post ids).
In what Slack received they must ping nobody, link nowhere we did not build, and format nothing:

* every ``&`` starts one of the three entities, and ``<``/``>`` appear only in links we built
  (``<http(s)://...|open post>`` and ``<http(s)://...|dashboard>``);
* every ``mrkdwn`` text object in blocks is ``verbatim`` (no automatic links, channels, mentions);
* a public string appears (escaped) in ``plain_text`` objects, or in mrkdwn only inside a code span,
  which formats nothing and which it cannot close (no backtick inside).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from alerts.slack_message import escape

OUR_LINK = re.compile(r"<https?://[^\s<>|]+\|(?:open post|dashboard)>")
CODE_SPAN = re.compile(r"`[^`]*`")
ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def text_objects(body: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any] | None]]:
    """(type, text, the text object or None for a top-level field) of every text Slack will show."""
    for key in ("text", "initial_comment"):  # message text is mrkdwn unless told otherwise
        if isinstance(body.get(key), str):
            yield "mrkdwn", body[key], None
    for key in ("title", "filename", "alt_txt"):  # file uploads: shown as typed
        if isinstance(body.get(key), str):
            yield "plain_text", body[key], None
    if isinstance(body.get("files"), str):
        for item in json.loads(body["files"]):
            yield "plain_text", str(item.get("title") or ""), None
    blocks = body.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    for block in blocks:
        for item in [block.get("text"), *(block.get("elements") or []), *(block.get("fields") or [])]:
            if isinstance(item, dict) and "text" in item:
                yield item.get("type", "mrkdwn"), item["text"], item


def check_body(body: dict[str, Any], public: Iterable[str]) -> int:
    """Assert the rules above for one request body; returns how many public strings it showed."""
    shown = 0
    escaped_public = [escape(p) for p in public if p]
    for kind, text, obj in text_objects(body):
        assert not ENTITY.search(text), f"raw & in {text!r}"
        without_links = OUR_LINK.sub("", text)
        assert "<" not in without_links and ">" not in without_links, f"unescaped < or > in {text!r}"
        if kind == "mrkdwn":
            if obj is not None:
                assert obj.get("verbatim") is True, f"mrkdwn without verbatim: {obj}"
            outside_code = CODE_SPAN.sub("", without_links)
            for value in escaped_public:
                assert value not in outside_code, f"public {value!r} in mrkdwn outside a code span: {text!r}"
            shown += sum(value in text for value in escaped_public)
        else:
            assert kind == "plain_text", kind
            shown += sum(value in text for value in escaped_public)
    return shown


def check_slack(requests: Iterable[Any], public: Iterable[str]) -> dict[str, int]:
    """Check every request the fake Slack received; returns requests checked per method."""
    public = list(public)
    checked: dict[str, int] = {}
    for request in requests:
        if not isinstance(request.body, dict):
            continue  # the PNG upload itself
        check_body(request.body, public)
        checked[request.method] = checked.get(request.method, 0) + 1
    return checked
