"""The watchlist matches terms, hashtags and handles regardless of case and accents, on word boundaries."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import Brand
from streams.matching import BrandMatcher, trie_pattern

MATCHER = BrandMatcher([
    Brand("skyway", terms=("Skyway Airlines", "Skyway Air"), hashtags=("#skyway",), handles=("@SkywayAir",)),
    Brand("cafe-nero", terms=("Café Nero",)),
    Brand("volt", terms=("Volt Mobile",), handles=("@VoltMobile",)),
])


@pytest.mark.parametrize(("text", "brands"), [
    ("flying SKYWAY AIRLINES tomorrow", ["skyway"]),
    ("skyway   air lost my bag", ["skyway"]),
    ("#Skyway again late", ["skyway"]),
    ("@skywayair where is my bag?", ["skyway"]),
    ("cafe nero coffee is cold", ["cafe-nero"]),
    ("CAFÉ NÉRO!", ["cafe-nero"]),
    ("Volt Mobile and Skyway Air both failed me", ["skyway", "volt"]),
    ("revolt mobile phones", []),
    ("#skywayfan club", []),
    ("#myskyway", []),
    ("skywayair.com is down", []),
    ("", []),
    ("🙂🙂🙂", []),
    ("スカイウェイ Skyway Air 最悪", ["skyway"]),
])
def test_matches(text, brands):
    assert MATCHER.match(text) == brands


def test_a_long_text_is_scanned_once_and_still_matches():
    text = "word " * 2000 + "@VoltMobile"
    assert MATCHER.match(text) == ["volt"]


def test_needs_a_term():
    with pytest.raises(ValueError, match="at least one"):
        BrandMatcher([])


_WORDS = ["sky", "skyway", "way", "air", "a", "ab", "abc", "b", "#sky", "@sky", "café", "c++", "x.y"]


@settings(max_examples=300, derandomize=True, deadline=None)
@given(phrases=st.lists(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=3).map(" ".join),
                        min_size=1, max_size=8, unique=True),
       text=st.lists(st.sampled_from([*_WORDS, "  ", ",", "skyways", "zz"]), max_size=12).map(" ".join))
def test_the_trie_pattern_matches_as_a_flat_alternation_of_longest_first_does(phrases, text):
    """The trie is an optimisation: it must find exactly what ``a|b|c`` (longest first) finds."""
    flat = "|".join(r"\s+".join(re.escape(w) for w in p.split(" ")) for p in sorted(phrases, key=len, reverse=True))
    bounded = r"(?<![\w#@])(?:{})(?!\w)"
    expected = [m.group(0) for m in re.finditer(bounded.format(flat), text)]
    assert [m.group(0) for m in re.finditer(bounded.format(trie_pattern(phrases)), text)] == expected


def test_ten_thousand_brands_each_found_by_its_own_term():
    brands = [Brand(f"b{i}", terms=(f"brand{i} corp",), hashtags=(f"#b{i}",)) for i in range(10_000)]
    matcher = BrandMatcher(brands)
    for i in (0, 7, 4242, 9999):
        assert matcher.match(f"BRAND{i} Corp lost my order, #b{(i + 1) % 10_000}") == sorted(
            {f"b{i}", f"b{(i + 1) % 10_000}"})
    assert matcher.match("brand10000 corp") == []
