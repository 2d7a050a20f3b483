"""Story tracking: grouping by root and by near-duplicate text, growth figures, bounds, state."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.base import Detector, Stateful
from detectors.minhash import NearDuplicateIndex, pack_keys, shingle_hashes, tokenize, unpack_keys
from detectors.stories import ScoredPost, StoryTracker
from streams.post import Post

T0 = 1_700_001_000.0  # a boundary of 1- and 5-minute windows (a multiple of 300 s)


def make_post(post_id: str, text: str = "", t: float = T0, author: str | None = None, followers: int = 10,
              reshare_of: str | None = None, reply_to: str | None = None, reshares: int = 0) -> Post:
    author = author or f"author-{post_id}"
    return Post(id=post_id, platform="x", text=text, created_at=t, author_id=author, author_handle=author,
                author_followers=followers, reshare_of=reshare_of, reply_to=reply_to, reshares=reshares)


def records(tracker: StoryTracker) -> dict[str, dict]:
    """The live stories' saved records by story id (what a story holds, without reaching into the tracker)."""
    return {record["id"]: record for record in tracker.to_state()["stories"]}


COMPLAINT = "@SkywayAir lost my bag AGAIN, third time this month"
COMPLAINT_RETYPED = "@SkywayAir lost my bag again third time this month!!"
UNRELATED = "@SkywayAir the new lounge in Denver is lovely, great coffee and quiet seats"


def test_tracker_follows_the_detector_protocol():
    tracker = StoryTracker()
    assert isinstance(tracker, Detector)
    assert isinstance(tracker, Stateful)


def test_reshares_and_replies_of_one_root_form_one_story():
    tracker = StoryTracker()
    tracker.update(make_post("root", COMPLAINT, followers=1000), 0.9)
    for i in range(5):
        tracker.update(make_post(f"rs{i}", "RT", T0 + i, reshare_of="root", followers=100), 0.9)
    tracker.update(make_post("re1", "so sorry, please DM us", T0 + 10, reply_to="root"), 0.1)
    snapshot = tracker.update(make_post("re2", "DMed you an hour ago", T0 + 20, reply_to="re1"), 0.6)

    assert len(tracker) == 1
    assert snapshot.story_id == "root"
    assert snapshot.posts == 8
    assert snapshot.unique_authors == 8
    assert snapshot.reach == 1000 + 5 * 100 + 10 + 10
    assert snapshot.negative_share == pytest.approx(7 / 8)
    assert snapshot.text == COMPLAINT
    assert tracker.story_id_of("re2") == "root"  # a reply to a reply is still the same conversation


def test_reshare_arriving_before_its_root_is_one_story():
    tracker = StoryTracker()
    tracker.update(make_post("rs", COMPLAINT, T0, reshare_of="root"), 0.9)
    snapshot = tracker.update(make_post("root", COMPLAINT, T0 - 30), 0.9)  # timestamps going backwards
    assert len(tracker) == 1
    assert snapshot.story_id == "root"
    assert snapshot.posts == 2
    assert snapshot.first_seen == T0 - 30
    assert snapshot.last_seen == T0
    assert tracker.clock == T0


def test_near_duplicate_texts_join_one_story_and_unrelated_texts_do_not():
    tracker = StoryTracker()
    first = tracker.update(make_post("a", COMPLAINT), 0.9)
    second = tracker.update(make_post("b", COMPLAINT_RETYPED, T0 + 5), 0.9)
    third = tracker.update(make_post("c", UNRELATED, T0 + 9), 0.1)

    assert second.story_id == first.story_id == "a"
    assert second.posts == 2
    assert third.story_id == "c"
    assert len(tracker) == 2
    # The near-duplicate is remembered: a reshare of "b" joins story "a" too.
    assert tracker.update(make_post("d", "RT", T0 + 12, reshare_of="b"), 0.9).story_id == "a"


