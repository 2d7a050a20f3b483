"""The watchlist: which brands a post mentions.

A post without a ``brand`` field is matched against every brand's terms,
hashtags and handles from the config. Matching ignores case and accents
("Café Nero" matches "cafe nero") and respects word boundaries ("Volt Mobile"
does not match "revolt mobile"; "#skyway" does not match "#skywayfan"). One post
may mention several brands.

All patterns are compiled into a single regular expression, so a post is
scanned once whatever the number of brands.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from streams.config import Brand


def fold(text: str) -> str:
    """Lower-case and strip accents, keeping one character per character where possible."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


_SPACES = re.compile(r"\s+")


class BrandMatcher:
    """Find the brands a text mentions, from their watch terms, hashtags and handles."""

    def __init__(self, brands: Iterable[Brand]) -> None:
        self._owner: dict[str, set[str]] = {}
        for brand in brands:
            for phrase in (*brand.terms, *brand.hashtags, *brand.handles):
                key = _SPACES.sub(" ", fold(phrase).strip())
                self._owner.setdefault(key, set()).add(brand.name)
        if not self._owner:
            raise ValueError("BrandMatcher needs at least one term, hashtag or handle")
        alternatives = [
            r"\s+".join(re.escape(word) for word in key.split(" "))
            for key in sorted(self._owner, key=len, reverse=True)
        ]
        # A match may not be glued to a word character on either side; a term may also not
        # continue a hashtag or handle ("#skyway" must not match inside "#myskyway").
        self._pattern = re.compile(r"(?<![\w#@])(?:" + "|".join(alternatives) + r")(?!\w)")

    def match(self, text: str) -> list[str]:
        """The brands ``text`` mentions, sorted by name (empty when none)."""
        found: set[str] = set()
        for m in self._pattern.finditer(fold(text)):
            found |= self._owner[_SPACES.sub(" ", m.group(0))]
        return sorted(found)
