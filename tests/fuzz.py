"""Malformed and hostile posts for fuzz tests: hypothesis strategies, each malformed *by construction*.

The expected answer of a fuzz test must not come from the code under test, or a bug in the
decoder would only agree with itself. So every strategy here builds an input around exactly one
fault whose reason code (``streams.post.REASONS``) follows from the wire format alone:

* ``too_large``: more than ``MAX_POST_BYTES`` bytes, whatever they hold;
* ``not_utf8``: at most that size and containing a byte sequence that is invalid UTF-8 in any
  context (``0xff``, an overlong ``0xc0``, an encoded surrogate ``0xed 0xa0``, above U+10FFFF...);
  a JSON text must be UTF-8, so no parser may accept it;
* ``not_json``: valid UTF-8 that no JSON grammar accepts: truncated documents, ``NaN`` and
  ``Infinity`` literals, numbers overflowing a double, raw control characters or lone surrogate
  escapes in strings, invalid escapes, a byte order mark, trailing garbage, nesting deeper than
  the parser's documented limit (1,024), garbage text, empty values (and Kafka ``null`` values);
* ``not_object``: valid JSON whose top level is not an object;
* ``missing_field``: a valid post with one required field dropped or ``null`` (also through a
  duplicate key whose *last* value is ``null``: JSON parsers keep the last one);
* ``invalid_field``: a valid post with one field of the wrong type or out of its documented range;
* ``text_too_long``: a valid post whose text has more than ``MAX_TEXT_CHARS`` characters;
* ``future_timestamp``: a valid post dated more than a day (plus an hour of slack) after ``now``.

Valid posts underneath are hostile too: mentions and markup, zero-width and bidi controls,
``\\u0000`` escapes, noncharacters, emoji sequences, escaped surrogate pairs, duplicate keys,
odd whitespace. :func:`hostile_valid_post` makes posts that are valid yet adversarial (the good
posts around the malformed ones must get through): deep but legal nesting in unknown fields,
numbers that grow when re-serialised, huge follower counts within range, extreme dates, a
platform named ``total``.

:func:`draw_many` draws a deterministic list of examples from a strategy (hypothesis with a fixed
seed), for the runs that push thousands of them through a real worker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from streams.post import MAX_COUNT, MAX_POST_BYTES, MAX_TEXT_CHARS

#: Platforms the metrics know by name (a subset of ``streams.metrics.PLATFORMS``).
KNOWN_PLATFORMS = ("twitter", "reddit", "facebook", "instagram", "tiktok", "news")
BRANDS = ("skyway", "brewbox", "voltmobile")

#: Byte sequences that are invalid UTF-8 whatever surrounds them.
INVALID_UTF8 = (
    b"\xff", b"\xfe", b"\xc0\xaf", b"\xc1\xbf",                # never-valid lead bytes, overlong "/"
    b"\xed\xa0\x80", b"\xed\xbf\xbf",                          # a lone surrogate, encoded (CESU-8)
    b"\xed\xa0\xbd\xed\xb8\x80",                               # an emoji as an encoded surrogate pair
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",                  # above U+10FFFF
    b"\xf8\x88\x80\x80\x80",                                   # a five-byte sequence
)
#: Latin-1 characters whose byte (0xf5-0xff) never occurs in UTF-8.
LATIN1_ONLY = "õö÷øùúûüýþÿ"

#: Value tokens outside the JSON grammar (RFC 8259); tests/test_fuzz.py checks them against the stdlib.
GRAMMAR_TOKENS = (
    "NaN", "Infinity", "-Infinity", "+1", "01", "-01", ".5", "1.", "1e", "0x1F", "'single quotes'",
    '"bad \\x41 escape"', '"\\u12"', '"\\U0001F600"', '"raw \x01 control"', '"raw \t tab"',
    '"raw \n newline"', '"raw \x00 nul"', "undefined", "True", "None", "nul", '"unterminated',
    "[1, 2,]", '{"a": 1,}', '{"a"}', "// comment", "/* comment */ 1", "-", "\ufeff1", "\u00a01",
)
#: Grammatical tokens with no value in I-JSON (RFC 7493, what a UTF-8 JSON wire format can carry):
#: lone surrogate escapes (no Unicode string has them) and numbers beyond a double.
UNREPRESENTABLE_TOKENS = ('"\\ud800"', '"\\udc00"', '"lone \\ud83d then text"', '"\\ud800\\u0041"', "1e400",
                          "-1e999")
BAD_TOKENS = GRAMMAR_TOKENS + UNREPRESENTABLE_TOKENS

#: Text that Slack, terminals or humans would treat specially.
HOSTILE_SNIPPETS = (
    "<!channel>", "<!here>", "<!everyone>", "<@U123>", "<#C0123|general>", "<http://evil.example|your bank>",
    "<https://evil.example>", "&amp;", "&lt;b&gt;", "&", "<", ">", "*bold*", "_italic_", "~strike~",
    "`code`", "```block```", "> quote", "\u200b", "\u200d", "\u2060", "\ufeff", "\u202e", "\u2066",
    "\u0000", "\x1b[2J", "\x7f", "\u2028", "\u2029", "\ufffe", "\uffff", "\U0010ffff", "e\u0301",
    "👩\u200d👩\u200d👧", "🇺🇦", "\U0001d54f", "ﷺ", "﷽", "\\", '"', "\\u0000", "%s%n", "{{7*7}}",
    "@SkywayAir", "#skyway", "\r\n",
)

_CHAR = st.one_of(st.characters(codec="utf-8"), st.characters(max_codepoint=0x7F))
_TEXT_PIECE = st.one_of(st.text(_CHAR, max_size=12), st.sampled_from(HOSTILE_SNIPPETS))


@lru_cache
@st.composite
def hostile_text(draw: st.DrawFn, min_size: int = 0, max_size: int = 200) -> str:
    """Text of ``min_size`` to ``max_size`` code points mixing random Unicode and hostile snippets."""
    text = "".join(draw(st.lists(_TEXT_PIECE, max_size=8)))
    while len(text) < min_size:
        text += draw(st.sampled_from(HOSTILE_SNIPPETS)) + "x"
    return text[:max_size]


def repeat_to(chunk: str, length: int) -> str:
    """``chunk`` repeated and cut to exactly ``length`` code points (big fields without big draws)."""
    chunk = chunk or "x"
    return (chunk * (length // len(chunk) + 1))[:length]


# --- serialising: our own assembler, so that duplicate keys and bad tokens can be placed anywhere --


@dataclass(frozen=True)
class Raw:
    """A JSON text placed verbatim where a value goes."""

    text: str


Pairs = list[tuple[str, Any]]


def encode(value: Any, style: dict[str, Any]) -> str:
    """JSON text of ``value``; dicts may be given as pair lists (duplicate keys), ``Raw`` is verbatim."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        value = list(value.items()) or Raw("{}")
        if isinstance(value, Raw):
            return value.text
    if isinstance(value, list) and value and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        sep, colon = style.get("sep", ","), style.get("colon", ":")
        inner = sep.join(f"{json.dumps(k, ensure_ascii=style['ascii'])}{colon}{encode(v, style)}" for k, v in value)
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + style.get("sep", ",").join(encode(v, style) for v in value) + "]"
    return json.dumps(value, ensure_ascii=style["ascii"], allow_nan=False)