def test_many_retyped_complaints_gather_in_one_story():
    variants = [
        "@SkywayAir lost my bag AGAIN, third time this month",
        "@skywayair lost my bag again. third time this month",
        "@SkywayAir LOST MY BAG AGAIN third time this month!!!",
        "@SkywayAir lost my bag again third time this month #fail",
        "@SkywayAir lost my bag again, third time this month, unbelievable",
        "@SkywayAir you lost my bag again third time this month",
    ]
    unrelated = [
        "@SkywayAir flight 212 cancelled and nobody at the gate can tell us anything",
        "@SkywayAir been on hold for two hours and the app keeps crashing",
        "@SkywayAir charged me twice for the same ticket and support will not refund",
        "@SkywayAir thanks for the upgrade, the crew on the Boston flight were great",
    ]
    tracker = StoryTracker()
    ids = [tracker.update(make_post(f"v{i}", text, T0 + i), 0.9).story_id for i, text in enumerate(variants)]
    others = [tracker.update(make_post(f"u{i}", text, T0 + 20 + i), 0.5).story_id
              for i, text in enumerate(unrelated)]
    assert set(ids) == {"v0"}
    assert others == [f"u{i}" for i in range(len(unrelated))]
    snapshot = tracker.snapshot("v0", T0 + 30)
    assert snapshot is not None
    assert dict(snapshot.top_terms)["bag"] == len(variants)
    assert "my" not in dict(snapshot.top_terms)  # stop word


def test_replies_are_not_matched_by_text():
    tracker = StoryTracker()
    tracker.update(make_post("a", COMPLAINT), 0.9)
    # A reply to an unknown post, in the same words: its story is its unknown parent's.
    snapshot = tracker.update(make_post("b", COMPLAINT_RETYPED, T0 + 1, reply_to="elsewhere"), 0.9)
    assert snapshot.story_id == "elsewhere"
    assert len(tracker) == 2


def accelerating_story(tracker: StoryTracker, counts: list[int], window: float) -> None:
    """Post ``counts[i]`` reshares evenly spread over window ``i`` (the root is the first post)."""
    n = 0
    for i, count in enumerate(counts):
        for j in range(count):
            t = T0 + i * window + j * window / count
            post = (make_post("root", COMPLAINT, t) if n == 0
                    else make_post(f"p{n}", "RT", t, reshare_of="root"))
            tracker.update(post, 0.8)
            n += 1


def test_velocity_acceleration_and_doubling_time_of_an_accelerating_story():
    tracker = StoryTracker(window_seconds=60)
    accelerating_story(tracker, [2, 4, 8, 16], window=60)
    end = T0 + 4 * 60
    snapshot = tracker.snapshot("root", end)
    assert snapshot is not None
    assert snapshot.posts == 30
    assert snapshot.velocity == pytest.approx(16.0)  # posts in the last minute
    assert snapshot.acceleration == pytest.approx(8.0)  # 16/min now, 8/min a minute before
    assert snapshot.doubling_time_seconds == pytest.approx(60.0)

    # Half-way through the next (empty) minute the sliding window still holds half of the last one.
    half = tracker.snapshot("root", end + 30)
    assert half is not None
    assert half.velocity == pytest.approx(8.0)
    assert half.acceleration == pytest.approx(8.0 - 12.0)
    assert math.isinf(half.doubling_time_seconds)

    # Three windows later nothing is left.
    quiet = tracker.snapshot("root", end + 180)
    assert quiet is not None
    assert quiet.velocity == 0.0
    assert math.isinf(quiet.doubling_time_seconds)


def test_a_faster_doubling_story_has_a_shorter_doubling_time_and_higher_virality():
    slow = StoryTracker(window_seconds=60)
    fast = StoryTracker(window_seconds=60)
    accelerating_story(slow, [10, 12, 14, 16], window=60)
    accelerating_story(fast, [2, 6, 18, 54], window=60)
    slow_snapshot = slow.snapshot("root", T0 + 240)
    fast_snapshot = fast.snapshot("root", T0 + 240)
    assert slow_snapshot is not None and fast_snapshot is not None
    assert fast_snapshot.doubling_time_seconds == pytest.approx(60 * math.log(2) / math.log(3))
    assert slow_snapshot.doubling_time_seconds > 4 * fast_snapshot.doubling_time_seconds
    assert fast_snapshot.virality > slow_snapshot.virality
    assert 0.0 < slow_snapshot.virality < fast_snapshot.virality < 1.0


def test_a_brand_new_story_doubles_in_one_window():
    tracker = StoryTracker(window_seconds=300)
    snapshot = tracker.update(make_post("a", COMPLAINT), 0.9)
    assert snapshot.velocity == pytest.approx(1 / 5)
    assert snapshot.doubling_time_seconds == pytest.approx(300.0)


