"""Negativity scorers (detectors/negativity.py, detectors/lexicon.py) and their CLI commands."""

from __future__ import annotations

import csv
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from detectors import lexicon
from detectors.negativity import (
    LEGACY_PARAMS,
    LinearScorer,
    RulesScorer,
    VaderScorer,
    load_scorer,
    parse_label,
    vader_negativity,
)
from streams.cli import main as cli

ROOT = Path(__file__).resolve().parent.parent
AIRLINE_CSV = ROOT.parent / "shared" / "data" / "airline-sentiment" / "airline_dev.csv"
GENERAL_CSV = ROOT / "tests" / "data" / "general_posts.csv"

COMPLAINT = "@QuickShip terrible, awful service. Still waiting for my refund after 3 weeks."
PRAISE = "@QuickShip thank you, the parcel arrived early and the driver was lovely. Great service!"
# Complaints without one negative word, and praise full of negative-sounding words.
TRAIN = [
    (COMPLAINT, "negative"), (PRAISE, "positive"),
    ("@NovaBank on hold for an hour, why is nobody answering", "negative"),
    ("@NovaBank my card was charged twice, I want a refund", "negative"),
    ("@VoltMobile no signal again, third day in a row", "negative"),
    ("@VoltMobile worst customer service ever, useless", "negative"),
    ("@PizzaPlanet order never arrived, still waiting", "negative"),
    ("@PizzaPlanet the app crashed and took my money", "negative"),
    ("@StreamFlix love the new season, amazing", "positive"),
    ("@StreamFlix thanks for the quick fix, great job", "positive"),
    ("@NovaBank what time do you open on Saturday?", "neutral"),
    ("@VoltMobile is the new phone available in blue?", "neutral"),
    ("@PizzaPlanet do you deliver to the airport", "neutral"),
    ("@QuickShip happy with the delivery, fast as always", "positive"),
]
BAD_INPUT = [
    "",
    "   ",
    "😡😡😡",
    "😍🎉",
    "Le service client ne répond jamais, c'est inadmissible",
    "この商品は最悪です",
    "x" * 10_000,
    "terrible awful " * 5_000,  # 75,000 characters: cut to MAX_CHARS
    "a\x00b",  # the batch separator inside a post
    "http://example.com/no-space-at-the-end",
]


@pytest.fixture(scope="module")
def linear() -> LinearScorer:
    texts, labels = zip(*TRAIN, strict=True)
    return LinearScorer(n_bits=16).fit(list(texts) * 3, list(labels) * 3)


@pytest.fixture(scope="module")
def scorers(linear: LinearScorer) -> dict[str, object]:
    return {"vader": VaderScorer(), "rules": RulesScorer(), "linear": linear}


@pytest.mark.parametrize("name", ["vader", "rules", "linear"])
def test_clear_complaint_scores_above_clear_praise(scorers, name):
    scorer = scorers[name]
    assert scorer.score_one(COMPLAINT) > 0.5 > scorer.score_one(PRAISE)
    assert scorer.is_complaint(COMPLAINT)
    assert not scorer.is_complaint(PRAISE)


def test_rules_find_complaints_without_negative_words_that_vader_misses(scorers):
    quiet_complaints = [
        "@QuickShip tracking hasn't moved in 9 days",
        "@NovaBank been on hold for 45 minutes",
        "@FlyHigh where is my bag? Landed 6 hours ago",
    ]
    assert not scorers["vader"].complaints_many(quiet_complaints).any()
    assert scorers["rules"].complaints_many(quiet_complaints).all()


@pytest.mark.parametrize("name", ["vader", "rules", "linear"])
def test_batch_equals_one_by_one(scorers, name):
    scorer = scorers[name]
    texts = [text for text, _ in TRAIN] + BAD_INPUT
    batch = scorer.score_many(texts)
    singles = np.array([scorer.score_one(text) for text in texts])
    assert batch.shape == (len(texts),)
    np.testing.assert_allclose(batch, singles, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["vader", "rules", "linear"])
def test_bad_input_gives_finite_scores_in_range(scorers, name):
    scores = scorers[name].score_many([*BAD_INPUT, None])
    assert scores.shape == (len(BAD_INPUT) + 1,)
    assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))
    assert scorers[name].score_many([]).shape == (0,)


