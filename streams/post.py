"""The post wire format: what arrives on the ``posts`` topic and how it is checked.

A post is UTF-8 JSON (see ``streams/schema/post.schema.json`` and the README).
:func:`parse_post` turns the raw Kafka value into a :class:`Post` or raises
:class:`InvalidPost` with a *reason code* from :data:`REASONS`. The codes are a
small fixed set so that they can be a Prometheus label; the human detail goes
into the dead-letter record instead.

Validation is written by hand rather than with ``jsonschema`` because it runs
for every post on the hot path; ``tests/test_post.py`` checks that it agrees
with the shipped JSON Schema.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

MAX_TEXT_CHARS = 10_000
MAX_FUTURE_SECONDS = 24 * 3600
MAX_POST_BYTES = 1_000_000
#: Largest follower or engagement count accepted: more than there are people. The bound keeps sums
#: of counts (a story's reach) within the 64-bit integers that JSON state and events are written as;
#: an unbounded count (``2**64 - 1`` followers) made the per-brand stage fail to save its state.
MAX_COUNT = 10_000_000_000

#: Every reason a post can be rejected for (the ``reason`` label of the DLQ counter).
REASONS = (
    "too_large",
    "not_utf8",
    "not_json",
    "not_object",
    "missing_field",
    "invalid_field",
    "text_too_long",
    "future_timestamp",
    "processing_error",  # valid-looking, but processing it raised: a bug, kept for replay after the fix
)


class InvalidPost(ValueError):
    """A post that cannot be processed; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Post:
    """A validated post. ``created_at`` is seconds since the Unix epoch (UTC)."""

    id: str
    platform: str
    text: str
    created_at: float
    author_id: str
    author_handle: str
    author_followers: int
    brand: str | None = None
    reshare_of: str | None = None
    reply_to: str | None = None
    lang: str | None = None
    url: str | None = None
    likes: int = 0
    reshares: int = 0
    replies: int = 0

    @property
    def root_id(self) -> str:
        """The post a conversation hangs on: what it reshares, else what it answers, else itself."""
        return self.reshare_of or self.reply_to or self.id

    def to_wire(self) -> dict[str, Any]:
        """The JSON object of the wire format (the inverse of :func:`parse_post`)."""
        wire: dict[str, Any] = {
            "id": self.id,
            "platform": self.platform,
            "text": self.text,
            "created_at": format_timestamp(self.created_at),
            "author": {
                "id": self.author_id,
                "handle": self.author_handle,
                "followers": self.author_followers,
            },
        }
        for key in ("brand", "reshare_of", "reply_to", "lang", "url"):
            value = getattr(self, key)
            if value is not None:
                wire[key] = value
        if self.likes or self.reshares or self.replies:
            wire["engagement"] = {
                "likes": self.likes,
                "reshares": self.reshares,
                "replies": self.replies,
            }
        return wire

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_wire())


def format_timestamp(epoch_seconds: float) -> str:
    """RFC 3339 in UTC with millisecond precision, e.g. ``2026-11-23T09:20:05.123Z``."""
    dt = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_timestamp(value: Any) -> float:
    """Parse an RFC 3339 timestamp with a zone into epoch seconds; raise ``ValueError``.

    RFC 3339 lets the ``T`` and ``Z`` be lower case; no other letter can occur in one.
    """
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("expected an RFC 3339 string")
    dt = datetime.fromisoformat(value.upper())
    if dt.tzinfo is None:
        raise ValueError("timestamp has no time zone")
    return dt.timestamp()


def parse_post(raw: bytes | None, now: float) -> Post:
    """Decode and validate one raw Kafka value.

    ``now`` (epoch seconds) bounds how far in the future ``created_at`` may be.
    Raises :class:`InvalidPost`; never anything else, whatever the input.
    """
    return decode_post(raw, now)[0]


def decode_post(raw: bytes | None, now: float) -> tuple[Post, dict[str, Any]]:
    """Like :func:`parse_post`, also returning the decoded JSON object (to forward it unchanged)."""
    if raw is None:
        raise InvalidPost("not_json", "empty message (null value)")
    if len(raw) > MAX_POST_BYTES:
        raise InvalidPost("too_large", f"{len(raw)} bytes > {MAX_POST_BYTES}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidPost("not_utf8", "value is not valid UTF-8") from None
        raise InvalidPost("not_json", str(exc)[:200]) from None
    except RecursionError:
        raise InvalidPost("not_json", "nesting too deep") from None
    if not isinstance(obj, dict):
        raise InvalidPost("not_object", f"top level is {type(obj).__name__}, expected object")
    return post_from_dict(obj, now), obj


def post_from_dict(obj: dict[str, Any], now: float) -> Post:
    """Validate an already decoded JSON object (see :func:`parse_post`)."""
    author = _required(obj, "author", dict)
    text = _required(obj, "text", str)
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidPost("text_too_long", f"text has {len(text)} characters > {MAX_TEXT_CHARS}")
    created_raw = _required(obj, "created_at", str)
    try:
        created_at = parse_timestamp(created_raw)
    except (ValueError, OverflowError) as exc:
        raise InvalidPost("invalid_field", f"created_at: {exc}") from None
    if created_at > now + MAX_FUTURE_SECONDS:
        raise InvalidPost("future_timestamp", f"created_at {created_raw!r} is more than a day ahead")
    followers = _count(author, "followers", where="author.", required=True)
    engagement = obj.get("engagement")
    if engagement is not None and not isinstance(engagement, dict):
        raise InvalidPost("invalid_field", "engagement: expected an object")
    engagement = engagement or {}
    return Post(
        id=_identifier(obj, "id"),
        platform=_identifier(obj, "platform", max_len=64).lower(),
        text=text,
        created_at=created_at,
        author_id=_identifier(author, "id", where="author."),
        author_handle=_required(author, "handle", str, where="author.")[:256],
        author_followers=followers,
        brand=_optional_str(obj, "brand", 128),
        reshare_of=_optional_str(obj, "reshare_of", 256),
        reply_to=_optional_str(obj, "reply_to", 256),
        lang=_optional_str(obj, "lang", 16),
        url=_optional_str(obj, "url", 2048),
        likes=_count(engagement, "likes"),
        reshares=_count(engagement, "reshares"),
        replies=_count(engagement, "replies"),
    )


def _required(obj: dict[str, Any], key: str, kind: type, where: str = "") -> Any:
    if key not in obj or obj[key] is None:
        raise InvalidPost("missing_field", f"{where}{key} is required")
    value = obj[key]
    if not isinstance(value, kind):
        raise InvalidPost(
            "invalid_field",
            f"{where}{key}: expected {kind.__name__}, got {type(value).__name__}",
        )
    return value


def _identifier(obj: dict[str, Any], key: str, where: str = "", max_len: int = 256) -> str:
    value = _required(obj, key, str, where)
    if not value or len(value) > max_len:
        raise InvalidPost("invalid_field", f"{where}{key}: expected 1 to {max_len} characters")
    return value


def _optional_str(obj: dict[str, Any], key: str, max_len: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise InvalidPost("invalid_field", f"{key}: expected a string of at most {max_len} characters")
    return value or None


def _count(obj: dict[str, Any], key: str, where: str = "engagement.", required: bool = False) -> int:
    """A count from 0 to MAX_COUNT; ``3.0`` is 3, as JSON Schema's "integer" has it (some serialisers write floats)."""
    value = obj.get(key)
    if value is None:
        if required:
            raise InvalidPost("missing_field", f"{where}{key} is required")
        return 0
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise InvalidPost("invalid_field", f"{where}{key}: expected an integer from 0 to {MAX_COUNT}")
    return value