def test_score_one_changes_nothing_and_grows_with_the_story():
    tracker = StoryTracker(window_seconds=60, half_velocity=5.0)
    tracker.update(make_post("root", COMPLAINT), 0.9)
    probe = ScoredPost(make_post("probe", "RT", T0 + 1, reshare_of="root"), 0.9, True)
    before_state = tracker.to_state()
    first = tracker.score_one(probe)
    assert tracker.to_state() == before_state
    assert tracker.score_one(probe) == first
    for i in range(30):
        tracker.update(make_post(f"rs{i}", "RT", T0 + 1 + i, reshare_of="root"), 0.9)
    later = tracker.score_one(ScoredPost(make_post("probe", "RT", T0 + 40, reshare_of="root"), 0.9, True))
    assert 0.0 < first < later < 1.0
    # A post starting a new story scores as a one-post story.
    lone = tracker.score_one(ScoredPost(make_post("x", UNRELATED, T0 + 40), 0.1, False))
    assert 0.0 < lone < first


def test_one_account_posting_fast_is_less_viral_than_many_accounts():
    crowd = StoryTracker(window_seconds=60)
    spammer = StoryTracker(window_seconds=60)
    for tracker, author in ((crowd, None), (spammer, "bot")):
        tracker.update(make_post("root", COMPLAINT, author=author), 0.9)
        for i in range(40):
            tracker.update(make_post(f"rs{i}", "RT", T0 + i, reshare_of="root", author=author), 0.9)
    crowd_snapshot = crowd.snapshot("root", T0 + 45)
    spam_snapshot = spammer.snapshot("root", T0 + 45)
    assert crowd_snapshot is not None and spam_snapshot is not None
    assert crowd_snapshot.velocity == spam_snapshot.velocity
    assert spam_snapshot.unique_authors == 1
    assert crowd_snapshot.virality > 5 * spam_snapshot.virality


def test_unique_authors_are_exact_up_to_the_bound_then_estimated():
    tracker = StoryTracker(max_authors=64)
    tracker.update(make_post("root", COMPLAINT, author="a0"), 0.9)
    for i in range(1, 64):
        snapshot = tracker.update(make_post(f"r{i}", "RT", T0 + i, reshare_of="root", author=f"a{i}"), 0.9)
    assert (snapshot.unique_authors, snapshot.unique_authors_exact) == (64, True)
    for i in range(64, 3000):
        snapshot = tracker.update(make_post(f"r{i}", "RT", T0 + i, reshare_of="root", author=f"a{i}"), 0.9)
    # Every author again: the estimate must not move.
    again = tracker.update(make_post("x", "RT", T0 + 3001, reshare_of="root", author="a5"), 0.9)
    assert snapshot.unique_authors_exact is False
    assert 0.7 * 3000 < snapshot.unique_authors < 1.3 * 3000  # KMV, k = 64: about 12 % standard error
    assert again.unique_authors == snapshot.unique_authors


def test_top_posts_are_the_most_reshared_then_most_followed():
    tracker = StoryTracker()
    tracker.update(make_post("root", COMPLAINT, followers=50, reshares=2), 0.9)
    tracker.update(make_post("a", "RT", T0 + 1, reshare_of="root", followers=5_000_000), 0.9)
    tracker.update(make_post("b", "RT", T0 + 2, reshare_of="root", followers=10, reshares=7), 0.9)
    tracker.update(make_post("c", "RT", T0 + 3, reshare_of="root", followers=20), 0.9)
    snapshot = tracker.update(make_post("d", "RT", T0 + 4, reshare_of="root", followers=30, reshares=2), 0.9)
    assert [post.post_id for post in snapshot.top_posts] == ["b", "root", "d"]  # root: 2 reshares, 50 followers


def test_ignored_terms_and_handles_are_not_top_terms():
    tracker = StoryTracker(ignore_terms=["Skyway Airlines", "#skyway"])
    for i in range(3):
        snapshot = tracker.update(make_post(
            f"p{i}", f"@SkywayAir Skyway Airlines #skyway cancelled flight 212 again {i} #refund", T0 + i), 0.9)
    terms = dict(snapshot.top_terms)
    assert snapshot.posts == 3
    assert terms["cancelled"] == 3 and terms["212"] == 3 and terms["#refund"] == 3
    assert not {"skyway", "airlines", "#skyway", "@skywayair", "again"} & set(terms)