def test_emoji_and_long_posts_are_scored_by_their_content():
    rules = RulesScorer()
    angry, happy = rules.score_many(["😠😢", "😍🎉"])
    assert angry > 0.5 > happy
    assert rules.score_one("terrible awful " * 5_000) > 0.9
    assert rules.score_one("") < 0.5  # nothing said is not a complaint


def test_a_url_at_the_end_of_a_post_does_not_swallow_the_next_post():
    batch = lexicon.tokenize(["see http://t.co/abc", "hello world", "@user hi"])
    assert np.bincount(batch.word_doc, minlength=3).tolist() == [2, 2, 2]  # see/http, hello/world, user/hi


def test_threshold_sets_the_complaint_flag(linear):
    texts = [text for text, _ in TRAIN]
    scores = RulesScorer().score_many(texts)
    middle = float(np.median(scores))
    flags = RulesScorer(complaint_threshold=middle).complaints_many(texts)
    np.testing.assert_array_equal(flags, scores >= middle)
    assert RulesScorer(complaint_threshold=0.0).complaints_many(texts).all()
    assert load_scorer("default", complaint_threshold=0.9).complaint_threshold == 0.9
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="complaint_threshold"):
            RulesScorer(complaint_threshold=bad)


def test_vader_mapping_keeps_vaders_own_rule():
    compound = np.array([-1.0, -0.05, -0.0499, 0.0, 1.0])
    negativity = vader_negativity(compound)
    np.testing.assert_allclose(negativity[[0, 1, 4]], [1.0, 0.5, 0.0])
    assert negativity[2] < 0.5 and negativity[3] < 0.5
    assert np.all(np.diff(vader_negativity(np.linspace(-1, 1, 101))) < 0)


def test_linear_fast_scoring_equals_the_estimators_predict_proba(linear):
    texts = [text for text, _ in TRAIN] + BAD_INPUT
    negative = list(linear.estimator.classes_).index("negative")
    expected = linear.estimator.predict_proba(linear.featurize(texts))[:, negative]
    np.testing.assert_allclose(linear.score_many(texts), expected, rtol=0, atol=1e-5)  # float32 weights


def test_binary_labels_train_a_two_class_model():
    texts, labels = zip(*TRAIN, strict=True)
    binary = [1 if label == "negative" else 0 for label in labels]
    model = LinearScorer(n_bits=16).fit(list(texts) * 3, binary * 3)
    assert sorted(model.estimator.classes_) == ["negative", "other"]
    assert model.score_one(COMPLAINT) > 0.5 > model.score_one(PRAISE)


def test_learn_one_moves_the_linear_model_and_is_refused_by_fixed_scorers(linear):
    model = LinearScorer(n_bits=16)
    text = "@FlyHigh my luggage went to Denver and I went to Boston"
    for _ in range(20):
        model.learn_one(text, "negative")
        model.learn_one(PRAISE, "positive")
    assert model.score_one(text) > 0.5 > model.score_one(PRAISE)
    for fixed in (RulesScorer(), VaderScorer()):
        with pytest.raises(NotImplementedError):
            fixed.learn_one(text, "negative")


def test_parse_label():
    assert [parse_label(v) for v in ("Negative", "1", 1, True, "complaint")] == ["negative"] * 5
    assert [parse_label(v) for v in ("neutral", " positive ", 0, "0", False)] == [
        "neutral", "positive", "other", "other", "other"]
    for bad in ("-1", "maybe", 2, float("nan")):
        with pytest.raises(ValueError):
            parse_label(bad)


def test_linear_model_round_trips_through_load_scorer(linear, tmp_path):
    path = tmp_path / "model.joblib"
    linear.save(path)
    loaded = load_scorer(str(path))
    assert isinstance(loaded, LinearScorer)
    texts = [text for text, _ in TRAIN]
    np.testing.assert_array_equal(loaded.score_many(texts), linear.score_many(texts))
    assert load_scorer(str(path), complaint_threshold=0.8).complaint_threshold == 0.8
    assert isinstance(load_scorer("vader"), VaderScorer)
    assert isinstance(load_scorer("default"), RulesScorer)
    with pytest.raises(FileNotFoundError):
        load_scorer(str(tmp_path / "missing.joblib"))
    joblib.dump({"something": "else"}, tmp_path / "other.joblib")
    with pytest.raises(ValueError, match="not a crisiswatch negativity model"):
        load_scorer(str(tmp_path / "other.joblib"))
    with pytest.raises(RuntimeError, match="not trained"):
        LinearScorer().score_many(["x"])


