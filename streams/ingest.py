"""The first step of every post: validate, match brands, score, re-key by brand.

Pure apart from the negativity model: Kafka stays in :mod:`streams.app`, so the
offline backtest runs the very same code over files. A batch goes in (raw
values as read from Kafka), and out come the brand-keyed messages to forward,
the dead letters, and what to count.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from streams.matching import BrandMatcher
from streams.post import InvalidPost, Post, decode_post

log = logging.getLogger(__name__)


class BatchScorer(Protocol):
    """What the ingest step needs of a negativity model (see ``detectors.negativity``)."""

    def score_many(self, texts: Sequence[str]) -> Sequence[float]: ...


@dataclass(slots=True)
class BrandPost:
    """A valid post attributed to one brand, with its negativity."""

    brand: str
    post: Post
    negativity: float
    complaint: bool
    wire: dict[str, Any]

    def message(self, canonical: bool = False) -> dict[str, Any]:
        """The message on ``posts.by_brand``: the wire post plus brand, negativity and parsed fields.

        The wire post goes as it came, unknown fields included, unless ``canonical``: then only the
        validated fields are kept (see :func:`canonical_wire`), for a post whose wire form cannot be
        written back or would not fit on the topic.
        """
        wire = canonical_wire(self.post, self.wire) if canonical else self.wire
        return {**wire, "brand": self.brand, "negativity": round(self.negativity, 4),
                "complaint": self.complaint, "created_at_s": self.post.created_at,
                "platform": self.post.platform}


def canonical_wire(post: Post, wire: dict[str, Any]) -> dict[str, Any]:
    """The validated fields of ``post`` in the wire format: bounded in size and always serialisable.

    A valid post may carry unknown fields that JSON readers accept but writers refuse or inflate:
    nesting deeper than orjson writes (255 levels; it reads 1,024), or numbers such as ``1e15``
    that come back as ``1000000000000000.0``, four times longer. Their known fields are bounded
    (text 10,000 characters, ids 256...), so this form stays far below the topic's record limit.
    ``created_at`` keeps the post's own (validated) text.
    """
    out: dict[str, Any] = {
        "id": post.id, "platform": post.platform, "text": post.text, "created_at": wire["created_at"],
        "author": {"id": post.author_id, "handle": post.author_handle, "followers": post.author_followers},
    }
    for key in ("brand", "reshare_of", "reply_to", "lang", "url"):
        value = getattr(post, key)
        if value is not None:
            out[key] = value
    out["engagement"] = {"likes": post.likes, "reshares": post.reshares, "replies": post.replies}
    return out


@dataclass(slots=True)
class DeadLetter:
    index: int  # position in the input batch
    raw: bytes | None
    reason: str
    detail: str


@dataclass(slots=True)
class IngestResult:
    forwarded: list[BrandPost] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    #: (platform) of each valid post that mentioned no brand: counted and dropped.
    unmatched: list[str] = field(default_factory=list)
    #: every valid post, matched or not (for latency metrics and watermarks)
    posts: list[Post] = field(default_factory=list)
    #: the position in the input batch of each of ``posts``
    post_indexes: list[int] = field(default_factory=list)


class Ingestor:
    """Turn raw post values into per-brand posts (see module docstring)."""

    def __init__(self, matcher: BrandMatcher, known_brands: Sequence[str],
                 scorer: BatchScorer | None = None, complaint_threshold: float = 0.5,
                 max_unlisted_brands: int = 100) -> None:
        self.matcher = matcher
        self.known_brands = frozenset(known_brands)
        self.scorer = scorer
        self.complaint_threshold = complaint_threshold
        self.max_unlisted_brands = max_unlisted_brands
        #: brand names that posts carried but the watchlist does not hold, admitted so far
        self.unlisted_brands: set[str] = set()
        self._warned_unlisted = False

    def process(self, values: Sequence[bytes | None], now: float) -> IngestResult:
        result = IngestResult()
        valid: list[tuple[Post, dict[str, Any], list[str]]] = []
        for index, raw in enumerate(values):
            try:
                post, wire = decode_post(raw, now)
            except InvalidPost as exc:
                result.dead_letters.append(DeadLetter(index, raw, exc.reason, exc.detail))
                continue
            except Exception as exc:  # a bug must not kill the worker or lose the post
                result.dead_letters.append(DeadLetter(index, raw, "processing_error", repr(exc)[:300]))
                continue
            result.posts.append(post)
            result.post_indexes.append(index)
            brands = self._brands_of(post)
            if brands:
                valid.append((post, wire, brands))
            else:
                result.unmatched.append(post.platform)
        scores = self._scores([post.text for post, _, _ in valid])
        for (post, wire, brands), score in zip(valid, scores, strict=True):
            complaint = score >= self.complaint_threshold
            for brand in brands:
                result.forwarded.append(BrandPost(brand, post, score, complaint, wire))
        return result

    def _brands_of(self, post: Post) -> list[str]:
        if post.brand:
            # A source that names a brand we do not watch still counts, under that name (the
            # metrics fold such names into "other" so labels stay bounded), but only the first
            # ``max_unlisted_brands`` names: each costs a monitor and table state, and a source
            # sending random names must not grow a worker's memory without bound. Past that, the
            # watchlist decides from the text, as for a post without a brand.
            name = post.brand.lower()
            if name in self.known_brands or name in self.unlisted_brands:
                return [name]
            if len(self.unlisted_brands) < self.max_unlisted_brands:
                self.unlisted_brands.add(name)
                return [name]
            if not self._warned_unlisted:
                self._warned_unlisted = True
                log.warning("%d brand names outside the watchlist seen; posts naming further ones are "
                            "matched by their text instead (worker.max_unlisted_brands)", self.max_unlisted_brands)
        return self.matcher.match(post.text)

    def _scores(self, texts: list[str]) -> Sequence[float]:
        if not texts:
            return []
        if self.scorer is None:
            return [0.0] * len(texts)
        return [float(s) for s in self.scorer.score_many(texts)]