_STYLES = st.fixed_dictionaries({
    "ascii": st.booleans(),  # True: every non-ASCII character as \\u escapes (astral ones as surrogate pairs)
    "sep": st.sampled_from([",", ", ", " ,\n\t", ",\r\n  "]),
    "colon": st.sampled_from([":", ": ", " :\t"]),
    "pad": st.sampled_from(["", " ", "\n", "\t \r\n"]),
})


def document(pairs: Pairs, style: dict[str, Any]) -> bytes:
    return (style["pad"] + encode(pairs, style) + style["pad"]).encode("utf-8")


# --- valid posts -----------------------------------------------------------------------------


def _timestamp(epoch: float, offset_minutes: int, fraction: int, form: int) -> str:
    """RFC 3339 text of ``epoch`` in a zone ``offset_minutes`` east of UTC."""
    zone = UTC if offset_minutes == 0 and form % 2 == 0 else None
    dt = datetime.fromtimestamp(epoch, tz=zone or timezone(timedelta(minutes=offset_minutes)))
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        text += "." + str(fraction).zfill(3)[:3 + fraction % 4]
    if zone is UTC:
        return text + "Z"
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


@lru_cache
def timestamps(low: float, high: float) -> st.SearchStrategy[str]:
    """RFC 3339 timestamps with a zone between epochs ``low`` and ``high``."""
    return st.builds(_timestamp, st.floats(low, high, allow_nan=False), st.integers(-14 * 60, 14 * 60),
                     st.integers(0, 999), st.integers(0, 3))