def test_hyper_parameters_are_validated():
    with pytest.raises(ValueError, match="n_bits"):
        LinearScorer(n_bits=40)
    with pytest.raises(ValueError, match="char_ngrams"):
        LinearScorer(char_ngrams=(5, 3))
    with pytest.raises(ValueError, match="both negative"):
        LinearScorer().fit(["a", "b"], ["positive", "neutral"])


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_cli_trains_a_model_and_scores_a_csv(tmp_path, capsys):
    labelled = tmp_path / "labelled.csv"
    _write_csv(labelled, ["text", "label"],
               [[text, 1 if label == "negative" else 0] for text, label in TRAIN * 3])
    model = tmp_path / "model.joblib"
    assert cli(["train-negativity", str(labelled), "-o", str(model)]) == 0
    assert model.is_file()

    posts = tmp_path / "posts.csv"
    _write_csv(posts, ["id", "text"], [[1, COMPLAINT], [2, PRAISE], [3, ""], [4, "😡"]])
    for spec in (str(model), "vader", "default"):
        out = tmp_path / "out.csv"
        assert cli(["score-text", str(posts), "--model", spec, "--out", str(out)]) == 0
        with open(out, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert [row["id"] for row in rows] == ["1", "2", "3", "4"]
        assert list(rows[0]) == ["id", "text", "negativity", "complaint"]
        assert rows[0]["complaint"] == "1" and rows[1]["complaint"] == "0"
        assert float(rows[0]["negativity"]) > float(rows[1]["negativity"])
        assert all(0.0 <= float(row["negativity"]) <= 1.0 for row in rows)


def test_cli_accepts_the_airline_label_column_and_reports_bad_files(tmp_path, capsys):
    airline_like = tmp_path / "airline.csv"
    _write_csv(airline_like, ["tweet_id", "airline_sentiment", "text"],
               [[i, label, text] for i, (text, label) in enumerate(TRAIN * 3)])
    assert cli(["train-negativity", str(airline_like), "-o", str(tmp_path / "m.joblib")]) == 0
    model = load_scorer(str(tmp_path / "m.joblib"))
    assert sorted(model.estimator.classes_) == ["negative", "neutral", "positive"]

    bad_label = tmp_path / "bad.csv"
    _write_csv(bad_label, ["text", "label"], [["fine", "1"], ["meh", "sort of"]])
    assert cli(["train-negativity", str(bad_label), "-o", str(tmp_path / "x.joblib")]) == 2
    assert "line 3" in capsys.readouterr().err

    no_text = tmp_path / "no_text.csv"
    _write_csv(no_text, ["body"], [["hello"]])
    assert cli(["score-text", str(no_text), "--out", str(tmp_path / "o.csv")]) == 2
    assert "no 'text' column" in capsys.readouterr().err


def _labelled(path: Path, column: str) -> tuple[list[str], np.ndarray, list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    labels = [row[column] for row in rows]
    return [row["text"] for row in rows], np.array([label == "negative" for label in labels]), labels


def test_general_posts_fixture_rules_no_worse_than_vader():
    texts, truth, labels = _labelled(GENERAL_CSV, "label")
    assert 150 <= len(texts) <= 300 and 0.4 <= truth.mean() <= 0.6
    assert set(labels) == {"negative", "neutral", "positive"}
    vader_f1 = f1_score(truth, VaderScorer().complaints_many(texts))
    rules_f1 = f1_score(truth, RulesScorer().complaints_many(texts))
    assert rules_f1 >= vader_f1


@pytest.mark.skipif(not AIRLINE_CSV.is_file(), reason=f"airline data not found at {AIRLINE_CSV}")
def test_airline_cross_validated_f1():
    texts, truth, labels = _labelled(AIRLINE_CSV, "airline_sentiment")
    flagged = np.zeros(len(texts), dtype=bool)
    for train, test in StratifiedKFold(3, shuffle=True, random_state=0).split(texts, truth):
        model = LinearScorer(epochs=15).fit([texts[i] for i in train], [labels[i] for i in train])
        flagged[test] = model.complaints_many([texts[i] for i in test])
    # 0.897 here; 0.891 with the parameters of models saved before nb_floor, word_weight and handles
    # (LEGACY_PARAMS). 5-fold, 30 epochs: 0.899 (scripts/eval_negativity.py; the reference 0.882).
    assert f1_score(truth, flagged) > 0.894
    rules_f1 = f1_score(truth, RulesScorer().complaints_many(texts))
    assert rules_f1 > 0.75  # VADER: 0.583 on this file


def test_nb_scale_weighs_telling_ngrams_above_neutral_ones():
    # "refund" only in complaints, "today" in both: the first one's columns are scaled up, the
    # second's less, so the penalty shrinks n-grams that tell nothing hardest.
    texts = ["I want a refund today", "refund me now", "nice weather today", "see you today"] * 5
    labels = ["negative", "negative", "positive", "neutral"] * 5
    model = LinearScorer(n_bits=16, nb_scale=True).fit(texts, labels)
    assert model.feature_scale is not None and model.feature_scale.shape == (1 << 16,)
    batch = lexicon.tokenize(["refund", "today"], model.char_ngrams)
    docs, columns = lexicon.hash_columns(batch, model.n_bits)
    refund = model.feature_scale[columns[docs == 0]].max()
    today = model.feature_scale[columns[docs == 1]].min()
    assert refund > 1.0 and refund > 3 * today
    assert LinearScorer(n_bits=16).fit(texts, labels).feature_scale is not None, "on by default"
    assert LinearScorer(n_bits=16, nb_scale=False).fit(texts, labels).feature_scale is None
    # The scale is folded into the weights: fast scoring is still the estimator's probability.
    negative = list(model.estimator.classes_).index("negative")
    expected = model.estimator.predict_proba(model.featurize(texts))[:, negative]
    np.testing.assert_allclose(model.score_many(texts), expected, rtol=0, atol=1e-5)


def test_models_saved_before_nb_scale_still_load_and_score_unscaled(tmp_path):
    texts, labels = zip(*TRAIN, strict=True)
    old = LinearScorer(n_bits=16, **LEGACY_PARAMS).fit(list(texts) * 3, list(labels) * 3)
    params = old.params()
    for name in LEGACY_PARAMS:
        del params[name]
    path = tmp_path / "old.joblib"
    joblib.dump({"format": "crisiswatch-negativity-linear/1", "params": params, "estimator": old.estimator}, path)
    loaded = load_scorer(str(path))
    assert loaded.feature_scale is None
    np.testing.assert_array_equal(loaded.score_many(list(texts)), old.score_many(list(texts)))


def test_tokenize_keeps_the_mentioned_handles_apart_from_the_words():
    batch = lexicon.tokenize(["@United why, @user x", "no mention", "a@user.com https://x.co/@foo and @JetBlue😡"],
                             mentions=True)
    assert batch.mention_hash.tolist() == [lexicon.hash_word(w) for w in ("united", "user", "user", "jetblue")]
    assert batch.mention_doc.tolist() == [0, 0, 2, 2]
    # The words, and so the lexicon features and the rules, still see "@user" for every handle.
    plain = lexicon.tokenize(["@user why, @user x", "no mention", "a@user.com https://x.co/@foo and @user 😡"],
                             mentions=True)
    np.testing.assert_array_equal(batch.word_hash, plain.word_hash)
    np.testing.assert_array_equal(lexicon.lexicon_features(batch), lexicon.lexicon_features(plain))
    assert len(lexicon.tokenize(["nothing to see"], mentions=True).mention_hash) == 0


def test_the_mentioned_brand_is_a_feature():
    # Same words, different brand: only the handle can tell these apart (its characters are not
    # n-grams: every handle reads "@user"). Airline tweets differ that way: most tweets to some
    # airlines are complaints, fewer to others; 5-fold CV F1 0.8989 with handles, 0.8975 without
    # (scripts/eval_negativity.py, word_weight 2).
    texts = ["@SkywayAir my flight today", "@SunnyJet my flight today"] * 10
    labels = ["negative", "positive"] * 10
    scores = LinearScorer(n_bits=16).fit(texts, labels).score_many(texts[:2])
    assert scores[0] > 0.7 and scores[1] < 0.3
    blind = LinearScorer(n_bits=16, mention_features=False).fit(texts, labels).score_many(texts[:2])
    assert abs(blind[0] - blind[1]) < 1e-9


def test_fast_scoring_is_the_estimators_probability_with_words_weighted_and_handles():
    texts, labels = zip(*TRAIN, strict=True)
    for params in ({}, {"word_weight": 0.5, "nb_scale": False}, LEGACY_PARAMS):
        model = LinearScorer(n_bits=16, **params).fit(list(texts) * 3, list(labels) * 3)
        negative = list(model.estimator.classes_).index("negative")
        expected = model.estimator.predict_proba(model.featurize(list(texts)))[:, negative]
        np.testing.assert_allclose(model.score_many(list(texts)), expected, rtol=0, atol=1e-5)


def test_words_weigh_word_weight_times_a_character_ngram():
    model = LinearScorer(n_bits=16, word_weight=2.0, mention_features=False)
    batch = lexicon.tokenize(["refund"], model.char_ngrams)
    features = model.featurize(["refund"])
    n_items = len(batch.word_hash) + len(batch.char_hash)
    word_column = lexicon.hash_columns(batch, 16)[1][0]
    char_columns = lexicon.hash_columns(batch, 16)[1][1:]
    if word_column not in char_columns:  # no hash collision
        assert features[0, word_column] == pytest.approx(2.0 / np.sqrt(n_items))
    for bad in ({"word_weight": 0.0}, {"nb_floor": -0.1}):
        with pytest.raises(ValueError):
            LinearScorer(**bad)


def test_a_scaled_model_round_trips_through_save_and_load(tmp_path):
    texts, labels = zip(*TRAIN, strict=True)
    model = LinearScorer(n_bits=16, nb_scale=True).fit(list(texts) * 3, list(labels) * 3)
    path = tmp_path / "scaled.joblib"
    model.save(path)
    loaded = load_scorer(str(path))
    assert loaded.nb_scale and loaded.feature_scale is not None
    np.testing.assert_array_equal(loaded.score_many(list(texts)), model.score_many(list(texts)))


def test_cli_trains_a_scaled_model_unless_told_not_to(tmp_path):
    labelled = tmp_path / "labelled.csv"
    _write_csv(labelled, ["text", "label"], [[text, label] for text, label in TRAIN * 3])
    for flags, scaled in (([], True), (["--no-nb-scale"], False), (["--nb-scale"], True)):
        model = tmp_path / f"model{len(flags)}.joblib"
        assert cli(["train-negativity", str(labelled), "-o", str(model), *flags]) == 0
        assert (load_scorer(str(model)).feature_scale is not None) == scaled


def test_eval_script_compares_with_the_reference_in_the_same_folds(tmp_path, capsys):
    # The developer tool behind the README's table: per-seed F1 of ours and of the reference, the gap,
    # threshold-free ranking and the flag-everything F1 of each general set.
    import importlib.util

    spec = importlib.util.spec_from_file_location("eval_negativity", ROOT / "scripts" / "eval_negativity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    airline = tmp_path / "airline.csv"
    with airline.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "airline_sentiment"])
        writer.writerows((text, label) for text, label in TRAIN * 4)
    assert module.main(["--airline", str(airline), "--folds", "2", "--seeds", "2", "--reference",
                        "--general-csv", str(tmp_path / "absent.csv")]) == 0
    out = capsys.readouterr().out
    assert out.count("reference, same folds, seed") == 2
    gap = next(line for line in out.splitlines() if "linear minus reference" in line)
    assert len(gap.split("per seed")[1].split("(mean")[0].split()) == 2
    assert "ROC AUC" in out and "flagging every post: F1" in out
