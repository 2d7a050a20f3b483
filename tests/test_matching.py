"""The watchlist matches terms, hashtags and handles regardless of case and accents, on word boundaries."""

from __future__ import annotations

import pytest

from streams.config import Brand
from streams.matching import BrandMatcher

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