@dataclass
class PostParts:
    """A valid post as ordered pairs (so faults can drop, replace or repeat a key)."""

    top: Pairs
    author: Pairs
    brand: str | None
    platform: str

    def pairs(self) -> Pairs:
        return [(k, self.author if k == "author" else v) for k, v in self.top]


_ASCII_PLAIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 <>&*_~`!@#$%^()[]{}|;:,./?"
_BIG_BLOB = st.one_of(
    st.builds(repeat_to, hostile_text(1, 8), st.integers(10_000, 50_000)),
    st.builds(repeat_to, st.text(_ASCII_PLAIN, min_size=1, max_size=8), st.integers(100_000, 700_000)))
_KNOWN_KEYS = frozenset({"id", "platform", "text", "created_at", "author", "brand", "reshare_of", "reply_to",
                         "lang", "url", "engagement"})
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(_CHAR, max_size=10))
_small_json = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(_CHAR, max_size=5), inner, max_size=3), max_leaves=8)
_PLATFORM = st.one_of(st.sampled_from(KNOWN_PLATFORMS), st.sampled_from(KNOWN_PLATFORMS).map(str.upper))
_AUTHOR_ID = hostile_text(1, 64)
_HANDLE = st.one_of(hostile_text(0, 40), st.builds(repeat_to, hostile_text(1, 5), st.integers(200, 400)))
_FOLLOWERS = st.integers(0, 10**9)
_POST_ID = st.one_of(hostile_text(1, 40), st.builds(repeat_to, hostile_text(1, 5), st.just(256)))
_TEXT = st.one_of(hostile_text(0, 280), st.builds(repeat_to, hostile_text(1, 9), st.integers(0, MAX_TEXT_CHARS)))
_AGE = st.floats(3600, 26 * 365 * 86400)  # how long before "now" a valid post was written
_TIME_PARTS = st.tuples(st.integers(-14 * 60, 14 * 60), st.integers(0, 999), st.integers(0, 3))
_OPTIONAL = {
    "reshare_of": st.one_of(st.none(), hostile_text(1, 40)),
    "reply_to": st.one_of(st.none(), hostile_text(1, 40)),
    "lang": st.one_of(st.none(), hostile_text(0, 16)),
    "url": st.one_of(st.none(), hostile_text(0, 100), st.just("javascript:alert(1)"),
                     st.just("https://evil.example/a>b|c<!channel>")),
    "engagement": st.one_of(st.none(), st.fixed_dictionaries(
        {}, optional={k: st.one_of(st.none(), st.integers(0, 10**6), st.integers(0, 10**6).map(float))
                      for k in ("likes", "reshares", "replies")})),
}
_OPTIONAL_KEYS = st.lists(st.sampled_from(sorted(_OPTIONAL)), unique=True)
_UNKNOWN_KEY = st.text(_CHAR, min_size=1, max_size=10).filter(lambda k: k not in _KNOWN_KEYS)


@lru_cache
@st.composite
def valid_parts(draw: st.DrawFn, now: float, *, brand: bool = False) -> PostParts:
    """A valid post (with hostile content); ``brand`` sets the ``brand`` field to a watched brand."""
    platform = draw(_PLATFORM)
    author: Pairs = [("id", draw(_AUTHOR_ID)), ("handle", draw(_HANDLE)), ("followers", draw(_FOLLOWERS))]
    top: Pairs = [
        ("id", draw(_POST_ID)),
        ("platform", platform),
        ("text", draw(_TEXT)),
        ("created_at", _timestamp(now - draw(_AGE), *draw(_TIME_PARTS))),
        ("author", None),
    ]
    chosen_brand = None
    if brand:
        chosen_brand = draw(st.sampled_from(BRANDS))
        top.append(("brand", draw(st.sampled_from([chosen_brand, chosen_brand.upper(), chosen_brand.title()]))))
    for key in draw(_OPTIONAL_KEYS):
        top.append((key, draw(_OPTIONAL[key])))
    for _ in range(draw(st.integers(0, 2))):  # unknown fields are allowed and kept
        top.append((draw(_UNKNOWN_KEY), draw(_small_json)))
    order = draw(st.permutations(range(len(top))))
    return PostParts([top[i] for i in order], author, chosen_brand, platform.lower())


# --- malformed posts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Malformed:
    """An input and the reason the wire format says it must be rejected for."""

    raw: bytes | None
    reason: str
    kind: str  # which construction made it, for reports


def _with_field(parts: PostParts, path: tuple[str, ...], value: Any, mode: str = "replace") -> Pairs:
    """The post's pairs with ``path`` set to ``value`` (``mode``: replace, drop, or a duplicate key last)."""
    def edit(pairs: Pairs, key: str, new: Any) -> Pairs:
        if mode == "duplicate" and any(k == key for k, _ in pairs):
            return [*pairs, (key, new)]
        out = [(k, new if k == key else v) for k, v in pairs if not (mode == "drop" and k == key)]
        if mode != "drop" and not any(k == key for k, _ in pairs):
            out.append((key, new))
        return out

    if path[0] == "author" and len(path) == 2:
        return [(k, edit(parts.author, path[1], value) if k == "author" else v) for k, v in parts.pairs()]
    return edit(parts.pairs(), path[0], value)


REQUIRED_PATHS = (("id",), ("platform",), ("text",), ("created_at",), ("author",),
                  ("author", "id"), ("author", "handle"), ("author", "followers"))


@lru_cache
@st.composite
def missing_field(draw: st.DrawFn, now: float) -> Malformed:
    parts = draw(valid_parts(now))
    path = draw(st.sampled_from(REQUIRED_PATHS))
    mode = draw(st.sampled_from(["drop", "replace", "duplicate"]))
    pairs = _with_field(parts, path, None, mode)
    return Malformed(document(pairs, draw(_STYLES)), "missing_field", f"missing:{'.'.join(path)}:{mode}")


_not_str = st.one_of(st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                     st.lists(st.text(_CHAR, max_size=3), max_size=2),
                     st.dictionaries(st.text(_CHAR, max_size=3), st.integers(), max_size=2))
_not_dict = st.one_of(st.booleans(), st.integers(), st.text(_CHAR, max_size=10), st.lists(st.integers(), max_size=3))
_not_count = st.one_of(
    st.integers(max_value=-1), st.booleans(), st.text(_CHAR, max_size=5),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f < 0 or not f.is_integer()),
    st.lists(st.integers(0, 3), max_size=2), st.integers(MAX_COUNT + 1, 2**64 - 1),
    st.integers(2**64, 10**40).map(lambda n: Raw(str(n))),  # beyond 64 bits: parsers give a float
)
_not_followers = _not_count  # ``3.0`` is a count for both (JSON Schema's "integer" admits it)
_bad_time = st.one_of(
    st.builds(lambda t: t.rsplit("+", 1)[0].rsplit("-", 1)[0].rstrip("Z"),  # no zone (naive)
              timestamps(946_684_800 + 86400, 1_800_000_000)).filter(lambda s: s.count("-") == 2),
    st.builds(lambda s: s + "!", st.text(_CHAR, max_size=20)),               # '!' is in no ISO 8601 form
    st.sampled_from(["2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-20T24:00:01Z",
                     "2026-11-20T09:61:00Z", "2026-11-20T09:15:00+24:00", "2026-11-20", "yesterday",
                     "1795166100", "", "0000-01-01T00:00:00Z"]),
    st.builds(lambda t, n: t[:19] + "." + "1" * n + "Z", timestamps(946_684_800, 1_700_000_000),
              st.integers(60, 200)),                                       # over 64 characters
)

@lru_cache
def _longer_than(limit: int) -> st.SearchStrategy[str]:
    return st.builds(repeat_to, hostile_text(1, 6), st.integers(limit + 1, limit + 300))


INVALID_FIELDS: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("id",): st.one_of(_not_str, st.just(""), _longer_than(256)),
    ("platform",): st.one_of(_not_str, st.just(""), _longer_than(64)),
    ("text",): _not_str,
    ("created_at",): st.one_of(_not_str, _bad_time),
    ("author",): _not_dict,
    ("author", "id"): st.one_of(_not_str, st.just(""), _longer_than(256)),
    ("author", "handle"): _not_str,
    ("author", "followers"): _not_followers,
    ("brand",): st.one_of(_not_str, _longer_than(128)),
    ("reshare_of",): st.one_of(_not_str, _longer_than(256)),
    ("reply_to",): st.one_of(_not_str, _longer_than(256)),
    ("lang",): st.one_of(_not_str, _longer_than(16)),
    ("url",): st.one_of(_not_str, _longer_than(2048)),
    ("engagement",): _not_dict.filter(lambda v: v is not None),
    ("engagement", "likes"): _not_count,
    ("engagement", "reshares"): _not_count,
    ("engagement", "replies"): _not_count,
}


@lru_cache
@st.composite
def invalid_field(draw: st.DrawFn, now: float) -> Malformed:
    parts = draw(valid_parts(now))
    path = draw(st.sampled_from(sorted(INVALID_FIELDS)))
    value = draw(INVALID_FIELDS[path])
    if path[0] == "engagement" and len(path) == 2:
        pairs = [(k, v) for k, v in parts.pairs() if k != "engagement"] + [("engagement", [(path[1], value)])]
    else:
        pairs = _with_field(parts, path, value, draw(st.sampled_from(["replace", "duplicate"])))
    return Malformed(document(pairs, draw(_STYLES)), "invalid_field", f"invalid:{'.'.join(path)}")


_TOO_LONG = st.one_of(st.integers(MAX_TEXT_CHARS + 1, MAX_TEXT_CHARS + 100), st.integers(MAX_TEXT_CHARS + 1, 60_000))


@lru_cache
@st.composite
def text_too_long(draw: st.DrawFn, now: float) -> Malformed:
    parts = draw(valid_parts(now))
    # At most 60,000 code points: even as 12-byte escapes the post stays under MAX_POST_BYTES.
    text = repeat_to(draw(hostile_text(1, 12)), draw(_TOO_LONG))
    return Malformed(document(_with_field(parts, ("text",), text), draw(_STYLES)), "text_too_long", "text_too_long")


@lru_cache
@st.composite
def future_timestamp(draw: st.DrawFn, now: float) -> Malformed:
    parts = draw(valid_parts(now))
    # A day ahead plus at least an hour, so the post is still too far ahead when a worker reads it.
    when = draw(timestamps(now + 86400 + 3600, now + 50 * 365 * 86400))
    return Malformed(document(_with_field(parts, ("created_at",), when), draw(_STYLES)), "future_timestamp",
                     "future_timestamp")


@lru_cache
@st.composite
def too_large(draw: st.DrawFn, now: float) -> Malformed:
    size = draw(st.integers(MAX_POST_BYTES + 1, MAX_POST_BYTES + 40_000))
    kind = draw(st.sampled_from(["padded_post", "bytes", "text"]))
    if kind == "padded_post":
        head = document(draw(valid_parts(now)).pairs(), {"ascii": True, "sep": ",", "colon": ":", "pad": ""})
        pad = b"x" * (size - len(head) - 9)  # head[:-1] + 8 bytes + pad + 2 bytes: exactly size
        raw = head[:-1] + b',"pad":"' + pad + b'"}'
    elif kind == "bytes":
        raw = draw(st.binary(min_size=1, max_size=64))
    else:
        raw = draw(hostile_text(1, 20)).encode("utf-8") or b"x"
    raw = (raw * (size // len(raw) + 1))[:size] if kind != "padded_post" else raw
    return Malformed(raw, "too_large", f"too_large:{kind}")


@lru_cache
@st.composite
def not_utf8(draw: st.DrawFn, now: float) -> Malformed:
    bad = draw(st.sampled_from(INVALID_UTF8))
    kind = draw(st.sampled_from(["bytes", "post", "latin1"]))
    if kind == "bytes":
        body = draw(st.binary(max_size=300))
    elif kind == "post":
        body = document(draw(valid_parts(now)).pairs(), draw(_STYLES))
    else:  # a post encoded as Latin-1 instead of UTF-8
        latin = st.text(st.characters(max_codepoint=0xFF), max_size=30)
        pairs: Pairs = [("id", draw(latin) + "1"), ("platform", "twitter"),
                        ("text", draw(latin) + draw(st.sampled_from(LATIN1_ONLY)) + draw(latin)),
                        ("created_at", draw(timestamps(946_684_800, now - 3600))),
                        ("author", [("id", "a"), ("handle", draw(latin)), ("followers", 1)])]
        text = encode(draw(st.permutations(pairs)), {**draw(_STYLES), "ascii": False})
        return Malformed(text.encode("latin-1"), "not_utf8", "not_utf8:latin1")
    at = draw(st.integers(0, len(body)))
    return Malformed(body[:at] + bad + body[at:], "not_utf8", f"not_utf8:{kind}")


_TOO_DEEP = st.one_of(st.integers(1025, 1100), st.integers(1025, 20_000))
_NOT_JSON_START = "abcdeghijklmopqrsuvwxyzABCDEGHIJKLMOPQRSUVWXYZ<>!#&*`'\\@)]}:,;=%^|?~"