def test_term_counter_is_bounded():
    tracker = StoryTracker(max_terms=5)
    tracker.update(make_post("root", COMPLAINT), 0.9)
    for i in range(200):
        tracker.update(make_post(f"r{i}", f"word{i} other{i} lost bag", T0 + i, reply_to="root"), 0.9)
    terms = records(tracker)["root"]["terms"]
    assert terms is not None and len(terms) <= 10
    snapshot = tracker.snapshot("root", T0 + 200)
    assert snapshot is not None
    assert [term for term, _ in snapshot.top_terms[:2]] == ["bag", "lost"]


def test_idle_stories_expire():
    tracker = StoryTracker(idle_seconds=600)
    tracker.update(make_post("a", COMPLAINT, T0), 0.9)
    tracker.update(make_post("b", UNRELATED, T0 + 500), 0.1)
    tracker.update(make_post("c", "something else entirely happened today", T0 + 700), 0.1)
    assert tracker.story_id_of("a") is None  # idle 700 s > 600 s at the new clock
    assert {tracker.story_id_of("b"), tracker.story_id_of("c")} == {"b", "c"}
    assert tracker.expire(T0 + 1200) == ["b"]
    assert tracker.expire(T0 + 1301) == ["c"]
    assert len(tracker) == 0
    assert len(tracker._index) == 0
    # An expired story's near-duplicates start afresh.
    assert tracker.update(make_post("a2", COMPLAINT_RETYPED, T0 + 1400), 0.9).story_id == "a2"


def test_a_post_too_late_to_start_a_story_is_counted_but_not_kept():
    tracker = StoryTracker(idle_seconds=600)
    tracker.update(make_post("now", COMPLAINT, T0 + 10_000), 0.9)
    snapshot = tracker.update(make_post("old", UNRELATED, T0), 0.1)
    assert snapshot.posts == 1
    assert snapshot.velocity == 0.0
    assert len(tracker) == 1
    # A late reshare of a live story still counts in it.
    assert tracker.update(make_post("late", "RT", T0, reshare_of="now"), 0.9).posts == 2


def test_a_post_too_late_to_start_a_story_evicts_nothing():
    tracker = StoryTracker(idle_seconds=600, max_stories=2)
    tracker.learn(make_post("a", COMPLAINT, T0 + 10_000), 0.9, True)
    tracker.learn(make_post("b", UNRELATED, T0 + 10_001), 0.1, False)
    assert tracker.update(make_post("old", "something else entirely happened today", T0), 0.1).posts == 1
    assert {tracker.story_id_of("a"), tracker.story_id_of("b")} == {"a", "b"}
    assert tracker.story_id_of("old") is None
    assert len(tracker) == 2


def test_max_stories_evicts_the_least_recently_updated():
    tracker = StoryTracker(max_stories=3)
    for i, text in enumerate(["alpha beta gamma delta", "one two three four five",
                              "red green blue yellow pink"]):
        tracker.update(make_post(f"s{i}", text, T0 + i), 0.5)
    tracker.update(make_post("r", "RT", T0 + 10, reshare_of="s0"), 0.5)  # s0 is now the freshest
    tracker.update(make_post("s3", "north south east west up", T0 + 11), 0.5)
    assert len(tracker) == 3
    assert tracker.story_id_of("s1") is None
    assert {tracker.story_id_of(s) for s in ("s0", "s2", "s3")} == {"s0", "s2", "s3"}
    assert len(tracker._index) <= 3 * tracker._index.bands


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 3), st.integers(-50, 400),
                          st.sampled_from([COMPLAINT, COMPLAINT_RETYPED, UNRELATED, "", "😡😡", "short one"])),
                max_size=120))
