"""Story tracking: which posts tell the same story, and how fast each story is spreading.

A *story* is what people are passing around about a brand: a post and its
reshares and replies, plus every independent post that says nearly the same
thing ("@SkywayAir lost my bag AGAIN" from three hundred different people).
A complaint "goes viral" when one story gathers posts quickly, from many
different authors, faster and faster. This module follows stories one post at a
time and measures exactly that; :mod:`detectors.incident` decides whether it is
a crisis.

How a post finds its story (:meth:`StoryTracker.learn_one`):

1. A reshare or reply joins the story of the post it points to (``reshare_of``,
   else ``reply_to``), if that post is known. Replies are remembered as aliases
   so that a reply to a reply lands in the same story (reshares are not: they
   are most of the traffic, and platforms point reshares of reshares at the
   original).
2. Otherwise its text is looked up in a MinHash/LSH index of the stories' texts
   (:mod:`detectors.minhash`); a candidate whose text really is similar enough
   (``min_similarity``, exact Jaccard of word bigrams) is joined. A reply whose
   parent is unknown is not matched by text (a reply's words are not its
   parent's): it starts a story named after the parent.
3. Otherwise the post starts a new story, named after its root id.

Reshares of a known post, most of the traffic of a viral story, therefore cost
a few dictionary operations: no text is hashed for them.

Per story the tracker keeps counts, reach (sum of followers), the negative
share, the unique authors (exact up to ``max_authors``, then a K-minimum-values
estimate, about ``1/sqrt(max_authors)`` relative error), the three top posts
(most reshares, then most followers), a bounded term counter (words people use
in their own posts; reshares repeat the root's words and are not counted) and
post counts in three consecutive windows of ``window_seconds``, from which
velocity, acceleration and doubling time come.

Memory is bounded by ``max_stories``: a new story beyond it evicts the least
recently updated one, and stories idle for more than ``idle_seconds`` (event
time) are dropped as the stream's clock moves on. Everything a story holds is
bounded by the hyper-parameters, and the whole state round-trips through JSON
types (the LSH index is rebuilt from the stories' texts, so it is not stored).
The stories live in columns (:mod:`detectors.story_table`), because a worker
holds up to a million of them and most have a single post: about 650 bytes
for such a story instead of about 1,300 as an object.

Time comes only from the posts' ``created_at``: the tracker's clock is the
latest timestamp seen, and posts that arrive late still count (in the velocity
windows too when they fall in one of the three kept).

One tracker follows one brand: the stream keeps per-brand state in a Faust
table partitioned by brand, and stories never span brands.
"""

from __future__ import annotations

import heapq
import math
import sys
import zlib
from collections import Counter, _count_elements  # type: ignore[attr-defined]
from collections.abc import Iterable
from operator import itemgetter
from typing import Any, NamedTuple, Protocol, Self

from detectors.base import check_range
from detectors.minhash import NearDuplicateIndex, jaccard, shingle_hashes, tokenize
from detectors.story_table import NO_KEY, StoryExtras, StoryTable, TopPost

__all__ = ["PostLike", "ScoredPost", "StorySnapshot", "StoryTracker", "TopPost"]

#: Top posts kept per story (for the alert).
TOP_POSTS = 3
#: Terms a snapshot lists.
TOP_TERMS = 10

_LN2 = math.log(2.0)
_HASH_SPACE = 1 << 32

#: Words too common to say what a story is about (plus every token shorter than 3 characters).
STOPWORDS = frozenset("""
a about after again all also am an and any are as at be because been before being but by can
could did do does doing done don dont down for from get got had has have having he her here him his
how i if im in into is it its just like me more most my no not now of off on one only or our out
over so some still than that thats the their them then there these they this those through to too
up us very was we were what when where which while who why will with would you your yours yet
""".split())