@lru_cache
@st.composite
def not_json(draw: st.DrawFn, now: float) -> Malformed:
    kind = draw(st.sampled_from(["truncated", "token", "bom", "trailing", "deep", "garbage", "empty", "null"]))
    style = draw(_STYLES)
    if kind == "null":
        return Malformed(None, "not_json", "not_json:null")
    if kind == "empty":
        return Malformed(draw(st.sampled_from(["", " ", "\n", "\t\r\n "])).encode(), "not_json", "not_json:empty")
    if kind == "garbage":
        text = draw(st.sampled_from(_NOT_JSON_START)) + draw(hostile_text(0, 200))
        return Malformed(text.encode("utf-8"), "not_json", "not_json:garbage")
    parts = draw(valid_parts(now))
    if kind == "truncated":
        text = encode(parts.pairs(), style)  # ends with its closing brace: any proper prefix is unfinished
        return Malformed(text[: draw(st.integers(0, len(text) - 1))].encode("utf-8"), "not_json", "not_json:truncated")
    if kind == "token":
        path = draw(st.sampled_from(sorted(INVALID_FIELDS)))
        token = Raw(draw(st.sampled_from(BAD_TOKENS)))
        pairs = _with_field(parts, path[:1] if path[0] == "engagement" else path, token)
        return Malformed(document(pairs, style), "not_json", f"not_json:token:{'.'.join(path)}")
    if kind == "bom":
        return Malformed(b"\xef\xbb\xbf" + document(parts.pairs(), style), "not_json", "not_json:bom")
    if kind == "trailing":
        tail = draw(st.sampled_from(["x", "}", "]", ",", "{}", '{"id": "2"}', "\u200b", "\ufeff", "null",
                                    "\x00"]))
        return Malformed(document(parts.pairs(), style) + tail.encode("utf-8"), "not_json", "not_json:trailing")
    depth = draw(_TOO_DEEP)  # deeper than the parser's limit of 1,024 levels
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('[{"b":', "}]")]))
    value = Raw(opener * depth + "1" + closer * depth)
    return Malformed(document(_with_field(parts, ("extra",), value), style), "not_json", "not_json:deep")