def test_memory_stays_bounded_whatever_the_stream(events):
    tracker = StoryTracker(max_stories=5, max_aliases=3, max_authors=4, max_terms=2, idle_seconds=300)
    for n, (target, kind, dt, text) in enumerate(events):
        parent = f"p{target}"
        post = make_post(f"p{n}", text, T0 + dt, author=f"a{n % 7}",
                         reshare_of=parent if kind == 1 else None, reply_to=parent if kind == 2 else None)
        snapshot = tracker.update(post, (n % 10) / 9)
        assert 0.0 <= snapshot.virality < 1.0
        assert 0.0 <= snapshot.negative_share <= 1.0
    assert len(tracker) <= 5
    assert len(tracker._aliases) <= 5 * 3
    assert len(tracker._index) <= 5 * tracker._index.bands
    stories = records(tracker)
    for story in stories.values():
        assert len(story["aliases"]) <= 3
        assert len(story["authors"]) <= 4
        assert story["terms"] is None or len(story["terms"]) <= 4
        assert len(story["top_posts"]) <= 3
    # Every alias and index entry leads to a live story, and no slot is both live and free.
    assert set(tracker._aliases.values()) <= set(stories)
    assert tracker._index.items() <= set(tracker._table.slot_of.values())
    assert tracker._table.capacity <= 5 + 1  # one row for a post too late to start a story
    # top_stories' list of stories with more than one post holds exactly those.
    assert set(tracker._grown) == {slot for slot in tracker._table.slot_of.values() if tracker._table.posts[slot] > 1}
    assert len(tracker._table._free) + len(tracker) == tracker._table.capacity


def test_odd_texts_and_values():
    tracker = StoryTracker()
    empty = tracker.update(make_post("e1", ""), 0.5)
    empty_too = tracker.update(make_post("e2", "", T0 + 1), 0.5)
    emoji = tracker.update(make_post("m1", "😡😡😡🛄", T0 + 2), 0.9)
    emoji_too = tracker.update(make_post("m2", "😡😡😡🛄", T0 + 3), 0.9)
    long_text = "lost my bag again " * 600  # about 10,000 characters
    long_one = tracker.update(make_post("l1", long_text[:10_000], T0 + 4), 0.9)
    long_two = tracker.update(make_post("l2", "x " + long_text[:9_000], T0 + 5), 0.9)
    nan = tracker.update(make_post("n", "what does this even mean for the flight", T0 + 6), float("nan"))
    # Too little text to call anything a near-duplicate: each is its own story.
    assert len({empty.story_id, empty_too.story_id, emoji.story_id, emoji_too.story_id}) == 4
    assert len(long_one.text) == tracker.max_text_chars
    assert long_two.story_id == "l1"
    assert nan.mean_negativity == 0.0 and nan.negative_share == 0.0
    assert orjson.loads(orjson.dumps(long_two.to_dict()))["posts"] == 2


def test_state_round_trips_through_json_and_carries_on_identically():
    params = {"max_stories": 50, "max_authors": 8, "max_aliases": 4, "window_seconds": 60}
    tracker = StoryTracker(**params)
    texts = [COMPLAINT, COMPLAINT_RETYPED, UNRELATED, "", "😡", "delayed four hours at the gate again"]
    for n in range(300):
        kind = n % 5
        parent = f"p{n // 3}"
        post = make_post(f"p{n}", texts[n % len(texts)] + (f" {n}" if n % 4 else ""), T0 + n * 7,
                         author=f"a{n % 23}", followers=n, reshares=n % 4,
                         reshare_of=parent if kind == 1 else None, reply_to=parent if kind == 2 else None)
        tracker.update(post, (n % 10) / 10)

    state = orjson.loads(orjson.dumps(tracker.to_state()))
    restored = StoryTracker.from_state(state, **params)
    assert restored.to_state() == tracker.to_state()
    assert restored.clock == tracker.clock

    for n in range(300, 400):
        post = make_post(f"p{n}", texts[n % len(texts)], T0 + n * 7, author=f"a{n % 31}",
                         reshare_of=f"p{n - 5}" if n % 3 == 0 else None,
                         reply_to=f"p{n - 2}" if n % 3 == 1 else None)
        assert restored.update(post, 0.7) == tracker.update(post, 0.7)
    assert restored.to_state() == tracker.to_state()


def test_from_state_with_tighter_bounds_keeps_the_freshest_stories():
    tracker = StoryTracker()
    for i in range(10):
        tracker.update(make_post(f"s{i}", "", T0 + i), 0.5)  # no text: ten separate stories
    smaller = StoryTracker.from_state(tracker.to_state(), max_stories=4)
    assert [s["id"] for s in smaller.to_state()["stories"]] == ["s6", "s7", "s8", "s9"]


def test_empty_state_round_trips():
    tracker = StoryTracker()
    state = orjson.loads(orjson.dumps(tracker.to_state()))
    assert StoryTracker.from_state(state).to_state() == state


