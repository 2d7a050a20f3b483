"""The live stories of one tracker, stored as columns: one row (a *slot*) per story.

Why columns rather than one object per story: a worker holds the story
trackers of every brand it owns, up to a million live stories for 10,000
brands, and most stories never get a second post. As an object with its
numbers boxed (a float or int is a 24-32 byte object behind an 8-byte pointer),
its first post's quote in a named tuple and its place in an ``OrderedDict``, a
one-post story cost about 1,300 bytes. Here its numbers sit unboxed in
``array`` columns (8 bytes each), its first post is quoted from columns too,
and what only a growing story needs (author set, top posts, term counts,
aliases) lives in a :class:`StoryExtras` created at its second post. That is
about 650 bytes for a one-post story, most of it the texts themselves
(``bench/bench_memory.py``).

Rows are reused: a dropped story's slot goes on a free list, and the columns
grow by chunks, never shrink (their size is bounded by ``max_stories``). The
rows are also kept in least-recently-updated order, by a doubly linked list in
two int columns, so that the story to expire or evict (the oldest) and the
fastest stories (among the newest) are found without scanning.

This module only stores; :mod:`detectors.stories` decides what the numbers mean.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterator
from typing import NamedTuple

#: No band key in this position (band keys are below 2**30).
NO_KEY = (1 << 32) - 1
_NONE = -1  # no slot (ends of the linked list)
_MIN_GROWTH = 16

#: Slot numbers as shared int objects: a dict value must be an object, and an int above 256 costs
#: 28 bytes. Every table takes its slots' numbers from here, so a number exists once per process
#: however many brands use it.
_SLOT_NUMBERS: list[int] = []


def _slot_numbers(start: int, stop: int) -> list[int]:
    if len(_SLOT_NUMBERS) < stop:
        _SLOT_NUMBERS.extend(range(len(_SLOT_NUMBERS), stop))
    return _SLOT_NUMBERS[start:stop]


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


class StoryExtras:
    """What a story holds once it has more than one post (or an alias): all bounded by the tracker."""

    __slots__ = ("aliases", "authors", "authors_heap", "authors_overflow", "terms", "top_posts")

    def __init__(self, first_post: TopPost) -> None:
        # The smallest author hashes (all of them until one is left out); None while the story has one author.
        self.authors: set[int] | None = None
        self.authors_overflow = False  # whether some author was left out (the count is then estimated)
        # Once some author was left out: the kept hashes negated, as a heap, so that the largest kept
        # one (the cutoff) is at hand when a smaller one replaces it (finding it in the set is O(n)).
        self.authors_heap: list[int] | None = None
        self.top_posts: tuple[TopPost, ...] = (first_post,)
        self.terms: Counter[str] | None = None  # created at the second post
        self.aliases: list[str] | None = None  # post ids that lead to this story


class StoryTable:
    """Columns of per-story values, a free list of slots, and the stories' recency order.

    Parameters
    ----------
    bands
        Band keys kept per story (the near-duplicate index's ``bands``), so
        that a dropped story's keys can be taken out of the index without
        hashing its text again.
    max_rows
        Rows never allocated beyond this (the tracker's ``max_stories``).

    Columns, indexed by slot (a story's first post fills the ``first_*`` ones, and
    :meth:`add` counts it):

    - ``ids``, ``texts``: story id and representative text;
    - ``first_seen``, ``last_seen`` (event time), ``negativity`` (sum over posts),
      ``reach`` (sum of followers), ``posts``, ``complaints``;
    - ``bucket``, ``recent``, ``previous``, ``older``: the latest velocity window
      and the post counts in it and the two before;
    - ``author``: the first author's hash;
    - ``first_post_ids``, ``first_handles``, ``first_urls``, ``first_reshares``,
      ``first_followers``: the first post, quoted while the story has no extras;
    - ``band_keys``: ``bands`` entries per slot (``NO_KEY`` where none);
    - ``extras``: a :class:`StoryExtras` or ``None``.
    """

    def __init__(self, bands: int, max_rows: int) -> None:
        self.bands = bands
        self.max_rows = max_rows
        self.slot_of: dict[str, int] = {}  # story id -> slot
        self.ids: list[str | None] = []
        self.texts: list[str | None] = []
        self.first_post_ids: list[str | None] = []
        self.first_handles: list[str | None] = []
        self.first_urls: list[str | None] = []
        self.extras: list[StoryExtras | None] = []
        self.first_seen = array("d")
        self.last_seen = array("d")
        self.negativity = array("d")
        self.reach = array("q")
        self.posts = array("q")
        self.complaints = array("q")
        self.bucket = array("q")
        self.recent = array("q")
        self.previous = array("q")
        self.older = array("q")
        self.author = array("q")
        self.first_reshares = array("q")
        self.first_followers = array("q")
        self.band_keys = array("I")
        self._no_keys = array("I", [NO_KEY]) * bands
        self._link_newer = array("i")  # the next more recently updated slot
        self._link_older = array("i")  # the next less recently updated slot
        self._oldest = _NONE
        self._newest = _NONE
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self.slot_of)

    @property
    def capacity(self) -> int:
        """Rows allocated (live stories plus free slots)."""
        return len(self.ids)

    def add(self, story_id: str, text: str, created_at: float, bucket: int, author: int, negativity: float,
            complaint: bool, post_id: str, handle: str, url: str | None, reshares: int, followers: int) -> int:
        """A new row for a story with its first post counted, as the most recently updated; its slot.

        ``author``, ``negativity``, ``complaint`` and the rest are the first
        post's. A count that does not fit a 64-bit column (or is not an int)
        raises ``OverflowError`` or ``TypeError`` before anything is added.
        """
        if not self._free:
            self._grow()
        slot = self._free[-1]
        self.reach[slot] = self.first_followers[slot] = followers  # may raise: nothing is taken yet
        self.first_reshares[slot] = reshares
        self._free.pop()
        self.slot_of[story_id] = slot
        self.ids[slot] = story_id
        self.texts[slot] = text
        self.first_seen[slot] = self.last_seen[slot] = created_at
        self.negativity[slot] = negativity
        self.posts[slot] = 1
        self.complaints[slot] = 1 if complaint else 0
        self.bucket[slot] = bucket
        self.recent[slot] = 1
        self.previous[slot] = self.older[slot] = 0
        self.author[slot] = author
        self.first_post_ids[slot] = post_id
        self.first_handles[slot] = handle
        self.first_urls[slot] = url
        self._link_newest(slot)
        return slot

    def remove(self, slot: int) -> None:
        """Drop a story's row (its slot is reused)."""
        story_id = self.ids[slot]
        if story_id is not None and self.slot_of.get(story_id) == slot:
            del self.slot_of[story_id]
        self._unlink(slot)
        self.ids[slot] = self.texts[slot] = None
        self.first_post_ids[slot] = self.first_handles[slot] = self.first_urls[slot] = None
        self.extras[slot] = None
        width = self.bands
        self.band_keys[slot * width:(slot + 1) * width] = self._no_keys
        self._free.append(_SLOT_NUMBERS[slot])

    def first_post(self, slot: int) -> TopPost:
        """The story's first post as a quote."""
        return TopPost(self.first_post_ids[slot] or "", self.first_handles[slot] or "", self.first_reshares[slot],
                       self.first_followers[slot], self.texts[slot] or "", self.first_urls[slot])

    def keys_of(self, slot: int) -> array[int]:
        """The band keys a story's text is indexed under, padded with ``NO_KEY`` to ``bands`` entries."""
        width = self.bands
        return self.band_keys[slot * width:(slot + 1) * width]

    def set_keys(self, slot: int, keys: tuple[int, ...]) -> None:
        width = self.bands
        self.band_keys[slot * width:slot * width + len(keys)] = array("I", keys)

    def touch(self, slot: int) -> None:
        """Make a story the most recently updated."""
        if slot != self._newest:
            self._unlink(slot)
            self._link_newest(slot)

    def oldest(self) -> int | None:
        """The least recently updated story's slot, else ``None``."""
        return self._oldest if self._oldest != _NONE else None

    def oldest_first(self) -> Iterator[int]:
        """Slots from the least to the most recently updated story (do not add or remove meanwhile)."""
        slot, newer = self._oldest, self._link_newer
        while slot != _NONE:
            yield slot
            slot = newer[slot]

    def newest_first(self) -> Iterator[int]:
        """Slots from the most to the least recently updated story (do not add or remove meanwhile)."""
        slot, older = self._newest, self._link_older
        while slot != _NONE:
            yield slot
            slot = older[slot]

    def _link_newest(self, slot: int) -> None:
        newest = self._newest
        self._link_older[slot] = newest
        self._link_newer[slot] = _NONE
        if newest == _NONE:
            self._oldest = slot
        else:
            self._link_newer[newest] = slot
        self._newest = slot

    def _unlink(self, slot: int) -> None:
        older, newer = self._link_older[slot], self._link_newer[slot]
        if older == _NONE:
            self._oldest = newer
        else:
            self._link_newer[older] = newer
        if newer == _NONE:
            self._newest = older
        else:
            self._link_older[newer] = older

    def _grow(self) -> None:
        """Add free rows: half the current capacity (at least a few), like a list grows, up to ``max_rows``."""
        start = len(self.ids)
        extra = max(min(max(_MIN_GROWTH, start // 2), self.max_rows - start), 1)
        nones: list[None] = [None] * extra
        for column in (self.ids, self.texts, self.first_post_ids, self.first_handles, self.first_urls,
                       self.extras):
            column.extend(nones)
        for column in (self.first_seen, self.last_seen, self.negativity):
            column.extend(array("d", [0.0]) * extra)
        for column in (self.reach, self.posts, self.complaints, self.bucket, self.recent, self.previous,
                       self.older, self.author, self.first_reshares, self.first_followers):
            column.extend(array("q", [0]) * extra)
        self.band_keys.extend(array("I", [NO_KEY]) * (extra * self.bands))
        self._link_newer.extend(array("i", [_NONE]) * extra)
        self._link_older.extend(array("i", [_NONE]) * extra)
        self._free.extend(reversed(_slot_numbers(start, start + extra)))