_json_values = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(st.text(_CHAR, max_size=5), inner, max_size=4), max_leaves=12)


@lru_cache
@st.composite
def not_object(draw: st.DrawFn, now: float) -> Malformed:
    kind = draw(st.sampled_from(["scalar", "array", "deep", "post_in_array"]))
    style = draw(_STYLES)
    if kind == "scalar":
        text = encode(draw(_scalar), style)
    elif kind == "array":
        text = encode(draw(st.lists(_json_values, max_size=5)), style)
    elif kind == "deep":  # legal depth, still not an object
        depth = draw(st.integers(2, 1024))
        text = "[" * depth + "]" * depth
    else:
        text = "[" + encode(draw(valid_parts(now)).pairs(), style) + "]"
    return Malformed((style["pad"] + text + style["pad"]).encode("utf-8"), "not_object", f"not_object:{kind}")


#: The constructions by reason code (``processing_error`` is the worker's own, for bugs: none here).
MALFORMED: dict[str, Callable[[float], st.SearchStrategy[Malformed]]] = {
    "not_utf8": not_utf8, "not_json": not_json, "not_object": not_object, "missing_field": missing_field,
    "invalid_field": invalid_field, "text_too_long": text_too_long, "future_timestamp": future_timestamp,
    "too_large": too_large,
}