@pytest.mark.parametrize(("name", "value"), [
    ("window_seconds", 0), ("idle_seconds", -1), ("max_stories", 0), ("max_authors", 1),
    ("max_terms", 0), ("max_aliases", 1.5), ("max_text_chars", 0), ("half_velocity", 0),
    ("complaint_threshold", 1.5), ("bands", 0), ("rows", 0), ("min_tokens", 0),
    ("window_seconds", float("nan")),
])
def test_invalid_hyper_parameters_are_named(name, value):
    with pytest.raises(ValueError, match=name):
        StoryTracker(**{name: value})


def test_ignore_terms_must_be_a_list():
    with pytest.raises(ValueError, match="ignore_terms"):
        StoryTracker(ignore_terms="skyway")


# -- the near-duplicate index on its own -------------------------------------------------------------


def test_tokenize_drops_urls_and_keeps_tags_and_handles():
    assert tokenize("@SkywayAir LOST my bag https://t.co/x1Y2 #Fail!!") == ["@skywayair", "lost", "my", "bag",
                                                                          "#fail"]
    assert tokenize("😡😡") == []
    assert tokenize("") == []


def test_shingle_hashes_are_the_same_in_every_process():
    # CRC-32 of the bigram's bytes, not hash(): a restarted worker must rebuild the same index.
    assert shingle_hashes(["lost", "my", "bag"]) == [107912594, 1439963812]


def test_index_finds_near_duplicates_and_forgets_removed_items():
    index = NearDuplicateIndex()
    keys = index.band_keys(tokenize(COMPLAINT))
    assert keys is not None
    index.add(keys, 7)
    assert index.candidates(index.band_keys(tokenize(COMPLAINT_RETYPED))) == [7]  # type: ignore[arg-type]
    assert index.candidates(index.band_keys(tokenize(UNRELATED))) == []  # type: ignore[arg-type]
    index.remove(keys, 8)  # another item's: nothing to forget
    assert len(index) == len(keys)
    index.remove(keys, 7)
    assert len(index) == 0
    assert index.band_keys(tokenize("too short")) is None


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 20), st.lists(st.tuples(st.booleans(), st.integers(0, 40), st.integers(0, 5)), max_size=300))
def test_index_table_behaves_like_a_dict_under_collisions(shift, operations):
    """The open-addressing table against a dict; keys sharing their low bits collide, probe runs wrap."""
    index, model = NearDuplicateIndex(), {}
    for add, number, item in operations:
        key = (number << shift) & (2**30 - 1)
        if add:
            index.add((key,), item)
            model[key] = item
        else:
            index.remove((key,), item)
            if model.get(key) == item:
                del model[key]
        assert len(index) == len(model)
    for number in range(41):
        key = (number << shift) & (2**30 - 1)
        assert index.get(key) == model.get(key)
    assert index.items() == set(model.values())


def test_index_recall_follows_the_lsh_curve():
    """Pairs sharing most of their words are found; pairs sharing few are not (on average)."""
    index = NearDuplicateIndex()
    words = [f"w{i}" for i in range(4000)]
    found_similar = found_dissimilar = 0
    trials = 200
    for trial in range(trials):
        base = words[trial * 20:trial * 20 + 20]
        similar = [*base[:18], "x", "y"]  # Jaccard of bigrams about 0.8
        dissimilar = [*base[:6], *words[3000 + trial * 14:3000 + trial * 14 + 14]]  # about 0.15
        keys = index.band_keys(base)
        assert keys is not None
        found_similar += bool(set(keys) & set(index.band_keys(similar) or ()))
        found_dissimilar += bool(set(keys) & set(index.band_keys(dissimilar) or ()))
    assert found_similar / trials > 0.85
    assert found_dissimilar / trials < 0.3


