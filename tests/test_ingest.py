"""The ingest step: a batch of raw values becomes per-brand posts, dead letters and unmatched counts."""

from __future__ import annotations

import orjson

from streams.config import Brand
from streams.ingest import Ingestor
from streams.matching import BrandMatcher

NOW = 1_795_300_000.0
BRANDS = [Brand("skyway", terms=("Skyway Air",), handles=("@SkywayAir",)), Brand("brewbox", terms=("BrewBox",))]


class FakeScorer:
    """Negativity = share of the word 'bad' among words, so tests can predict it."""

    def __init__(self) -> None:
        self.calls = 0

    def score_many(self, texts):
        self.calls += 1
        return [t.lower().split().count("bad") / max(len(t.split()), 1) for t in texts]


def post(i: int, text: str, **extra) -> bytes:
    return orjson.dumps({"id": str(i), "platform": "Twitter", "text": text, "created_at": "2026-11-20T10:00:00Z",
                         "author": {"id": f"a{i}", "handle": f"h{i}", "followers": 10}, **extra})


def ingestor(scorer=None) -> Ingestor:
    return Ingestor(BrandMatcher(BRANDS), ["skyway", "brewbox"], scorer, complaint_threshold=0.3)


def test_a_batch_is_split_into_brands_dead_letters_and_unmatched():
    scorer = FakeScorer()
    values = [
        post(1, "bad bad Skyway Air"),
        b"not json",
        post(2, "BrewBox and @SkywayAir are fine"),
        post(3, "nothing to see"),
        None,
        post(4, "preset brand", brand="SkyWay"),
    ]
    result = ingestor(scorer).process(values, NOW)
    assert [(bp.brand, bp.post.id) for bp in result.forwarded] == [
        ("skyway", "1"), ("brewbox", "2"), ("skyway", "2"), ("skyway", "4")]
    assert [(d.index, d.reason) for d in result.dead_letters] == [(1, "not_json"), (4, "not_json")]
    assert result.unmatched == ["twitter"]
    assert len(result.posts) == 4
    assert scorer.calls == 1, "negativity is scored once per batch"
    first = result.forwarded[0]
    assert first.negativity == 0.5 and first.complaint
    assert not result.forwarded[1].complaint


def test_forwarded_message_carries_the_wire_post_and_the_parsed_fields():
    result = ingestor(FakeScorer()).process([post(7, "bad Skyway Air", reshare_of="3")], NOW)
    message = result.forwarded[0].message()
    assert message["brand"] == "skyway" and message["reshare_of"] == "3"
    assert message["platform"] == "twitter"  # normalised
    assert message["created_at_s"] == 1_795_168_800.0  # 2026-11-20T10:00:00Z
    assert 0.0 <= message["negativity"] <= 1.0 and message["complaint"] is True


def test_without_a_scorer_negativity_is_zero():
    result = ingestor().process([post(1, "Skyway Air")], NOW)
    assert result.forwarded[0].negativity == 0.0


def test_a_bug_in_validation_dead_letters_the_post_instead_of_raising(monkeypatch):
    import streams.ingest

    def broken(raw, now):
        raise KeyError("boom")

    monkeypatch.setattr(streams.ingest, "decode_post", broken)
    result = ingestor().process([post(1, "Skyway Air")], NOW)
    assert [(d.reason, d.raw is not None) for d in result.dead_letters] == [("processing_error", True)]


def test_forwarded_value_keeps_unknown_fields_but_never_fails_or_outgrows_the_topic():
    """Legal nesting deeper than orjson writes used to fail the whole batch (and resend its other posts); numbers
    that grow when written back (1e15 -> 1000000000000000.0) used to exceed the topic's limit, and the broker
    refused the post after its offset was committed."""
    from streams.app import forward_value
    from streams.topics import MAX_FORWARD_BYTES

    plain = ingestor().process([post(1, "Skyway Air", extra={"keep": [1, 2]})], NOW).forwarded[0]
    assert orjson.loads(forward_value(plain, {"wm": 1.0}))["extra"] == {"keep": [1, 2]}

    deep = post(2, "Skyway Air", extra=orjson.Fragment(b"[" * 600 + b"]" * 600))
    growing = post(3, "Skyway Air", numbers=orjson.Fragment(b"[" + b",".join([b"1e15"] * 100_000) + b"]"))
    for raw in (deep, growing):
        [bp] = ingestor().process([raw], NOW).forwarded
        value = forward_value(bp, {"wm": 1.0, "src": "w"})
        message = orjson.loads(value)
        assert len(value) <= MAX_FORWARD_BYTES
        assert "extra" not in message and "numbers" not in message
        assert message["id"] == bp.post.id and message["brand"] == "skyway" and message["wm"] == 1.0
        assert message["author"] == {"id": bp.post.author_id, "handle": bp.post.author_handle, "followers": 10}


def test_brand_names_outside_the_watchlist_are_tracked_only_up_to_a_bound():
    # A source naming thousands of random brands must not give each a monitor and table state.
    step = Ingestor(BrandMatcher(BRANDS), ["skyway", "brewbox"], FakeScorer(), max_unlisted_brands=3)
    values = [post(i, "nothing to see", brand=f"Random{i}") for i in range(50)]
    values += [post(100, "Skyway Air again", brand="Random49"), post(101, "hi", brand="Random1"),
               post(102, "watched", brand="BrewBox")]
    result = step.process(values, NOW)
    assert [bp.brand for bp in result.forwarded] == ["random0", "random1", "random2", "skyway", "random1", "brewbox"]
    assert step.unlisted_brands == {"random0", "random1", "random2"}
    assert len(result.unmatched) == 47  # past the bound their text decides, and it names no brand