def malformed(now: float, *, reasons: tuple[str, ...] = tuple(MALFORMED)) -> st.SearchStrategy[Malformed]:
    """Any malformed post, or one of ``reasons`` only."""
    return st.one_of(*(MALFORMED[r](now) for r in reasons))


# --- hostile but valid ------------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    """A valid post with adversarial content, and the (brand, platform label) it must be counted under."""

    raw: bytes
    brand: str
    platform: str
    kind: str


@lru_cache
@st.composite
def hostile_valid_post(draw: st.DrawFn, now: float) -> Hostile:
    """A valid post naming a watched brand (so it is counted whatever its text), with one hostile twist."""
    parts = draw(valid_parts(now, brand=True))
    assert parts.brand is not None
    kind = draw(st.sampled_from(["plain", "deep_unknown", "growing_numbers", "huge_counts", "old", "dup_keys",
                                 "platform_total", "big_unknown"]))
    pairs = parts.pairs()
    platform = parts.platform
    if kind == "deep_unknown":  # legal nesting (up to 1,024) that a serialiser may refuse to write back
        depth = draw(st.integers(200, 1000))
        pairs = [*pairs, ("extra", Raw("[" * depth + "]" * depth))]
    elif kind == "growing_numbers":  # "1e15" is 4 bytes, written back as "1000000000000000.0": 18
        count = draw(st.integers(50_000, 150_000))
        pairs = [*pairs, ("numbers", Raw("[" + ",".join(["1e15"] * count) + "]"))]
    elif kind == "big_unknown":  # big, yet the whole post stays under MAX_POST_BYTES even fully escaped
        pairs = [*pairs, ("blob", draw(_BIG_BLOB))]
    elif kind == "huge_counts":
        pairs = _with_field(parts, ("author", "followers"), MAX_COUNT)
        pairs = [(k, v) for k, v in pairs if k != "engagement"] + [
            ("engagement", {"likes": MAX_COUNT, "reshares": MAX_COUNT, "replies": float(MAX_COUNT)})]
    elif kind == "old":
        pairs = _with_field(parts, ("created_at",), draw(st.sampled_from(
            ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999-00:01",
             "0001-01-01T00:00:00+14:00", "2000-02-29T12:00:00+05:45"])))
    elif kind == "dup_keys":  # the last of duplicate keys wins: a bad first value is overridden
        pairs = [("text", 42), ("author", "nobody"), ("created_at", "never"), *pairs]
    elif kind == "platform_total":
        platform = draw(st.sampled_from(["total", "TOTAL", "Total"]))
        pairs = _with_field(parts, ("platform",), platform)
        platform = platform.lower()
    raw = document(pairs, draw(_STYLES))
    label = platform if platform in KNOWN_PLATFORMS else "other"
    return Hostile(raw, parts.brand, label, kind)


# --- many examples, deterministically -------------------------------------------------------------


def draw_many(strategy: st.SearchStrategy[Any], n: int, seed_value: int = 0) -> list[Any]:
    """``n`` examples of ``strategy``, the same ones for the same seed (hypothesis, derandomised).

    Hypothesis generates rather than shrinks here (only the generate phase runs), and never stops
    early for lack of new inputs: if it runs out of distinct ones, examples repeat.
    """
    out: list[Any] = []

    @seed(seed_value)
    @settings(max_examples=n, derandomize=False, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example: Any) -> None:
        out.append(example)

    while len(out) < n:
        before = len(out)
        collect()
        if len(out) == before:
            raise RuntimeError("the strategy produced no examples")
    return out[:n]


def now() -> float:
    return time.time()
