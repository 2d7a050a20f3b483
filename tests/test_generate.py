"""The synthetic scenario: deterministic, valid, varied, seasonal, and its incidents look as labelled."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import orjson
import pytest

from streams.cli import main as cli_main
from streams.config import load_config
from streams.generate import (
    DEFAULT_BRANDS,
    PROFILES,
    Scenario,
    generate_posts,
    malformed_examples,
    profile_for,
    write_scenario,
)
from streams.matching import BrandMatcher
from streams.post import REASONS, InvalidPost, parse_post, parse_timestamp

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "streams/schema/post.schema.json").read_text())
NOW = parse_timestamp("2026-11-25T00:00:00Z")

# Deliberately simple word lists, independent of the generator's vocabulary tables.
NEGATIVE_WORDS = ("cancel", "stranded", "voucher", "disgusting", "shameful", "furious", "unacceptable",
                  "refund", "ashamed", "awful", "never", "mess", "worst", "lost", "ridiculous", "useless",
                  "frustrated", "disappointed", "fail", "joke", "sick of", "give up", "broken", "delayed",
                  "no signal", "dropped my", "charged", "overcharged", "throttled", "crawling", "on hold",
                  "fuming", "unbelievable", "unreal", "sold out", "crashed")
POSITIVE_WORDS = ("love", "amazing", "great", "thank", "brilliant", "excellent", "happy", "cannot wait",
                  "take my money", "so good", "lovely", "fantastic", "nice", "10/10", "impressed",
                  "early gift", "out of the park", "well done")


def has_any(text: str, words: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in words)


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scenario")
    write_scenario(Scenario(seed=11, scale=0.25), out)
    return out


@pytest.fixture(scope="module")
def posts(scenario_dir: Path) -> list[dict]:
    return [orjson.loads(line) for line in (scenario_dir / "posts.jsonl").read_bytes().splitlines()]


@pytest.fixture(scope="module")
def labels(scenario_dir: Path) -> dict:
    return json.loads((scenario_dir / "labels.json").read_text())


@pytest.fixture(scope="module")
def matcher() -> BrandMatcher:
    return BrandMatcher(load_config(REPO / "crisiswatch.yaml").brands)


@pytest.fixture(scope="module")
def brands_of(posts: list[dict], matcher: BrandMatcher) -> list[list[str]]:
    """The brands the pipeline would attribute each post to (its brand field, else the watchlist)."""
    return [[p["brand"]] if p.get("brand") else matcher.match(p["text"]) for p in posts]


def times(posts: list[dict]) -> list[float]:
    return [parse_timestamp(p["created_at"]) for p in posts]


def incident(labels: dict, kind: str) -> dict:
    (found,) = [i for i in labels["incidents"] if i["kind"] == kind]
    return found


def brand_count(posts, brands_of, brand: str, begin: float, end: float) -> int:
    return sum(1 for p, bs in zip(posts, brands_of, strict=True)
               if brand in bs and begin <= parse_timestamp(p["created_at"]) < end)


# --------------------------------------------------------------------------- determinism and validity


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        write_scenario(Scenario(seed=seed, scale=0.04), tmp_path / name)
    for file in ("posts.jsonl", "labels.json", "README.txt"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file
    assert (tmp_path / "a" / "posts.jsonl").read_bytes() != (tmp_path / "c" / "posts.jsonl").read_bytes()
    assert (tmp_path / "a" / "labels.json").read_bytes() != (tmp_path / "c" / "labels.json").read_bytes()


def test_every_line_is_a_valid_post_matching_the_schema(scenario_dir: Path):
    validator = jsonschema.Draft202012Validator(SCHEMA)
    lines = (scenario_dir / "posts.jsonl").read_bytes().splitlines()
    assert len(lines) > 20_000
    for line in lines:
        post = parse_post(line, NOW)
        assert post.to_json() == line  # the file holds exactly the canonical wire form
    for line in random.Random(1).sample(lines, 5_000):  # the schema check is slow; a sample covers every kind
        errors = list(validator.iter_errors(orjson.loads(line)))
        assert not errors, (line, errors)


def test_posts_are_sorted_with_unique_ids_and_links_to_earlier_posts(posts: list[dict]):
    stamps = times(posts)
    assert stamps == sorted(stamps)
    ids = [p["id"] for p in posts]
    assert len(set(ids)) == len(ids)
    seen_at: dict[str, float] = {}
    links = 0
    for post, at in zip(posts, stamps, strict=True):
        for key in ("reshare_of", "reply_to"):
            if key in post:
                assert seen_at[post[key]] < at, post  # the target exists and came first
                links += 1
        seen_at[post["id"]] = at
    assert links > len(posts) * 0.1


def test_default_brands_are_those_of_the_example_config():
    config = load_config(REPO / "crisiswatch.yaml")
    assert config.brand_names == DEFAULT_BRANDS
    for brand in config.brands:
        profile = PROFILES[brand.name]
        assert (profile.terms, profile.hashtags, profile.handles) == (brand.terms, brand.hashtags, brand.handles)


def test_brand_attribution_mix(posts: list[dict], matcher: BrandMatcher):
    matched = Counter(len(matcher.match(p["text"])) for p in posts if not p.get("brand"))
    with_field = [p for p in posts if p.get("brand")]
    total = len(posts)
    assert 0.01 < matched[0] / total < 0.035          # noise that mentions no brand (~2 %)
    assert 0.01 < matched[2] / total < 0.06           # a small share mention two brands
    assert 0.01 < len(with_field) / total < 0.10      # most posts leave the brand to the watchlist
    assert {p["brand"] for p in with_field} <= set(DEFAULT_BRANDS)
    reached = Counter(b for p in posts for b in matcher.match(p["text"]))
    assert set(reached) == set(DEFAULT_BRANDS)


def test_platforms_authors_and_engagement_look_like_social_media(posts: list[dict]):
    platforms = Counter(p["platform"] for p in posts)
    assert set(platforms) == {"twitter", "reddit", "facebook", "instagram", "tiktok", "news"}
    assert platforms.most_common(1)[0][0] == "twitter"
    assert platforms["news"] < platforms["reddit"]
    followers = sorted(p["author"]["followers"] for p in posts)
    median = followers[len(followers) // 2]
    assert followers[-1] > 500 * median                # a few very big accounts
    assert followers[int(len(followers) * 0.99)] > 10 * median
    authors = Counter(p["author"]["id"] for p in posts)
    assert len(authors) > len(posts) / 10
    assert sum(1 for p in posts if p.get("engagement", {}).get("likes", 0) > 0) > len(posts) / 3


def test_texts_are_varied(posts: list[dict]):
    originals = [p["text"] for p in posts if "reshare_of" not in p]
    sample = random.Random(0).sample(originals, 5_000)
    assert len(set(sample)) / len(sample) > 0.6
    assert len({len(text) // 20 for text in sample}) >= 6  # short and long posts


def test_calm_traffic_is_mostly_not_negative(posts: list[dict], brands_of):
    calm = [p["text"] for p, bs in zip(posts, brands_of, strict=True)
            if bs and p["created_at"] < "2026-11-20T12:00" and "reshare_of" not in p]
    negative = sum(has_any(text, NEGATIVE_WORDS) for text in calm) / len(calm)
    assert 0.08 < negative < 0.4


# --------------------------------------------------------------------------- seasonality


def test_nights_are_quieter_than_days(posts: list[dict]):
    hours = Counter(datetime.fromtimestamp(t, tz=UTC).hour
                    for t in times(posts) if t < parse_timestamp("2026-11-20T14:00:00Z"))
    night = sum(hours[h] for h in range(1, 6)) / 5
    day = sum(hours[h] for h in range(10, 14)) / 4
    assert night < 0.5 * day


def test_weekend_differs_from_weekday(posts: list[dict], brands_of):
    def morning(brand: str, day: str) -> int:
        begin = parse_timestamp(f"{day}T00:00:00Z")
        return brand_count(posts, brands_of, brand, begin, begin + 12 * 3600)

    # 2026-11-20 is a Friday. Coffee is a weekend thing; phone and flight chatter drop on Saturdays.
    brewbox = morning("brewbox", "2026-11-21") / morning("brewbox", "2026-11-20")
    voltmobile = morning("voltmobile", "2026-11-21") / morning("voltmobile", "2026-11-20")
    assert brewbox > 1.05
    assert voltmobile < 0.97


# --------------------------------------------------------------------------- incidents


def test_labels_describe_three_incidents_at_distinct_times(labels: dict, posts: list[dict]):
    assert labels["scenario"]["seed"] == 11 and labels["scenario"]["posts"] == len(posts)
    kinds = {i["kind"]: i for i in labels["incidents"]}
    assert set(kinds) == {"viral_complaint", "product_launch", "negative_drift"}
    first = parse_timestamp(labels["scenario"]["start"])
    for item in labels["incidents"]:
        assert {"kind", "brand", "start", "end", "description", "should_alert", "should_page"} <= set(item)
        start, end = parse_timestamp(item["start"]), parse_timestamp(item["end"])
        assert start - first >= 12 * 3600       # calm history for warm-up
        assert start < parse_timestamp(item["peak"]) < end <= parse_timestamp(labels["scenario"]["end"])
        assert item["description"]
    assert kinds["viral_complaint"]["should_page"] and kinds["viral_complaint"]["brand"] == "skyway"
    assert not kinds["product_launch"]["should_alert"] and kinds["product_launch"]["brand"] == "brewbox"
    assert kinds["negative_drift"]["should_alert"] and not kinds["negative_drift"]["should_page"]
    assert kinds["negative_drift"]["brand"] == "voltmobile"
    assert kinds["product_launch"]["start"] < "2026-11-21" < kinds["viral_complaint"]["start"]  # day 1, day 2


def test_viral_complaint_volume_explodes_then_stops_at_its_labelled_end(labels, posts, brands_of):
    viral = incident(labels, "viral_complaint")
    start, end = parse_timestamp(viral["start"]), parse_timestamp(viral["end"])
    (root,) = [p for p in posts if p["id"] == viral["root_post_id"]]
    assert parse_timestamp(root["created_at"]) == start
    assert has_any(root["text"], NEGATIVE_WORDS)
    before = brand_count(posts, brands_of, "skyway", start - 3600, start)
    during = brand_count(posts, brands_of, "skyway", start, start + 3600)
    assert during > 3 * before
    early = brand_count(posts, brands_of, "skyway", start, start + 600)
    at_peak = brand_count(posts, brands_of, "skyway", start + 1800, start + 2400)
    assert at_peak > 3 * early  # accelerating growth
    cascade = [p for p in posts if viral["root_post_id"] in (p.get("reshare_of"), p.get("reply_to"))]
    reshares = [p for p in cascade if p.get("reshare_of")]
    replies = [p for p in cascade if p.get("reply_to")]
    assert len(reshares) > 500 and len(replies) > 100
    assert all(start < parse_timestamp(p["created_at"]) <= end for p in cascade)
    assert len({p["author"]["id"] for p in reshares}) > 0.5 * len(reshares)


def test_viral_complaint_has_near_duplicate_independent_complaints(labels, posts):
    viral = incident(labels, "viral_complaint")
    start, end = parse_timestamp(viral["start"]), parse_timestamp(viral["end"])
    echoes = [p for p in posts if start < parse_timestamp(p["created_at"]) <= end
              and "reshare_of" not in p and "reply_to" not in p and "voucher" in p["text"].lower()]
    assert len(echoes) > 300
    assert len({p["author"]["id"] for p in echoes}) > 0.5 * len(echoes)
    assert len({p["text"] for p in echoes}) > 0.5 * len(echoes)  # near, not exact, duplicates
    negative = sum(has_any(p["text"], NEGATIVE_WORDS) for p in echoes) / len(echoes)
    assert negative > 0.9


def test_launch_is_a_big_mostly_positive_spike(labels, posts, brands_of):
    launch = incident(labels, "product_launch")
    start = parse_timestamp(launch["start"])
    before = brand_count(posts, brands_of, "brewbox", start - 3600, start)
    during = brand_count(posts, brands_of, "brewbox", start, start + 3600)
    assert during > 3 * before
    texts = [p["text"] for p, bs in zip(posts, brands_of, strict=True)
             if "brewbox" in bs and start <= parse_timestamp(p["created_at"]) < start + 3600
             and "reshare_of" not in p]
    negative = sum(has_any(t, NEGATIVE_WORDS) for t in texts) / len(texts)
    positive = sum(has_any(t, POSITIVE_WORDS) for t in texts) / len(texts)
    assert negative < 0.15 and positive > 0.3


def test_viral_complaint_is_mostly_negative_and_shifts_the_brand_negative(labels, posts, brands_of):
    viral = incident(labels, "viral_complaint")
    start, end = parse_timestamp(viral["start"]), parse_timestamp(viral["end"])
    own = [p["text"] for p in posts if start <= parse_timestamp(p["created_at"]) <= end
           and (p.get("reply_to") == viral["root_post_id"] or "voucher" in p["text"].lower())
           and "reshare_of" not in p]
    assert len(own) > 300
    assert sum(has_any(t, NEGATIVE_WORDS) for t in own) / len(own) > 0.8

    def negative_share(begin: float, end: float) -> float:
        texts = [p["text"] for p, bs in zip(posts, brands_of, strict=True)
                 if "skyway" in bs and begin <= parse_timestamp(p["created_at"]) < end and "reshare_of" not in p]
        return sum(has_any(t, NEGATIVE_WORDS) for t in texts) / len(texts)

    assert negative_share(start, start + 3600) > 1.5 * negative_share(start - 3600, start)


def test_drift_raises_the_negative_share_without_a_volume_spike(labels, posts, brands_of):
    drift = incident(labels, "negative_drift")
    peak = parse_timestamp(drift["peak"])

    def window(center: float) -> list[str]:
        return [p["text"] for p, bs in zip(posts, brands_of, strict=True)
                if bs == ["voltmobile"] and center - 3 * 3600 <= parse_timestamp(p["created_at"]) < center
                and "reshare_of" not in p]

    at_peak, day_before = window(peak), window(peak - 24 * 3600)
    share_peak = sum(has_any(t, NEGATIVE_WORDS) for t in at_peak) / len(at_peak)
    share_before = sum(has_any(t, NEGATIVE_WORDS) for t in day_before) / len(day_before)
    assert share_peak > share_before + 0.15
    assert 0.6 < len(at_peak) / len(day_before) < 1.3
    # no hour during the drift has more than twice the volume of the same hour the day before
    start, end = parse_timestamp(drift["start"]), parse_timestamp(drift["end"])
    for hour in range(int(start), int(end), 3600):
        now = brand_count(posts, brands_of, "voltmobile", hour, hour + 3600)
        then = brand_count(posts, brands_of, "voltmobile", hour - 86400, hour - 86400 + 3600)
        assert now < 2 * then + 10


def test_a_one_day_scenario_keeps_only_the_incidents_that_fit(tmp_path: Path):
    summary = write_scenario(Scenario(seed=1, days=1, scale=0.03), tmp_path)
    assert [i.kind for i in summary.incidents] == ["product_launch"]
    assert "product_launch" in (tmp_path / "README.txt").read_text()


def test_generate_posts_streams_the_same_posts_as_the_file(tmp_path: Path):
    scenario = Scenario(seed=5, days=0.25, scale=0.1)
    write_scenario(scenario, tmp_path)
    streamed = b"".join(p.to_json() + b"\n" for p in generate_posts(scenario))
    assert streamed == (tmp_path / "posts.jsonl").read_bytes()


# --------------------------------------------------------------------------- brands, validation, CLI


def test_unknown_brand_gets_a_generic_profile_the_matcher_finds(tmp_path: Path):
    from streams.config import Brand

    acme = profile_for("acme-foods")
    assert acme.terms == ("Acme Foods",) and acme.hashtags == ("#acmefoods",) and acme.handles == ("@AcmeFoods",)
    with pytest.raises(ValueError, match="brand name"):
        profile_for("Not A Slug")
    scenario = Scenario(seed=2, brands=(acme, PROFILES["skyway"]), days=0.25, scale=0.2)
    matcher = BrandMatcher([Brand("acme-foods", acme.terms, acme.hashtags, acme.handles)])
    texts = [p.text for p in generate_posts(scenario) if p.reshare_of is None]
    assert sum(bool(matcher.match(t)) for t in texts) > 0.3 * len(texts)


@pytest.mark.parametrize("kwargs", [{"days": 0}, {"scale": -1}, {"brands": ()}, {"start": 30.5}])
def test_scenario_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        Scenario(**kwargs)


def test_malformed_examples_are_rejected_with_their_reason():
    examples = malformed_examples()
    assert len(examples) >= 20
    assert {reason for _, reason in examples} == set(REASONS) - {"processing_error"}
    for raw, reason in examples:
        with pytest.raises(InvalidPost) as caught:
            parse_post(raw, NOW)
        assert caught.value.reason == reason, raw[:80]
    assert all(reason != "too_large" for _, reason in malformed_examples(include_too_large=False))


def test_cli_writes_the_scenario_and_rejects_bad_input(tmp_path: Path, capsys):
    out = tmp_path / "demo"
    assert cli_main(["generate", "--out", str(out), "--days", "0.2", "--scale", "0.05", "--seed", "9",
                     "--start", "2026-12-01T06:00:00Z", "--brands", "skyway,voltmobile"]) == 0
    first = orjson.loads((out / "posts.jsonl").read_bytes().splitlines()[0])
    assert first["created_at"].startswith("2026-12-01T06:0")
    assert json.loads((out / "labels.json").read_text())["scenario"]["brands"] == ["skyway", "voltmobile"]
    assert "wrote" in capsys.readouterr().out
    assert cli_main(["generate", "--out", str(out), "--start", "yesterday"]) == 2
    assert cli_main(["generate", "--out", str(out), "--brands", "Bad Brand"]) == 2
    assert "crisiswatch generate:" in capsys.readouterr().err