class PostLike(Protocol):
    """The attributes of a post that story tracking reads (``streams.post.Post`` has them all)."""

    @property
    def id(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def created_at(self) -> float: ...
    @property
    def author_id(self) -> str: ...
    @property
    def author_handle(self) -> str: ...
    @property
    def author_followers(self) -> int: ...
    @property
    def reshares(self) -> int: ...
    @property
    def reshare_of(self) -> str | None: ...
    @property
    def reply_to(self) -> str | None: ...
    @property
    def url(self) -> str | None: ...


class ScoredPost(NamedTuple):
    """One observation of the tracker: a post with its negativity in [0, 1] and complaint flag."""

    post: PostLike
    negativity: float
    complaint: bool


class StorySnapshot(NamedTuple):
    """A story's figures at one moment (``now``), e.g. for an alert or a dashboard.

    (The value types of this module are named tuples rather than frozen
    dataclasses because one or more are built per post, and a tuple is several
    times cheaper to build.)

    ``velocity`` is posts per minute over the last ``window_seconds``;
    ``acceleration`` is the change of velocity from the window before, per
    minute; ``doubling_time_seconds`` is how long the story takes to double at
    that growth rate (``inf`` when it is not growing). ``unique_authors`` is an
    estimate when ``unique_authors_exact`` is false.
    """

    story_id: str
    text: str
    posts: int
    unique_authors: int
    unique_authors_exact: bool
    reach: int
    velocity: float
    acceleration: float
    doubling_time_seconds: float
    negative_share: float
    mean_negativity: float
    first_seen: float
    last_seen: float
    virality: float
    top_posts: tuple[TopPost, ...]
    term_counts: tuple[tuple[str, int], ...]

    @property
    def top_terms(self) -> list[tuple[str, int]]:
        """The most used terms with their (approximate, lower-bound) counts, most used first."""
        return sorted(self.term_counts, key=_count_then_term)[:TOP_TERMS]

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (an infinite doubling time becomes ``None``)."""
        return {
            "story_id": self.story_id,
            "text": self.text,
            "posts": self.posts,
            "unique_authors": self.unique_authors,
            "unique_authors_exact": self.unique_authors_exact,
            "reach": self.reach,
            "velocity": self.velocity,
            "acceleration": self.acceleration,
            "doubling_time_seconds": (self.doubling_time_seconds
                                      if math.isfinite(self.doubling_time_seconds) else None),
            "negative_share": self.negative_share,
            "mean_negativity": self.mean_negativity,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "virality": self.virality,
            "top_posts": [p._asdict() for p in self.top_posts],
            "top_terms": [[term, count] for term, count in self.top_terms],
        }


def _count_then_term(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def _reshares_then_followers(post: TopPost) -> tuple[int, int]:
    return post.reshares, post.followers


def _count_in_windows(bucket: int, recent: int, previous: int, older: int,
                      post_bucket: int) -> tuple[int, int, int, int]:
    """The three window counts after one post in window ``post_bucket`` (late posts count back)."""
    shift = post_bucket - bucket
    if shift == 0:
        return bucket, recent + 1, previous, older
    if shift == 1:
        return post_bucket, 1, recent, previous
    if shift == 2:
        return post_bucket, 1, 0, recent
    if shift > 2:
        return post_bucket, 1, 0, 0
    if shift == -1:
        return bucket, recent, previous + 1, older
    if shift == -2:
        return bucket, recent, previous, older + 1
    return bucket, recent, previous, older  # too late for the velocity windows


def _author_hash(author_id: str) -> int:
    return zlib.crc32(author_id.encode())


class StoryTracker:
    """Group one brand's posts into stories and measure how fast each one spreads.

    Parameters
    ----------
    window_seconds
        Length of the window velocity is measured over (posts per minute in the
        last ``window_seconds``); acceleration and doubling time compare it with
        the window before.
    idle_seconds
        A story without a post for this long (event time) expires.
    max_stories
        Live stories kept at most; a new story beyond it evicts the least
        recently updated one. Memory grows linearly with it (see
        ``bench/bench_stories.py`` for bytes per story).
    max_authors
        Unique authors are counted exactly up to this many, then estimated
        from the ``max_authors`` smallest author hashes.
    max_terms
        Terms counted per story; the counter is cut back to the most used
        ``max_terms`` whenever it holds twice as many.
    max_aliases
        Post ids (replies and near-duplicates) remembered per story so that
        replies to them join it; the most recent ones are kept.
    max_text_chars
        Characters of the representative text kept, and of any text hashed.
    bands, rows, min_tokens
        The near-duplicate index, see :class:`detectors.minhash.NearDuplicateIndex`.
    min_similarity
        A post joins a story by text when the Jaccard similarity of its word
        bigrams with the story's text is at least this (the index only proposes).
    half_velocity
        Author-weighted velocity (posts per minute) at which the virality score is 0.5.
    complaint_threshold
        Negativity at or above which :meth:`update` counts a post as a complaint.
    ignore_terms
        Terms never listed (e.g. the brand's own name and handles).
    """

    def __init__(self, *, window_seconds: float = 300.0, idle_seconds: float = 6 * 3600.0,
                 max_stories: int = 20_000, max_authors: int = 256, max_terms: int = 10,
                 max_aliases: int = 64, max_text_chars: int = 280, bands: int = 4, rows: int = 2,
                 min_tokens: int = 4, min_similarity: float = 0.5, half_velocity: float = 5.0,
                 complaint_threshold: float = 0.5,
                 ignore_terms: Iterable[str] = ()) -> None:
        check_range("window_seconds", window_seconds, 0.0, low_open=True)
        check_range("idle_seconds", idle_seconds, 0.0, low_open=True)
        check_range("half_velocity", half_velocity, 0.0, low_open=True)
        check_range("min_similarity", min_similarity, 0.0, 1.0, low_open=True)
        check_range("complaint_threshold", complaint_threshold, 0.0, 1.0)
        if not isinstance(max_authors, int) or max_authors < 2:
            raise ValueError(f"max_authors must be an integer >= 2, got {max_authors!r}")
        for name, value in (("max_stories", max_stories),
                            ("max_terms", max_terms), ("max_aliases", max_aliases),
                            ("max_text_chars", max_text_chars)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(ignore_terms, str):
            raise ValueError("ignore_terms must be a list of terms, not one string")
        self.window_seconds = float(window_seconds)
        self.idle_seconds = float(idle_seconds)
        self.max_stories = max_stories
        self.max_authors = max_authors
        self.max_terms = max_terms
        self.max_aliases = max_aliases
        self.max_text_chars = max_text_chars
        self.min_similarity = float(min_similarity)
        self.half_velocity = float(half_velocity)
        self.complaint_threshold = float(complaint_threshold)
        self.ignore_terms = frozenset(token for term in ignore_terms for token in tokenize(term))
        self._index = NearDuplicateIndex(bands=bands, rows=rows, min_tokens=min_tokens)  # band key -> slot
        # One row beyond max_stories: a post too late to start a story is counted in a row dropped at once.
        self._table = StoryTable(bands=bands, max_rows=max_stories + 1)
        self._aliases: dict[str, str] = {}  # post id -> story id
        # The slots of stories with more than one post, least recently updated first (for top_stories).
        self._grown: dict[int, None] = {}
        self._clock = -math.inf  # latest created_at seen
        self._expiry_due = -math.inf  # when the oldest story will be idle too long (check then, not per post)

    # -- the detector protocol -------------------------------------------------------------------

    def learn_one(self, x: ScoredPost) -> None:
        """Add one post to its story (or start one), and expire stories idle at the new clock."""
        self._learn(x.post, x.negativity, x.complaint, False)

    def score_one(self, x: ScoredPost) -> float:
        """Virality in [0, 1] of the story ``x`` would join, counting ``x``; changes nothing.

        Virality is ``v / (v + half_velocity)`` where ``v`` is the story's
        velocity (posts per minute) times its share of unique authors, so that
        one account posting fast does not look viral.
        """
        post = x.post
        created_at = self._time_of(post)
        slot, _, _, _ = self._route(post)
        post_bucket = int(created_at // self.window_seconds)
        now = max(self._clock, created_at)
        if slot is None:
            return self._virality(self._rates(post_bucket, 1, 0, 0, now)[0], 1.0)
        t = self._table
        bucket, recent, previous, older = _count_in_windows(
            t.bucket[slot], t.recent[slot], t.previous[slot], t.older[slot], post_bucket)
        authors = self._unique_authors(slot)[0]
        author = _author_hash(post.author_id)
        extras = t.extras[slot]
        if extras is None or extras.authors is None:
            authors += author != t.author[slot]
        elif not extras.authors_overflow and author not in extras.authors:
            authors += 1
        velocity = self._rates(bucket, recent, previous, older, max(now, t.last_seen[slot]))[0]
        return self._virality(velocity, min(1.0, authors / (t.posts[slot] + 1)))

    def learn(self, post: PostLike, negativity: float, complaint: bool) -> None:
        """Learn ``post`` without building its story's figures (the hot path: figures are read per bucket)."""
        self._learn(post, negativity, complaint, False)

    def update(self, post: PostLike, negativity: float, complaint: bool | None = None) -> StorySnapshot:
        """Learn ``post`` and return its story's figures at the tracker's clock.

        ``complaint`` defaults to ``negativity >= complaint_threshold``. A NaN
        negativity counts as 0.
        """
        if complaint is None:
            complaint = negativity >= self.complaint_threshold
        snapshot = self._learn(post, negativity, complaint, True)
        assert snapshot is not None
        return snapshot

    # -- reading -------------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of live stories."""
        return len(self._table)

    @property
    def clock(self) -> float:
        """The latest ``created_at`` learnt (``-inf`` before the first post)."""
        return self._clock

    def story_id_of(self, post_id: str) -> str | None:
        """The live story a post id leads to (a story id, or an alias of one), else ``None``."""
        slot = self._lookup(post_id)
        return self._table.ids[slot] if slot is not None else None

    def snapshot(self, story_id: str, now: float) -> StorySnapshot | None:
        """A live story's figures at ``now`` (no earlier than its last post), else ``None``."""
        slot = self._table.slot_of.get(story_id)
        return self._snapshot(slot, max(now, self._table.last_seen[slot])) if slot is not None else None

    def top_stories(self, now: float, k: int = 5) -> list[StorySnapshot]:
        """The ``k`` fastest stories at ``now``: highest velocity first, then most posts, then newest.

        Only stories updated in the last three windows are considered (older
        ones have no velocity left); stories are visited most recently updated
        first and the visit stops at the first inactive one, so this costs the
        number of active stories, not of live ones. (A story whose latest post
        arrived more than three windows late can hide behind it and be missed.)

        In a busy brand most active stories have a single post, and a single
        post makes at most one post per window: stories with more posts are
        visited first, and the rest only when fewer than ``k`` of those are
        faster than that. A story whose posts in its last two windows could not
        make it faster than the ``k``-th fastest so far is passed over without
        working out its rates.
        """
        if k < 1:
            return []
        fastest = self._fastest(reversed(self._grown), now, k)
        if len(fastest) < k or fastest[0][0] <= 60.0 / self.window_seconds:
            fastest = self._fastest(self._table.newest_first(), now, k)
        fastest.sort(reverse=True)
        return [self._snapshot(slot, max(now, self._table.last_seen[slot])) for _, _, _, slot in fastest]

    def _fastest(self, newest_first: Iterable[int], now: float, k: int) -> list[tuple[float, int, int, int]]:
        """A min-heap of the ``k`` fastest stories as (velocity, posts, -visit, slot), visiting newest first."""
        horizon = now - 3 * self.window_seconds
        per_minute = 60.0 / self.window_seconds
        t = self._table
        last_seen, recent, previous = t.last_seen, t.recent, t.previous
        fastest: list[tuple[float, int, int, int]] = []
        for visit, slot in enumerate(newest_first):
            seen = last_seen[slot]
            if seen < horizon:
                break
            # The sliding window's count never exceeds the posts of the story's latest two windows.
            if len(fastest) == k and (recent[slot] + previous[slot]) * per_minute < fastest[0][0]:
                continue
            velocity = self._rates(t.bucket[slot], recent[slot], previous[slot], t.older[slot],
                                   now if now > seen else seen)[0]
            if velocity > 0:
                entry = (velocity, t.posts[slot], -visit, slot)
                if len(fastest) < k:
                    heapq.heappush(fastest, entry)
                elif entry > fastest[0]:
                    heapq.heapreplace(fastest, entry)
        return fastest

    def expire(self, now: float) -> list[str]:
        """Drop the stories idle for more than ``idle_seconds`` at ``now``; return their ids.

        Stories are checked least recently updated first and the scan stops at
        the first live one, so a story whose last post arrived late may outlive
        ``idle_seconds`` by that lateness (until it reaches the front).
        """
        expired = []
        cutoff = now - self.idle_seconds
        t = self._table
        self._expiry_due = math.inf
        while (slot := t.oldest()) is not None:
            if t.last_seen[slot] >= cutoff:
                self._expiry_due = t.last_seen[slot] + self.idle_seconds
                break
            expired.append(t.ids[slot])
            self._drop(slot)
        return expired

    # -- state ---------------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state: the clock and the stories, least recently updated first."""
        return {
            "clock": self._clock if math.isfinite(self._clock) else None,
            "stories": [self._story_state(slot) for slot in self._table.oldest_first()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], **params: Any) -> Self:
        """Rebuild a tracker with ``params`` from :meth:`to_state`'s output.

        If ``max_stories`` is now smaller, the most recently updated stories are
        kept; other bounds are applied to each story as it is loaded.
        """
        tracker = cls(**params)
        clock = state.get("clock")
        tracker._clock = float(clock) if clock is not None else -math.inf
        for record in state["stories"][-tracker.max_stories:]:
            tracker._story_from_state(record)
        oldest = tracker._table.oldest()
        if oldest is not None:
            tracker._expiry_due = tracker._table.last_seen[oldest] + tracker.idle_seconds
        return tracker

    # -- internals -----------------------------------------------------------------------------------

    def _time_of(self, post: PostLike) -> float:
        created_at = post.created_at
        if math.isfinite(created_at):
            return created_at
        return self._clock if math.isfinite(self._clock) else 0.0

    def _lookup(self, post_id: str) -> int | None:
        return self._table.slot_of.get(self._aliases.get(post_id, post_id))

    def _route(self, post: PostLike) -> tuple[int | None, str, tuple[int, ...] | None, list[str] | None]:
        """Find the story ``post`` belongs to without changing anything.

        Returns the story's slot (``None`` for a new story), the id a new story
        would get (or the alias the post brings), and the text's band keys and
        tokens when they had to be computed.
        """
        slot_of, aliases = self._table.slot_of, self._aliases
        parent = post.reshare_of or post.reply_to
        if parent is not None:
            slot = slot_of.get(aliases.get(parent, parent))
            if slot is not None or post.reshare_of is None:
                return slot, parent, None, None
            key = parent  # a reshare of a post we do not know: its text is the root's, match it
        else:
            slot = slot_of.get(aliases.get(post.id, post.id))  # the root after its reshares, or a redelivery
            if slot is not None:
                return slot, post.id, None, None
            key = post.id
        tokens = tokenize(post.text, self.max_text_chars)
        index = self._index
        if len(tokens) < index.min_tokens:
            return None, key, None, tokens
        shingles = shingle_hashes(tokens)
        band_keys = index.band_keys_of(shingles)
        candidates = index.candidates(band_keys)
        if candidates:
            mine, texts = set(shingles), self._table.texts
            for slot in candidates:
                theirs = set(shingle_hashes(tokenize(texts[slot], self.max_text_chars)))  # type: ignore[arg-type]
                if jaccard(mine, theirs) >= self.min_similarity:
                    return slot, key, band_keys, tokens
        return None, key, band_keys, tokens

    def _learn(self, post: PostLike, negativity: float, complaint: bool, figures: bool) -> StorySnapshot | None:
        """Count ``post`` in its story; its figures at the clock when ``figures`` is true."""
        created_at = post.created_at
        if not math.isfinite(created_at):
            created_at = self._time_of(post)
        if created_at > self._clock:
            self._clock = created_at
            if created_at > self._expiry_due:
                self.expire(created_at)
        slot, key, band_keys, tokens = self._route(post)
        if slot is None:
            if created_at < self._clock - self.idle_seconds:
                # Too late to start a story that would already have expired: count it, keep nothing
                # (and evict nothing for it).
                slot = self._create(key, post, negativity, complaint, created_at, None, kept=False)
                snapshot = self._snapshot(slot, self._clock) if figures else None
                self._drop(slot)
                return snapshot
            slot = self._create(key, post, negativity, complaint, created_at, band_keys)
            if post.reply_to is not None and post.reshare_of is None:
                self._add_alias(slot, post.id)  # replies to this reply join the conversation's story
        else:
            if band_keys is not None:
                self._add_alias(slot, key)  # joined by its text: lead the post (or its unknown root) here
            if post.reply_to is not None and post.reshare_of is None:
                self._add_alias(slot, post.id)
            self._count(slot, post, negativity, complaint, created_at, tokens)
        if not figures:
            return None
        last_seen = self._table.last_seen[slot]
        return self._snapshot(slot, self._clock if self._clock > last_seen else last_seen)

    def _create(self, story_id: str, post: PostLike, negativity: float, complaint: bool, created_at: float,
                band_keys: tuple[int, ...] | None, kept: bool = True) -> int:
        """A new story with ``post`` counted in it (one the caller drops at once when not ``kept``)."""
        t = self._table
        if not kept:
            pass  # it may take the row beyond max_stories, and the caller drops it at once
        elif not t.slot_of:
            self._expiry_due = created_at + self.idle_seconds
        elif len(t) >= self.max_stories:
            oldest = t.oldest()
            assert oldest is not None
            self._drop(oldest)
        if not 0.0 <= negativity <= 1.0:  # NaN fails both tests and counts as 0
            negativity = 1.0 if negativity > 1.0 else 0.0
        text = post.text[:self.max_text_chars]
        bucket = int(created_at // self.window_seconds)
        author = zlib.crc32(post.author_id.encode())  # _author_hash, inlined: this runs for most posts
        try:
            slot = t.add(story_id, text, created_at, bucket, author, negativity, complaint, post.id,
                         post.author_handle, post.url, post.reshares, post.author_followers)
        except (OverflowError, TypeError):  # a count beyond 2**63 or not an int (validated posts never are)
            slot = t.add(story_id, text, created_at, bucket, author, negativity, complaint, post.id,
                         post.author_handle, post.url, _as_count(post.reshares), _as_count(post.author_followers))
        if band_keys:
            t.set_keys(slot, band_keys)
            self._index.add(band_keys, slot)
        return slot

    def _drop(self, slot: int) -> None:
        t = self._table
        width = t.bands
        self._index.remove(t.band_keys[slot * width:(slot + 1) * width], slot)
        if t.posts[slot] > 1:
            del self._grown[slot]
        extras = t.extras[slot]
        if extras is not None and extras.aliases:
            story_id, aliases = t.ids[slot], self._aliases
            for alias in extras.aliases:
                if aliases.get(alias) == story_id:
                    del aliases[alias]
        t.remove(slot)

    def _extras(self, slot: int) -> StoryExtras:
        """The story's extras, created (quoting its first post) if it has none yet."""
        t = self._table
        extras = t.extras[slot]
        if extras is None:
            extras = t.extras[slot] = StoryExtras(t.first_post(slot))
        return extras

    def _add_alias(self, slot: int, post_id: str) -> None:
        extras = self._extras(slot)
        if extras.aliases is None:
            extras.aliases = []
        story_id = self._table.ids[slot]
        assert story_id is not None
        extras.aliases.append(post_id)
        self._aliases[post_id] = story_id
        if len(extras.aliases) > self.max_aliases:
            oldest = extras.aliases.pop(0)
            if self._aliases.get(oldest) == story_id and oldest not in extras.aliases:
                del self._aliases[oldest]

    def _count(self, slot: int, post: PostLike, negativity: float, complaint: bool, created_at: float,
               tokens: list[str] | None) -> None:
        """Count a post that joins a live story (:meth:`_create` counts a story's first post)."""
        t = self._table
        posts = t.posts[slot] + 1
        t.posts[slot] = posts
        if 0.0 <= negativity <= 1.0:  # NaN fails both tests and counts as 0
            t.negativity[slot] += negativity
        elif negativity > 1.0:
            t.negativity[slot] += 1.0
        if complaint:
            t.complaints[slot] += 1
        followers = post.author_followers
        try:
            t.reach[slot] += followers
        except (OverflowError, TypeError):  # a count beyond 2**63 (or not an int): the reach saturates
            followers = _as_count(followers)
            t.reach[slot] = min(t.reach[slot] + followers, _MAX_COUNT)
        post_bucket = int(created_at // self.window_seconds)
        if post_bucket == t.bucket[slot]:
            t.recent[slot] += 1
        else:
            t.bucket[slot], t.recent[slot], t.previous[slot], t.older[slot] = _count_in_windows(
                t.bucket[slot], t.recent[slot], t.previous[slot], t.older[slot], post_bucket)
        grown = self._grown
        if created_at > t.last_seen[slot]:
            t.last_seen[slot] = created_at
            t.touch(slot)
            grown.pop(slot, None)
            grown[slot] = None
        else:
            if created_at < t.first_seen[slot]:
                t.first_seen[slot] = created_at
            if posts == 2:
                grown[slot] = None

        reshares = post.reshares
        extras = t.extras[slot] or self._extras(slot)
        author = zlib.crc32(post.author_id.encode())  # _author_hash, inlined: this runs for every post
        if extras.authors is not None or author != t.author[slot]:
            self._count_author(extras, t.author[slot], author)
        top = extras.top_posts
        if len(top) < TOP_POSTS or (reshares, followers) > (top[-1].reshares, top[-1].followers):
            # A text within the limit is kept as the same object as the post's: slicing returns it unchanged.
            ranked = sorted((*top, TopPost(post.id, post.author_handle, reshares, followers,
                                           post.text[:self.max_text_chars], post.url)),
                            key=_reshares_then_followers, reverse=True)
            extras.top_posts = tuple(ranked[:TOP_POSTS])
        if extras.terms is None:
            extras.terms = Counter()
            self._count_terms(extras, tokenize(t.texts[slot] or "", self.max_text_chars))
        if post.reshare_of is None:
            self._count_terms(extras, tokens if tokens is not None else tokenize(post.text, self.max_text_chars))

    def _count_author(self, extras: StoryExtras, first: int, author: int) -> None:
        """K-minimum-values: keep the ``max_authors`` smallest author hashes.

        A story's only author is its first one (no set): most stories have one.
        """
        authors = extras.authors
        if authors is None:
            if author != first:
                extras.authors = {first, author}
            return
        if author in authors:
            return
        if not extras.authors_overflow:
            if len(authors) < self.max_authors:
                authors.add(author)
                return
            extras.authors_overflow = True
            extras.authors_heap = _largest_first(authors)
        heap = extras.authors_heap
        assert heap is not None
        cutoff = -heap[0]
        if author < cutoff:
            authors.add(author)
            if len(authors) > self.max_authors:
                authors.discard(cutoff)
                heapq.heapreplace(heap, -author)
            else:
                heapq.heappush(heap, -author)

    def _unique_authors(self, slot: int) -> tuple[int, bool]:
        """(count, exact): exact until an author was left out, then the KMV estimate."""
        extras = self._table.extras[slot]
        if extras is None or extras.authors is None:
            return 1, True
        authors, heap = extras.authors, extras.authors_heap
        if not extras.authors_overflow or not heap:
            return len(authors), True
        estimate = (len(authors) - 1) * _HASH_SPACE / (-heap[0] + 1)
        return max(len(authors), round(estimate)), False

    def _count_terms(self, extras: StoryExtras, tokens: list[str]) -> None:
        terms = extras.terms
        assert terms is not None
        ignore = self.ignore_terms
        # Interned: the same words recur across stories, so each is stored once however many count it.
        # (_count_elements is what Counter.update calls for an iterable, without its type checks.)
        _count_elements(terms, map(sys.intern, [token for token in tokens if len(token) > 2 and token[0] != "@"
                                                and token not in STOPWORDS and token not in ignore]))
        if len(terms) > 2 * self.max_terms:
            kept = dict(heapq.nlargest(self.max_terms, terms.items(), key=itemgetter(1)))
            terms.clear()
            terms.update(kept)  # a mapping: its counts are added (to nothing)

    def _rates(self, bucket: int, recent: int, previous: int, older: int,
               now: float) -> tuple[float, float, float]:
        """(velocity, acceleration, doubling time) at ``now`` from the three window counts.

        The counts are per fixed window; the posts of the *sliding* last window
        are estimated as the current window plus the part of the previous one
        that the sliding window still covers (as rate limiters do), and the same
        one window earlier. The window before a brand-new story counts as half
        a post, so that its doubling time is finite: one post doubles in one
        window, fifty posts in about a sixth of one.
        """
        window = self.window_seconds
        now_bucket = now // window
        shift = now_bucket - bucket
        if shift > 0:  # windows with no post since the story's latest one
            if shift == 1:
                recent, previous, older = 0, recent, previous
            elif shift == 2:
                recent, previous, older = 0, 0, recent
            else:
                return 0.0, 0.0, math.inf
        covered = now / window - now_bucket  # share of the current window elapsed
        last = recent + previous * (1.0 - covered)
        before = previous * covered + older * (1.0 - covered)
        per_minute = 60.0 / window
        floor = before if before > 0.5 else 0.5
        doubling = window * _LN2 / math.log(last / floor) if last > floor else math.inf
        return last * per_minute, (last - before) * per_minute * per_minute, doubling

    def _virality(self, velocity: float, author_share: float) -> float:
        weighted = velocity * author_share
        return weighted / (weighted + self.half_velocity)

    def _snapshot(self, slot: int, now: float) -> StorySnapshot:
        t = self._table
        velocity, acceleration, doubling = self._rates(t.bucket[slot], t.recent[slot], t.previous[slot],
                                                       t.older[slot], now)
        authors, exact = self._unique_authors(slot)
        posts = t.posts[slot]
        extras = t.extras[slot]
        terms = extras.terms if extras is not None else None
        return StorySnapshot(
            story_id=t.ids[slot] or "",
            text=t.texts[slot] or "",
            posts=posts,
            unique_authors=authors,
            unique_authors_exact=exact,
            reach=t.reach[slot],
            velocity=velocity,
            acceleration=acceleration,
            doubling_time_seconds=doubling,
            negative_share=t.complaints[slot] / posts,
            mean_negativity=t.negativity[slot] / posts,
            first_seen=t.first_seen[slot],
            last_seen=t.last_seen[slot],
            virality=self._virality(velocity, authors / posts if authors < posts else 1.0),
            top_posts=extras.top_posts if extras is not None else (t.first_post(slot),),
            term_counts=tuple(terms.items()) if terms else (),
        )

    def _story_state(self, slot: int) -> dict[str, Any]:
        t = self._table
        text = t.texts[slot]
        extras = t.extras[slot]
        authors = [t.author[slot]] if extras is None or extras.authors is None else sorted(extras.authors)
        top_posts = extras.top_posts if extras is not None else (t.first_post(slot),)
        return {
            "id": t.ids[slot],
            "text": text,
            "indexed": t.keys_of(slot)[0] != NO_KEY,
            "first_seen": t.first_seen[slot],
            "last_seen": t.last_seen[slot],
            "posts": t.posts[slot],
            "complaints": t.complaints[slot],
            "negativity": t.negativity[slot],
            "reach": t.reach[slot],
            "authors": authors,
            "authors_overflow": extras.authors_overflow if extras is not None else False,
            "bucket": t.bucket[slot],
            "counts": [t.recent[slot], t.previous[slot], t.older[slot]],
            # The text only when it differs from the story's (most top posts are its first post).
            "top_posts": [[p.post_id, p.author_handle, p.reshares, p.followers, None if p.text == text else p.text,
                           p.url] for p in top_posts],
            "terms": dict(extras.terms) if extras is not None and extras.terms is not None else None,
            "aliases": list(extras.aliases) if extras is not None and extras.aliases else [],
        }

    def _story_from_state(self, record: dict[str, Any]) -> None:
        """Add one story from :meth:`_story_state`'s record, as the most recently updated."""
        t = self._table
        text = str(record["text"])[:self.max_text_chars]
        authors = sorted(int(a) for a in record["authors"])
        top_posts = tuple(_top_post_from_state(top, text) for top in record["top_posts"])
        first = top_posts[0] if top_posts else TopPost(str(record["id"]), "", 0, 0, text, None)
        slot = t.add(str(record["id"]), text, float(record["first_seen"]), int(record["bucket"]),
                     authors[0] if authors else 0, float(record["negativity"]), False, first.post_id,
                     first.author_handle, first.url, _as_count(first.reshares), _as_count(first.followers))
        t.last_seen[slot] = float(record["last_seen"])
        t.posts[slot] = int(record["posts"])
        t.complaints[slot] = int(record["complaints"])
        t.reach[slot] = _as_count(record["reach"])
        t.recent[slot], t.previous[slot], t.older[slot] = (int(c) for c in record["counts"])
        if t.posts[slot] > 1:
            self._grown[slot] = None
        overflow = bool(record["authors_overflow"]) or len(authors) > self.max_authors
        if len(top_posts) > 1 or len(authors) > 1 or record["terms"] is not None or record["aliases"] \
                or t.posts[slot] > 1:
            extras = t.extras[slot] = StoryExtras(top_posts[0] if top_posts else t.first_post(slot))
            extras.top_posts = top_posts or extras.top_posts
            if len(authors) > 1:
                extras.authors = set(authors[:self.max_authors])
                extras.authors_overflow = overflow
                if overflow:
                    extras.authors_heap = _largest_first(extras.authors)
            if record["terms"] is not None:
                counts = ((str(term), int(count)) for term, count in record["terms"].items())
                extras.terms = Counter(dict(heapq.nlargest(2 * self.max_terms, counts, key=itemgetter(1))))
            if record["aliases"]:
                extras.aliases = [str(a) for a in record["aliases"][-self.max_aliases:]]
                for alias in extras.aliases:
                    self._aliases[alias] = t.ids[slot]  # type: ignore[assignment]
        if record["indexed"]:
            keys = self._index.band_keys(tokenize(text, self.max_text_chars))
            if keys:
                t.set_keys(slot, keys)
                self._index.add(keys, slot)


def _largest_first(hashes: set[int]) -> list[int]:
    """The hashes negated, as a heap: the largest hash is ``-heap[0]``."""
    heap = [-value for value in hashes]
    heapq.heapify(heap)
    return heap


#: Counts are saturated here (the largest a 64-bit column holds).
_MAX_COUNT = (1 << 63) - 1


def _as_count(value: Any) -> int:
    """A count as a non-negative int within a 64-bit column (validated posts already are)."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return min(max(number, 0), _MAX_COUNT)


def _top_post_from_state(record: list[Any], story_text: str) -> TopPost:
    """A top post from :meth:`StoryTracker._story_state`'s list (or the four fields states before quotes had)."""
    post_id, handle, reshares, followers, *quote = record
    text, url = quote if quote else (None, None)
    if len(quote) != 2:
        handle = ""  # the older form held the author's id, not a handle to show
    return TopPost(str(post_id), str(handle), int(reshares), int(followers),
                   story_text if text is None else str(text), None if url is None else str(url))
