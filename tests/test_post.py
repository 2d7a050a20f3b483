"""The post wire format: valid posts parse, every malformed kind is rejected with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import orjson
import pytest

from streams.post import MAX_TEXT_CHARS, REASONS, InvalidPost, Post, format_timestamp, parse_post, parse_timestamp

SCHEMA = json.loads((Path(__file__).parent.parent / "streams/schema/post.schema.json").read_text())
NOW = 1_795_300_000.0  # 2026-11-20T22:13:20Z


def wire(**overrides) -> dict:
    post = {
        "id": "1863", "platform": "twitter", "text": "@SkywayAir lost my bag AGAIN",
        "created_at": "2026-11-20T09:15:00Z",
        "author": {"id": "u1", "handle": "ana", "followers": 1200},
    }
    post.update(overrides)
    return post


def test_valid_post_round_trips():
    post = parse_post(orjson.dumps(wire(reshare_of="77", engagement={"likes": 3, "reshares": 2, "replies": 0})), NOW)
    assert post.id == "1863" and post.author_followers == 1200 and post.reshares == 2
    assert post.root_id == "77"
    assert post.created_at == pytest.approx(1_795_166_100.0)
    again = parse_post(post.to_json(), NOW)
    assert again == post
    jsonschema.validate(post.to_wire(), SCHEMA)


def test_offsets_and_fractions_are_accepted():
    post = parse_post(orjson.dumps(wire(created_at="2026-11-20T10:15:00.250+01:00")), NOW)
    assert post.created_at == pytest.approx(1_795_166_100.25)
    assert format_timestamp(post.created_at) == "2026-11-20T09:15:00.250Z"


CASES = [
    (b"\xff\xfe\x00", "not_utf8"),
    (b"{not json", "not_json"),
    (b"", "not_json"),
    (None, "not_json"),
    (b"[1, 2]", "not_object"),
    (b'"a string"', "not_object"),
    (orjson.dumps({k: v for k, v in wire().items() if k != "text"}), "missing_field"),
    (orjson.dumps(wire(author={"id": "u", "handle": "h"})), "missing_field"),
    (orjson.dumps(wire(text=42)), "invalid_field"),
    (orjson.dumps(wire(id="")), "invalid_field"),
    (orjson.dumps(wire(author={"id": "u", "handle": "h", "followers": -1})), "invalid_field"),
    (orjson.dumps(wire(author={"id": "u", "handle": "h", "followers": True})), "invalid_field"),
    (orjson.dumps(wire(created_at="yesterday")), "invalid_field"),
    (orjson.dumps(wire(created_at="2026-11-20T09:15:00")), "invalid_field"),  # no zone
    (orjson.dumps(wire(engagement={"likes": "many"})), "invalid_field"),
    (orjson.dumps(wire(reshare_of=12)), "invalid_field"),
    (orjson.dumps(wire(text="x" * (MAX_TEXT_CHARS + 1))), "text_too_long"),
    (orjson.dumps(wire(created_at=format_timestamp(NOW + 2 * 86400))), "future_timestamp"),
    (b"[" * 100_000 + b"]" * 100_000, "not_json"),
    (b" " * 2_000_000, "too_large"),
]


@pytest.mark.parametrize(("raw", "reason"), CASES, ids=[c[1] + str(i) for i, c in enumerate(CASES)])
def test_malformed_posts_are_rejected_with_their_reason(raw, reason):
    with pytest.raises(InvalidPost) as info:
        parse_post(raw, NOW)
    assert info.value.reason == reason
    assert info.value.detail


def test_every_parse_reason_is_exercised():
    # processing_error is raised by the worker, not the parser (tests/test_ingest.py)
    assert {reason for _, reason in CASES} == set(REASONS) - {"processing_error"}


def test_text_of_exactly_the_limit_and_slightly_future_posts_are_fine():
    parse_post(orjson.dumps(wire(text="x" * MAX_TEXT_CHARS)), NOW)
    parse_post(orjson.dumps(wire(created_at=format_timestamp(NOW + 3600))), NOW)


def test_parser_agrees_with_the_json_schema_on_the_cases():
    for raw, _ in CASES:
        try:
            obj = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict) and len(raw) < 100_000:
            with pytest.raises(InvalidPost):
                parse_post(raw, NOW)
            try:
                jsonschema.validate(obj, SCHEMA, format_checker=jsonschema.FormatChecker())
            except jsonschema.ValidationError:
                continue
            # Valid by schema yet rejected: only the checks a schema cannot express.
            assert parse_post_reason(raw) in {"future_timestamp", "invalid_field"}


def parse_post_reason(raw: bytes) -> str:
    try:
        parse_post(raw, NOW)
    except InvalidPost as exc:
        return exc.reason
    return "valid"


def test_post_dataclass_is_slotted_for_memory():
    assert not hasattr(Post("a", "b", "c", 0.0, "d", "e", 0), "__dict__")



def test_counts_are_bounded_so_that_sums_of_them_stay_64_bit():
    """Followers of 2**64 - 1 were valid, and a story's reach (their sum) then failed the per-brand stage's
    JSON state ("Integer exceeds 64-bit range")."""
    from streams.post import MAX_COUNT

    parse_post(orjson.dumps(wire(author={"id": "u", "handle": "h", "followers": MAX_COUNT},
                                 engagement={"likes": MAX_COUNT, "reshares": float(MAX_COUNT)})), NOW)
    for bad in (wire(author={"id": "u", "handle": "h", "followers": 2**64 - 1}),
                wire(engagement={"likes": MAX_COUNT + 1}), wire(engagement={"reshares": 1e30})):
        with pytest.raises(InvalidPost) as info:
            parse_post(orjson.dumps(bad), NOW)
        assert info.value.reason == "invalid_field"


def test_rfc3339_lower_case_t_and_z_and_counts_written_as_floats_are_accepted():
    post = parse_post(orjson.dumps(wire(created_at="2026-11-20t09:20:05.123z",
                                        author={"id": "u", "handle": "h", "followers": 3.0})), NOW)
    assert post.created_at == parse_timestamp("2026-11-20T09:20:05.123Z")
    assert post.author_followers == 3 and isinstance(post.author_followers, int)
    for bad in (3.5, "3", None):
        with pytest.raises(InvalidPost) as err:
            parse_post(orjson.dumps(wire(author={"id": "u", "handle": "h", "followers": bad})), NOW)
        assert err.value.reason == ("missing_field" if bad is None else "invalid_field")