def test_band_keys_do_not_depend_on_the_process_hash_seed():
    import os
    import subprocess
    import sys

    code = ("from detectors.minhash import NearDuplicateIndex, tokenize; "
            f"print(NearDuplicateIndex().band_keys(tokenize({COMPLAINT!r})))")
    outputs = {subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert outputs == {f"{NearDuplicateIndex().band_keys(tokenize(COMPLAINT))}\n"}


@given(st.lists(st.integers(0, (1 << 30) - 1), max_size=8))
def test_band_keys_pack_into_one_int_and_come_back(keys):
    assert unpack_keys(pack_keys(tuple(keys))) == tuple(keys)


def test_a_story_in_a_reused_row_starts_clean():
    """Rows of dropped stories are reused: nothing of the old story (counts, quotes, aliases, terms) leaks."""
    tracker = StoryTracker(max_stories=1)
    tracker.update(make_post("old", COMPLAINT, followers=500, reshares=9), 0.9)
    tracker.update(make_post("old-reply", "this happened to me too, lost bag in Denver", T0 + 1,
                             reply_to="old", followers=70), 0.9)
    fresh = tracker.update(make_post("new-reply", UNRELATED, T0 + 2, reply_to="unknown-parent", followers=3), 0.1)
    assert tracker.story_id_of("old") is None and tracker.story_id_of("old-reply") is None
    assert fresh.story_id == "unknown-parent"  # a reply whose parent is unknown names its story after it
    assert (fresh.posts, fresh.reach, fresh.unique_authors, fresh.negative_share) == (1, 3, 1, 0.0)
    assert fresh.term_counts == ()
    assert [(p.post_id, p.author_handle, p.text, p.reshares) for p in fresh.top_posts] == [
        ("new-reply", "author-new-reply", UNRELATED, 0)]
    grown = tracker.update(make_post("new-reply-2", "so true", T0 + 3, reply_to="new-reply"), 0.1)
    assert grown.story_id == "unknown-parent" and grown.posts == 2
    assert grown.top_posts[0].post_id in {"new-reply", "new-reply-2"}
    assert {p.post_id for p in grown.top_posts} == {"new-reply", "new-reply-2"}
    assert tracker.story_id_of("new-reply") == "unknown-parent"


def test_counts_beyond_64_bits_saturate_instead_of_failing():
    tracker = StoryTracker()
    huge = make_post("big", COMPLAINT, followers=2**70)
    snapshot = tracker.update(huge, 0.9)
    assert snapshot.reach == 2**63 - 1
    assert tracker.update(make_post("rt", "RT", T0 + 1, reshare_of="big", followers=2**70), 0.9).reach == 2**63 - 1
    assert StoryTracker.from_state(tracker.to_state()).snapshot("big", T0 + 2).reach == 2**63 - 1  # type: ignore[union-attr]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.booleans(), st.integers(0, 1500)), min_size=1, max_size=150),
       st.integers(0, 1200), st.integers(1, 6))
def test_top_stories_are_the_fastest_of_all_live_stories(events, later, k):
    """The pruned scan returns what sorting every live story's snapshot would (ties: most recently updated).

    Posts come in time order here: a post more than three windows late can hide
    stories behind it, as ``top_stories`` documents.
    """
    tracker = StoryTracker(window_seconds=300)
    for n, (target, reshare, dt) in enumerate(sorted(events, key=lambda event: event[2])):
        parent = f"p{target}" if reshare else None
        tracker.learn(make_post(f"p{n}", f"unrelated words number {n} here", T0 + dt, reshare_of=parent), 0.5,
                      False)
    now = tracker.clock + later
    horizon = now - 3 * tracker.window_seconds
    newest_first = [record["id"] for record in reversed(tracker.to_state()["stories"])]
    snapshots = [tracker.snapshot(story_id, now) for story_id in newest_first]
    active = [s for s in snapshots if s is not None and s.last_seen >= horizon and s.velocity > 0]
    expected = sorted(active, key=lambda s: (s.velocity, s.posts), reverse=True)[:k]
    assert tracker.top_stories(now, k) == expected


def test_a_story_fast_in_its_previous_window_is_not_passed_over():
    """The scan's bound counts a story's previous window too: most of its sliding-window posts may be there."""
    tracker = StoryTracker(window_seconds=300)
    tracker.learn(make_post("a", COMPLAINT, T0 + 10), 0.9, True)
    for i in range(4):
        tracker.learn(make_post(f"a{i}", "RT", T0 + 20 + i, reshare_of="a"), 0.9, True)
    tracker.learn(make_post("a-late", "RT", T0 + 310, reshare_of="a"), 0.9, True)  # 1 post in the current window
    tracker.learn(make_post("b", UNRELATED, T0 + 320), 0.1, False)
    tracker.learn(make_post("b1", "RT", T0 + 330, reshare_of="b"), 0.1, False)  # 2, updated after "a"
    top = tracker.top_stories(T0 + 330, k=1)
    assert [s.story_id for s in top] == ["a"]
    assert top[0].velocity == pytest.approx((1 + 5 * 0.9) / 5)  # posts per minute in the sliding window
