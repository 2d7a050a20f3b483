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
from collections import Counter, OrderedDict
from collections.abc import Iterable
from operator import itemgetter
from typing import Any, NamedTuple, Protocol, Self

from detectors.base import check_range
from detectors.minhash import NearDuplicateIndex, pack_keys, similarity, tokenize, unpack_keys

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


class TopPost(NamedTuple):
    """One of a story's most visible posts, with what an alert needs to quote it.

    The quote travels with the story (rather than in a separate cache of recent
    posts) so that the posts driving a story can always be quoted, however long
    ago they were posted, at the cost of at most three texts per story.
    """

    post_id: str
    author_handle: str
    reshares: int
    followers: int
    text: str
    url: str | None


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


class _Story:
    """The mutable per-story record (internal; read it through :class:`StorySnapshot`)."""

    __slots__ = ("aliases", "authors", "authors_cutoff", "authors_overflow", "band_keys", "bucket", "complaints",
                 "first_seen", "id", "last_seen", "negativity", "older", "posts", "previous",
                 "reach", "recent", "terms", "text", "top_posts")

    def __init__(self, story_id: str, text: str, created_at: float, bucket: int, author: int) -> None:
        self.id = story_id
        self.text = text
        # The band keys the text is indexed under, packed into one int (0: not indexed): a tuple of
        # them cost 100 bytes, a fifth of a one-post story, and computing them again costs CPU.
        self.band_keys = 0
        self.first_seen = created_at
        self.last_seen = created_at
        self.posts = 0
        self.complaints = 0
        self.negativity = 0.0  # sum over posts
        self.reach = 0
        # The smallest author hashes (all of them until it overflows); a bare int while there is one.
        self.authors: int | set[int] = author
        self.authors_cutoff = -1  # the largest hash kept, once some author was left out
        self.authors_overflow = False  # whether some author was left out (count is then estimated)
        self.bucket = bucket  # index of the latest velocity window (created_at // window_seconds)
        self.recent = 0  # posts in that window
        self.previous = 0  # ... in the one before
        self.older = 0  # ... and the one before that
        self.top_posts: tuple[TopPost, ...] = ()
        self.terms: Counter[str] | None = None  # created at the second post
        self.aliases: list[str] | None = None  # post ids that lead to this story


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
        self._index = NearDuplicateIndex(bands=bands, rows=rows, min_tokens=min_tokens)
        self._stories: OrderedDict[str, _Story] = OrderedDict()  # least recently updated first
        self._aliases: dict[str, str] = {}  # post id -> story id
        self._clock = -math.inf  # latest created_at seen
        self._expiry_due = -math.inf  # when the front story will be idle too long (check then, not per post)

    # -- the detector protocol -------------------------------------------------------------------

    def learn_one(self, x: ScoredPost) -> None:
        """Add one post to its story (or start one), and expire stories idle at the new clock."""
        self._learn(x.post, x.negativity, x.complaint)

    def score_one(self, x: ScoredPost) -> float:
        """Virality in [0, 1] of the story ``x`` would join, counting ``x``; changes nothing.

        Virality is ``v / (v + half_velocity)`` where ``v`` is the story's
        velocity (posts per minute) times its share of unique authors, so that
        one account posting fast does not look viral.
        """
        post = x.post
        created_at = self._time_of(post)
        story, _, _, _ = self._route(post)
        post_bucket = int(created_at // self.window_seconds)
        now = max(self._clock, created_at)
        if story is None:
            return self._virality(self._rates(post_bucket, 1, 0, 0, now)[0], 1.0)
        bucket, recent, previous, older = _count_in_windows(
            story.bucket, story.recent, story.previous, story.older, post_bucket)
        authors = self._unique_authors(story)[0]
        known = story.authors
        author = _author_hash(post.author_id)
        if type(known) is int:
            authors += author != known
        elif not story.authors_overflow and author not in known:
            authors += 1
        velocity = self._rates(bucket, recent, previous, older, max(now, story.last_seen))[0]
        return self._virality(velocity, min(1.0, authors / (story.posts + 1)))

    def learn(self, post: PostLike, negativity: float, complaint: bool) -> None:
        """Learn ``post`` without building its story's figures (the hot path: figures are read per bucket)."""
        self._learn(post, negativity, complaint)

    def update(self, post: PostLike, negativity: float, complaint: bool | None = None) -> StorySnapshot:
        """Learn ``post`` and return its story's figures at the tracker's clock.

        ``complaint`` defaults to ``negativity >= complaint_threshold``. A NaN
        negativity counts as 0.
        """
        if complaint is None:
            complaint = negativity >= self.complaint_threshold
        story = self._learn(post, negativity, complaint)
        return self._snapshot(story, self._clock if self._clock > story.last_seen else story.last_seen)

    # -- reading -------------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of live stories."""
        return len(self._stories)

    @property
    def clock(self) -> float:
        """The latest ``created_at`` learnt (``-inf`` before the first post)."""
        return self._clock

    def story_id_of(self, post_id: str) -> str | None:
        """The live story a post id leads to (a story id, or an alias of one), else ``None``."""
        story = self._lookup(post_id)
        return story.id if story is not None else None

    def snapshot(self, story_id: str, now: float) -> StorySnapshot | None:
        """A live story's figures at ``now`` (no earlier than its last post), else ``None``."""
        story = self._stories.get(story_id)
        return self._snapshot(story, max(now, story.last_seen)) if story is not None else None

    def top_stories(self, now: float, k: int = 5) -> list[StorySnapshot]:
        """The ``k`` fastest stories at ``now``: highest velocity first, then most posts.

        Only stories updated in the last three windows are considered (older
        ones have no velocity left); stories are visited most recently updated
        first and the visit stops at the first inactive one, so this costs the
        number of active stories, not of live ones. (A story whose latest post
        arrived more than three windows late can hide behind it and be missed.)
        """
        horizon = now - 3 * self.window_seconds
        active = []
        for story in reversed(self._stories.values()):
            if story.last_seen < horizon:
                break
            velocity = self._rates(story.bucket, story.recent, story.previous, story.older,
                                   max(now, story.last_seen))[0]
            if velocity > 0:
                active.append((velocity, story.posts, story))
        fastest = heapq.nlargest(k, active, key=itemgetter(0, 1))
        return [self._snapshot(story, max(now, story.last_seen)) for _, _, story in fastest]

    def expire(self, now: float) -> list[str]:
        """Drop the stories idle for more than ``idle_seconds`` at ``now``; return their ids.

        Stories are checked least recently updated first and the scan stops at
        the first live one, so a story whose last post arrived late may outlive
        ``idle_seconds`` by that lateness (until it reaches the front).
        """
        expired = []
        cutoff = now - self.idle_seconds
        stories = self._stories
        self._expiry_due = math.inf
        while stories:
            story = next(iter(stories.values()))
            if story.last_seen >= cutoff:
                self._expiry_due = story.last_seen + self.idle_seconds
                break
            self._drop(story)
            expired.append(story.id)
        return expired

    # -- state ---------------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state: the clock and the stories, least recently updated first."""
        return {
            "clock": self._clock if math.isfinite(self._clock) else None,
            "stories": [_story_state(story) for story in self._stories.values()],
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
            story = tracker._story_from_state(record)
            tracker._stories[story.id] = story
            if story.band_keys:
                tracker._index.add(unpack_keys(story.band_keys), story.id)
            for alias in story.aliases or ():
                tracker._aliases[alias] = story.id
        return tracker

    # -- internals -----------------------------------------------------------------------------------

    def _time_of(self, post: PostLike) -> float:
        created_at = post.created_at
        if math.isfinite(created_at):
            return created_at
        return self._clock if math.isfinite(self._clock) else 0.0

    def _lookup(self, post_id: str) -> _Story | None:
        return self._stories.get(self._aliases.get(post_id, post_id))

    def _route(self, post: PostLike) -> tuple[_Story | None, str, tuple[int, ...] | None, list[str] | None]:
        """Find the story ``post`` belongs to without changing anything.

        Returns the story (``None`` for a new one), the id a new story would
        get (or the alias the post brings), and the text's band keys and tokens
        when they had to be computed.
        """
        stories, aliases = self._stories, self._aliases
        parent = post.reshare_of or post.reply_to
        if parent is not None:
            story = stories.get(aliases.get(parent, parent))
            if story is not None or post.reshare_of is None:
                return story, parent, None, None
            key = parent  # a reshare of a post we do not know: its text is the root's, match it
        else:
            story = stories.get(aliases.get(post.id, post.id))  # the root after its reshares, or a redelivery
            if story is not None:
                return story, post.id, None, None
            key = post.id
        tokens = tokenize(post.text, self.max_text_chars)
        band_keys = self._index.band_keys(tokens)
        if band_keys is not None:
            for story_id in self._index.candidates(band_keys):
                story = stories[story_id]  # type: ignore[index]
                if similarity(tokens, tokenize(story.text, self.max_text_chars)) >= self.min_similarity:
                    return story, key, band_keys, tokens
        return None, key, band_keys, tokens

    def _learn(self, post: PostLike, negativity: float, complaint: bool) -> _Story:
        created_at = post.created_at
        if not math.isfinite(created_at):
            created_at = self._time_of(post)
        if created_at > self._clock:
            self._clock = created_at
            if created_at > self._expiry_due:
                self.expire(created_at)
        story, key, band_keys, tokens = self._route(post)
        if story is None and created_at < self._clock - self.idle_seconds:
            # Too late to start a story that would already have expired: count it, keep nothing.
            story = _Story(key, post.text[:self.max_text_chars], created_at,
                           int(created_at // self.window_seconds), _author_hash(post.author_id))
            self._count(story, post, negativity, complaint, created_at, tokens)
            return story
        if story is None:
            story = self._create(key, post, created_at, band_keys)
        elif band_keys is not None:
            self._add_alias(story, key)  # joined by its text: lead the post (or its unknown root) here
        if post.reply_to is not None and post.reshare_of is None:
            self._add_alias(story, post.id)  # replies to this reply join the conversation's story
        self._count(story, post, negativity, complaint, created_at, tokens)
        return story

    def _create(self, story_id: str, post: PostLike, created_at: float,
                band_keys: tuple[int, ...] | None) -> _Story:
        if not self._stories:
            self._expiry_due = created_at + self.idle_seconds
        elif len(self._stories) >= self.max_stories:
            self._drop(next(iter(self._stories.values())))
        story = _Story(story_id, post.text[:self.max_text_chars], created_at,
                       int(created_at // self.window_seconds), _author_hash(post.author_id))
        if band_keys is not None:
            story.band_keys = pack_keys(band_keys)
            self._index.add(band_keys, story_id)
        self._stories[story_id] = story
        return story

    def _drop(self, story: _Story) -> None:
        del self._stories[story.id]
        if story.band_keys:
            self._index.remove(unpack_keys(story.band_keys), story.id)
        for alias in story.aliases or ():
            if self._aliases.get(alias) == story.id:
                del self._aliases[alias]

    def _add_alias(self, story: _Story, post_id: str) -> None:
        if story.aliases is None:
            story.aliases = []
        story.aliases.append(post_id)
        self._aliases[post_id] = story.id
        if len(story.aliases) > self.max_aliases:
            oldest = story.aliases.pop(0)
            if self._aliases.get(oldest) == story.id and oldest not in story.aliases:
                del self._aliases[oldest]

    def _count(self, story: _Story, post: PostLike, negativity: float, complaint: bool, created_at: float,
               tokens: list[str] | None) -> None:
        story.posts += 1
        if 0.0 <= negativity <= 1.0:  # NaN fails both tests and counts as 0
            story.negativity += negativity
        elif negativity > 1.0:
            story.negativity += 1.0
        if complaint:
            story.complaints += 1
        followers = post.author_followers
        story.reach += followers
        author = zlib.crc32(post.author_id.encode())  # _author_hash, inlined: this runs for every post
        if story.authors != author:  # not the story's one and only author so far
            self._count_author(story, author)
        post_bucket = int(created_at // self.window_seconds)
        if post_bucket == story.bucket:
            story.recent += 1
        else:
            story.bucket, story.recent, story.previous, story.older = _count_in_windows(
                story.bucket, story.recent, story.previous, story.older, post_bucket)
        if created_at > story.last_seen:
            story.last_seen = created_at
            self._stories.move_to_end(story.id)
        elif created_at < story.first_seen:
            story.first_seen = created_at

        reshares = post.reshares
        top = story.top_posts
        if not top:
            story.top_posts = (self._top_post(post, reshares, followers),)
        elif len(top) < TOP_POSTS or (reshares, followers) > (top[-1].reshares, top[-1].followers):
            ranked = sorted((*top, self._top_post(post, reshares, followers)),
                            key=_reshares_then_followers, reverse=True)
            story.top_posts = tuple(ranked[:TOP_POSTS])

        if story.posts >= 2:
            if story.terms is None:
                story.terms = Counter()
                self._count_terms(story, tokenize(story.text, self.max_text_chars))
            if post.reshare_of is None:
                self._count_terms(story, tokens if tokens is not None
                                  else tokenize(post.text, self.max_text_chars))

    def _top_post(self, post: PostLike, reshares: int, followers: int) -> TopPost:
        # A text within the limit is kept as the same object as the post's (and the story's, for its
        # first post): slicing a short string returns it unchanged.
        return TopPost(post.id, post.author_handle, reshares, followers, post.text[:self.max_text_chars], post.url)

    def _count_author(self, story: _Story, author: int) -> None:
        """K-minimum-values: keep the ``max_authors`` smallest author hashes.

        A story's only author is kept as a bare int (no set): most stories have one.
        """
        authors = story.authors
        if type(authors) is int:
            if author != authors:
                story.authors = {authors, author}
            return
        if author in authors:
            return
        if not story.authors_overflow:
            if len(authors) < self.max_authors:
                authors.add(author)
                return
            story.authors_overflow = True
            story.authors_cutoff = max(authors)
        if author < story.authors_cutoff:
            authors.add(author)
            if len(authors) > self.max_authors:
                authors.discard(story.authors_cutoff)
            story.authors_cutoff = max(authors)

    def _unique_authors(self, story: _Story) -> tuple[int, bool]:
        """(count, exact): exact until an author was left out, then the KMV estimate."""
        if type(story.authors) is int:
            return 1, True
        if not story.authors_overflow or story.authors_cutoff < 0:
            return len(story.authors), True
        estimate = (len(story.authors) - 1) * _HASH_SPACE / (story.authors_cutoff + 1)
        return max(len(story.authors), round(estimate)), False

    def _count_terms(self, story: _Story, tokens: list[str]) -> None:
        terms = story.terms
        assert terms is not None
        ignore = self.ignore_terms
        # Interned: the same words recur across stories, so each is stored once however many count it.
        terms.update(map(sys.intern, [token for token in tokens if len(token) > 2 and token[0] != "@"
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

    def _snapshot(self, story: _Story, now: float) -> StorySnapshot:
        velocity, acceleration, doubling = self._rates(story.bucket, story.recent, story.previous,
                                                       story.older, now)
        authors, exact = (1, True) if type(story.authors) is int else self._unique_authors(story)
        posts = story.posts
        terms = story.terms
        return StorySnapshot(
            story_id=story.id,
            text=story.text,
            posts=posts,
            unique_authors=authors,
            unique_authors_exact=exact,
            reach=story.reach,
            velocity=velocity,
            acceleration=acceleration,
            doubling_time_seconds=doubling,
            negative_share=story.complaints / posts,
            mean_negativity=story.negativity / posts,
            first_seen=story.first_seen,
            last_seen=story.last_seen,
            virality=self._virality(velocity, authors / posts if authors < posts else 1.0),
            top_posts=story.top_posts,
            term_counts=tuple(terms.items()) if terms else (),
        )

    def _story_from_state(self, record: dict[str, Any]) -> _Story:
        story = _Story(str(record["id"]), str(record["text"])[:self.max_text_chars],
                       float(record["first_seen"]), 0, 0)
        story.last_seen = float(record["last_seen"])
        story.posts = int(record["posts"])
        story.complaints = int(record["complaints"])
        story.negativity = float(record["negativity"])
        story.reach = int(record["reach"])
        authors = sorted(int(a) for a in record["authors"])
        story.authors = authors[0] if len(authors) == 1 else set(authors[:self.max_authors])
        story.authors_overflow = bool(record["authors_overflow"]) or len(authors) > self.max_authors
        if story.authors_overflow and len(authors) > 1:
            story.authors_cutoff = max(story.authors)
        story.bucket = int(record["bucket"])
        story.recent, story.previous, story.older = (int(c) for c in record["counts"])
        story.top_posts = tuple(_top_post_from_state(top, story.text) for top in record["top_posts"])
        if record["terms"] is not None:
            counts = ((str(term), int(count)) for term, count in record["terms"].items())
            story.terms = Counter(dict(heapq.nlargest(2 * self.max_terms, counts, key=itemgetter(1))))
        if record["aliases"]:
            story.aliases = [str(a) for a in record["aliases"][-self.max_aliases:]]
        if record["indexed"]:
            story.band_keys = pack_keys(self._index.band_keys(tokenize(story.text, self.max_text_chars)) or ())
        return story


def _story_state(story: _Story) -> dict[str, Any]:
    return {
        "id": story.id,
        "text": story.text,
        "indexed": story.band_keys != 0,
        "first_seen": story.first_seen,
        "last_seen": story.last_seen,
        "posts": story.posts,
        "complaints": story.complaints,
        "negativity": story.negativity,
        "reach": story.reach,
        "authors": [story.authors] if type(story.authors) is int else sorted(story.authors),
        "authors_overflow": story.authors_overflow,
        "bucket": story.bucket,
        "counts": [story.recent, story.previous, story.older],
        # The text only when it differs from the story's (most top posts are its first post).
        "top_posts": [[p.post_id, p.author_handle, p.reshares, p.followers, None if p.text == story.text else p.text,
                       p.url] for p in story.top_posts],
        "terms": dict(story.terms) if story.terms is not None else None,
        "aliases": list(story.aliases) if story.aliases else [],
    }


def _top_post_from_state(record: list[Any], story_text: str) -> TopPost:
    """A top post from :func:`_story_state`'s list (or the four fields states before quotes had)."""
    post_id, handle, reshares, followers, *quote = record
    text, url = quote if quote else (None, None)
    if len(quote) != 2:
        handle = ""  # the older form held the author's id, not a handle to show
    return TopPost(str(post_id), str(handle), int(reshares), int(followers),
                   story_text if text is None else str(text), None if url is None else str(url))
