"""How negative is a post? A score in [0, 1] per post, and a complaint flag at a threshold.

Three scorers share one small interface (:class:`NegativityScorer`):

* :class:`VaderScorer` runs ``vaderSentiment`` itself, post by post (the reference;
  slow: about 13,000 posts/s).
* :class:`RulesScorer` (``default``) is VADER's lexicon plus *complaint cues*
  ("still waiting", "on hold", "refund", "why is...?"), computed for a whole batch
  at once with numpy (:mod:`detectors.lexicon`). Nothing is learnt: it needs no data.
* :class:`LinearScorer` is a linear model that users train on their own labelled
  posts (``crisiswatch train-negativity``): hashed word, word-bigram and character
  n-grams (scaled NBSVM-style) and @mentioned handles plus the lexicon features above,
  into scikit-learn's ``SGDClassifier(loss="log_loss")``. It learns online too (``learn_one``).

All scorers score batches (``score_many``), which is what the stream uses; the
single-post methods are the batch ones on a batch of one.

Why ``default`` is the rules scorer. A fresh clone must work without ``../shared``
and the project ships no third-party data, so the default cannot be a model trained
on the airline tweets (CC BY-NC-SA). Of what we may ship, measured with
``scripts/eval_negativity.py`` (F1 of the negative class at 0.5; VADER and the rules
learn nothing, so on the airline file this is plain evaluation, not cross-validation):

============================================  =====  =====  =========================
F1                                            VADER  rules  linear (trained on airline)
============================================  =====  =====  =========================
airline dev, 10,247 tweets                    0.583  0.789  0.899 (5-fold CV)
our self-written general posts, 199           0.532  0.702  0.778
CrowdFlower non-airline tweets, 21,056        0.361  0.404  0.390
============================================  =====  =====  =========================

The rules find far more complaints than VADER (complaints often have no negative word:
"tracking hasn't moved in 9 days"), are no worse on general posts, and are about 5x
faster than VADER (``bench/bench_negativity.py``). Without a complaint cue they *are*
VADER's rule (compound <= -0.05), so they fail where VADER fails: irony, and topics
whose negativity is not in the lexicon. A model trained on our ~200 self-written posts
would learn their wording and is not used. Users with labelled posts of their own
should train a :class:`LinearScorer`: on the airline file it is much better than either.
It is fitted to its training topic: trained on airline tweets it flags non-airline
tweets less well than the rules (last row; see :class:`LinearScorer`).

Scorers are not streaming detectors with table state (:mod:`detectors.base`): a
trained model is a file, loaded once by :func:`load_scorer`; scoring never changes it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import SGDClassifier

from detectors import lexicon
from detectors.base import check_range

DEFAULT_COMPLAINT_THRESHOLD = 0.5
#: VADER's own convention: a compound score at or below this is negative.
VADER_NEGATIVE_COMPOUND = -0.05

NEGATIVE = "negative"
#: Spellings accepted for the complaint class and for "not a complaint" in a labelled file.
NEGATIVE_LABELS = frozenset({"negative", "neg", "complaint", "1", "1.0", "true", "yes"})
OTHER_LABELS = {
    "neutral": "neutral",
    "positive": "positive",
    "pos": "positive",
    "0": "other",
    "0.0": "other",
    "false": "other",
    "no": "other",
    "other": "other",
    "not_complaint": "other",
}
MODEL_FORMAT = "crisiswatch-negativity-linear/3"
#: Formats :meth:`LinearScorer.load` reads: /1 models have no feature scale, /1 and /2 models
#: were trained before ``nb_floor``, ``word_weight`` and ``mention_features`` (see ``LEGACY_PARAMS``).
READABLE_MODEL_FORMATS = frozenset({"crisiswatch-negativity-linear/1", "crisiswatch-negativity-linear/2",
                                    MODEL_FORMAT})
#: What a saved model that does not name these parameters was trained with.
LEGACY_PARAMS = {"nb_scale": False, "nb_floor": 0.0, "word_weight": 1.0, "mention_features": False}


class NegativityScorer(ABC):
    """Scores posts for negativity in [0, 1]; flags complaints at ``complaint_threshold``."""

    def __init__(self, complaint_threshold: float = DEFAULT_COMPLAINT_THRESHOLD) -> None:
        check_range("complaint_threshold", complaint_threshold, 0.0, 1.0)
        self.complaint_threshold = float(complaint_threshold)

    def score_many(self, texts: Sequence[str]) -> np.ndarray:
        """Negativity of each post, a float64 array in [0, 1] (``None`` counts as an empty post).

        Long batches are scored in chunks of about ``lexicon.MAX_BATCH_CHARS`` characters, so
        memory stays bounded whatever the batch.
        """
        chunks = [self._score_chunk(texts[start:stop]) for start, stop in _chunk_bounds(texts)]
        return np.concatenate(chunks) if chunks else np.zeros(0)

    @abstractmethod
    def _score_chunk(self, texts: Sequence[str]) -> np.ndarray:
        """Scores of a batch small enough to be handled at once."""

    def score_one(self, text: str) -> float:
        """Negativity of one post in [0, 1]."""
        return float(self.score_many([text])[0])

    def complaints_many(self, texts: Sequence[str]) -> np.ndarray:
        """A boolean array: is each post a complaint (negativity >= ``complaint_threshold``)?"""
        return self.score_many(texts) >= self.complaint_threshold

    def is_complaint(self, text: str) -> bool:
        return self.score_one(text) >= self.complaint_threshold

    def learn_one(self, text: str, label: object) -> None:
        """Learn from one labelled post. Only trainable scorers can; the others raise."""
        raise NotImplementedError(
            f"{type(self).__name__} is not trained: it uses a fixed lexicon. "
            "Train a LinearScorer (crisiswatch train-negativity) to learn from labelled posts."
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(complaint_threshold={self.complaint_threshold})"


class VaderScorer(NegativityScorer):
    """``vaderSentiment``'s compound score, mapped to negativity.

    The map is piecewise linear and monotone, chosen so that VADER's own rule
    (compound <= -0.05 is negative) is exactly negativity >= 0.5:
    compound -1 -> 1, -0.05 -> 0.5, 0 -> 0.476, +1 -> 0.
    """

    def __init__(self, complaint_threshold: float = DEFAULT_COMPLAINT_THRESHOLD) -> None:
        super().__init__(complaint_threshold)
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def _score_chunk(self, texts: Sequence[str]) -> np.ndarray:
        polarity = self._analyzer.polarity_scores
        compound = np.array([polarity(_clean(text))["compound"] for text in texts], dtype=np.float64)
        return vader_negativity(compound)


def vader_negativity(compound: np.ndarray) -> np.ndarray:
    """Map VADER compound scores in [-1, 1] to negativity in [0, 1] (see :class:`VaderScorer`)."""
    compound = np.clip(np.asarray(compound, dtype=np.float64), -1.0, 1.0)
    cut = VADER_NEGATIVE_COMPOUND
    below = 0.5 + 0.5 * (cut - compound) / (cut + 1.0)
    above = 0.5 * (1.0 - compound) / (1.0 - cut)
    return np.where(compound <= cut, below, above)


class RulesScorer(NegativityScorer):
    """VADER's lexicon (negation-aware) plus complaint cues, with fixed weights; see :mod:`detectors.lexicon`."""

    def _score_chunk(self, texts: Sequence[str]) -> np.ndarray:
        batch = lexicon.tokenize(texts, char_ngrams=(1, 0))  # words only: no character n-grams, no handles
        return lexicon.rule_scores(lexicon.lexicon_features(batch))


class LinearScorer(NegativityScorer):
    """A linear classifier on hashed n-grams and lexicon features, trained on labelled posts.

    Features, per post: every word, adjacent word pair and character 3..5-gram,
    hashed into ``2**n_bits`` columns (no vocabulary to store or grow), counts
    divided by the square root of the number of n-grams in the post; then the
    lexicon features of :func:`detectors.lexicon.lexicon_features`, which carry
    what the lexicon knows about words the training posts never used.

    Labels: ``negative`` (the complaint class) against anything else. When the
    labels say ``neutral`` and ``positive`` the model keeps the three classes apart
    (it helps a little) and the score is the probability of ``negative``.

    The estimator is ``SGDClassifier(loss="log_loss", average=True)`` rather than
    ``LogisticRegression``: as accurate here (5-fold CV on the airline file), faster
    to fit, and it has ``partial_fit``, hence :meth:`learn_one`.

    Three choices beyond that, each measured by 5-fold CV on the airline file
    (``scripts/eval_negativity.py``, F1 of the negative class, fold seeds 0/1/2;
    without them 0.8925 0.8895 0.8925, mean 0.8915):

    * ``nb_scale``: each hashed n-gram column is scaled by how strongly it separates
      complaints from other posts in the training set: the absolute naive-Bayes
      log-count ratio ``|log(p_neg / p_other)|`` of its presence, add-one smoothed
      (the NBSVM of Wang & Manning, 2012, "Baselines and bigrams"), but at least
      ``nb_floor``. The L2 penalty then shrinks uninformative n-grams harder than
      telling ones; the floor keeps n-grams seen about as often in both classes from
      being scaled to nothing. The scale is folded into the weights when scoring, so
      scoring costs the same; lexicon features are not scaled. Alone: 0.8952 0.8959
      0.8963 without a floor, 0.8960 0.8966 0.8969 with 0.3 (0.2 to 0.5 alike).
    * ``word_weight``: words, word pairs and handles count this many times a character
      n-gram. An airline tweet has about 16 character n-grams per word, so with equal
      values the words' say is small next to the characters' (the reference gives each
      block its own unit norm).
    * ``mention_features``: the @mentioned handles are features of their own ("@United",
      "@JetBlue"), apart from the words, where every handle reads "@user". The brand a post
      addresses carries a prior: in the airline file 77% of the tweets to US Airways are
      complaints, 36% of those to Virgin America. Handles the training posts never
      mention weigh nothing.

    Together (the defaults): 0.8996 0.8990 0.8980, mean 0.8989, and 0.8987 0.8987 on fold
    seeds 3 and 4 (nb_scale alone: 0.8963 0.8962); with word_weight 1.5 or 3, means
    0.8981 and 0.8982; without handles 0.8979 0.8971 0.8975 (mean 0.8975). (These from
    the estimator in float64; ``scripts/eval_negativity.py``, which scores as the stream
    does with float32 weights, prints 0.900 0.899 0.898, mean 0.8988.) The reference
    TF-IDF + logistic regression of the airline README scores 0.8821 in the same folds. The cost is
    carry-over to other topics: on 21,056 non-airline CrowdFlower tweets the
    airline-trained model's F1 falls from 0.420 to 0.390 (ROC AUC 0.564 to 0.547; VADER
    0.361, rules 0.404), while on our 199 general posts it rises from 0.772 to 0.778. Train
    on posts like those the model will score. Scoring is about a tenth slower (handles,
    word weights): 61,000-62,000 posts/s against 68,500 on the same machine. Models saved
    before these parameters existed load with them off (``LEGACY_PARAMS``).
    """

    def __init__(self, *, n_bits: int = 20, char_ngrams: tuple[int, int] = (3, 5), alpha: float = 2e-5,
                 epochs: int = 30, complaint_threshold: float = DEFAULT_COMPLAINT_THRESHOLD,
                 random_state: int = 0, nb_scale: bool = True, nb_floor: float = 0.3,
                 word_weight: float = 2.0, mention_features: bool = True) -> None:
        super().__init__(complaint_threshold)
        check_range("n_bits", n_bits, 8, 26)
        check_range("alpha", alpha, 0.0, low_open=True)
        check_range("epochs", epochs, 1)
        check_range("nb_floor", nb_floor, 0.0)
        check_range("word_weight", word_weight, 0.0, low_open=True)
        low, high = char_ngrams
        if high and not 1 <= low <= high <= 8:
            raise ValueError(f"char_ngrams must be (low, high) with 1 <= low <= high <= 8, or (1, 0), "
                             f"got {char_ngrams!r}")
        self.n_bits = int(n_bits)
        self.char_ngrams = (int(low), int(high))
        self.alpha = float(alpha)
        self.epochs = int(epochs)
        self.random_state = random_state
        self.nb_scale = bool(nb_scale)
        self.nb_floor = float(nb_floor)
        self.word_weight = float(word_weight)
        self.mention_features = bool(mention_features)
        self.estimator: SGDClassifier | None = None
        # Per hashed column, the factor the features were scaled by in training (None: unscaled).
        self.feature_scale: np.ndarray | None = None
        self._weights: list[np.ndarray] | None = None  # one contiguous float32 row per output: fast gathers

    # -- features ---------------------------------------------------------------------------------

    @property
    def n_features(self) -> int:
        return (1 << self.n_bits) + len(lexicon.LEXICON_FEATURES)

    def featurize(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The feature matrix the estimator is trained on (scoring computes the same product faster)."""
        blocks = [self._featurize_chunk(texts[start:stop]) for start, stop in _chunk_bounds(texts)]
        return self._scaled(sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, self.n_features)))

    def _featurize_chunk(self, texts: Sequence[str]) -> sp.csr_matrix:
        batch = lexicon.tokenize(texts, self.char_ngrams, self.mention_features)
        docs, columns, values = self._hashed(batch)
        dense = lexicon.lexicon_features(batch)
        n_hashed = 1 << self.n_bits
        lex_docs = np.repeat(np.arange(batch.n_docs), dense.shape[1])
        lex_columns = np.tile(np.arange(n_hashed, self.n_features), batch.n_docs)
        matrix = sp.coo_matrix(
            (np.concatenate((values, dense.ravel())),
             (np.concatenate((docs, lex_docs)), np.concatenate((columns, lex_columns)))),
            shape=(batch.n_docs, self.n_features),
        )
        return matrix.tocsr()  # sums repeated n-grams into counts

    def _hashed(self, batch: lexicon.TokenizedBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        docs, columns = lexicon.hash_columns(batch, self.n_bits, self.mention_features)
        per_doc = np.bincount(docs, minlength=batch.n_docs)
        values = 1.0 / np.sqrt(np.maximum(per_doc, 1))[docs]
        values[:self._n_word_items(batch)] *= self.word_weight
        return docs, columns, values

    def _n_word_items(self, batch: lexicon.TokenizedBatch) -> int:
        """How many of :func:`lexicon.hash_columns`' entries are words, bigrams and handles (they come first)."""
        mentions = len(batch.mention_hash) if self.mention_features else 0
        return len(batch.word_hash) + len(batch.bigram_hash) + mentions

    # -- training ---------------------------------------------------------------------------------

    def fit(self, texts: Sequence[str], labels: Iterable[object]) -> LinearScorer:
        """Train from scratch on labelled posts (labels as accepted by :func:`parse_label`)."""
        classes = np.array([parse_label(label) for label in labels])
        if len(classes) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(classes)} labels")
        if NEGATIVE not in classes or len(set(classes)) < 2:
            raise ValueError("training needs both negative (complaint) posts and other posts")
        classes = _consistent_classes(classes)
        self.estimator = SGDClassifier(
            loss="log_loss", alpha=self.alpha, average=True, max_iter=self.epochs, tol=None,
            random_state=self.random_state,
        )
        self.feature_scale = None
        features = self.featurize(texts)
        if self.nb_scale:
            ratio = _log_count_ratio(features[:, :1 << self.n_bits], classes == NEGATIVE)
            self.feature_scale = np.maximum(ratio, self.nb_floor)
            features = self._scaled(features)
        self.estimator.fit(features, classes)
        self._weights = None
        return self

    def _scaled(self, features: sp.csr_matrix) -> sp.csr_matrix:
        """``features`` with the hashed columns multiplied by :attr:`feature_scale`."""
        if self.feature_scale is None:
            return features
        factors = np.ones(self.n_features)
        factors[:1 << self.n_bits] = self.feature_scale
        scaled = features.tocsr(copy=True)
        scaled.data *= factors[scaled.indices]
        return scaled

    def learn_one(self, text: str, label: object) -> None:
        """One online step (``partial_fit``) on one labelled post, e.g. an analyst's correction."""
        target = parse_label(label)
        if self.estimator is None:
            self.estimator = SGDClassifier(loss="log_loss", alpha=self.alpha, average=True,
                                           random_state=self.random_state)
            known = [NEGATIVE, "other"] if target in (NEGATIVE, "other") else [NEGATIVE, "neutral", "positive"]
            self.estimator.partial_fit(self.featurize([text]), [target], classes=known)
        else:
            known = list(self.estimator.classes_)
            if target not in known:
                target = "other" if "other" in known else target
            if target not in known:
                raise ValueError(f"label {label!r} is ambiguous for a model trained on classes {known}")
            self.estimator.partial_fit(self.featurize([text]), [target])
        self._weights = None

    # -- scoring ----------------------------------------------------------------------------------

    def _score_chunk(self, texts: Sequence[str]) -> np.ndarray:
        """P(negative) per post: the estimator's ``predict_proba``, computed without building a matrix."""
        if self.estimator is None:
            raise RuntimeError("LinearScorer is not trained: call fit() or load a model with load_scorer()")
        if self._weights is None:
            # float32 halves the memory that random look-ups walk through; sums stay in float64.
            # The training scale of each column is folded into its weight: same cost as unscaled.
            factors = np.ones(self.n_features)
            if self.feature_scale is not None:
                factors[:1 << self.n_bits] = self.feature_scale
            self._weights = [(row * factors).astype(np.float32) for row in self.estimator.coef_]
        batch = lexicon.tokenize(texts, self.char_ngrams, self.mention_features)
        n_docs = batch.n_docs
        docs, columns = lexicon.hash_columns(batch, self.n_bits, self.mention_features)
        # The n-grams of a post have one value, times word_weight for words (see _hashed): sum the
        # weights, then scale.
        scale = 1.0 / np.sqrt(np.maximum(np.bincount(docs, minlength=n_docs), 1))
        dense = lexicon.lexicon_features(batch)
        n_hashed = 1 << self.n_bits
        n_words = self._n_word_items(batch)
        per_doc = _PerDocSums(docs, n_docs)
        decisions = []
        for weights in self._weights:
            gathered = weights[columns]
            if self.word_weight != 1.0:
                gathered[:n_words] *= np.float32(self.word_weight)
            decisions.append(scale * per_doc(gathered) + dense @ weights[n_hashed:])
        decision = np.column_stack(decisions) + self.estimator.intercept_
        probability = 1.0 / (1.0 + np.exp(-np.clip(decision, -50.0, 50.0)))
        classes = list(self.estimator.classes_)
        if len(classes) == 2:  # one decision column, for classes_[1]
            positive = probability[:, 0]
            return positive if classes[1] == NEGATIVE else 1.0 - positive
        # One-vs-rest, normalised as scikit-learn's predict_proba does.
        return probability[:, classes.index(NEGATIVE)] / probability.sum(axis=1)

    # -- persistence ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the model with joblib (a pickle: load only files you trust)."""
        if self.estimator is None:
            raise RuntimeError("nothing to save: the model is not trained")
        joblib.dump({"format": MODEL_FORMAT, "params": self.params(), "estimator": self.estimator,
                     "feature_scale": self.feature_scale}, path, compress=3)

    def params(self) -> dict[str, Any]:
        return {
            "n_bits": self.n_bits, "char_ngrams": self.char_ngrams, "alpha": self.alpha,
            "epochs": self.epochs, "complaint_threshold": self.complaint_threshold,
            "random_state": self.random_state, "nb_scale": self.nb_scale, "nb_floor": self.nb_floor,
            "word_weight": self.word_weight, "mention_features": self.mention_features,
        }

    @classmethod
    def load(cls, path: str | Path, complaint_threshold: float | None = None) -> LinearScorer:
        saved = joblib.load(path)
        if not isinstance(saved, dict) or saved.get("format") not in READABLE_MODEL_FORMATS:
            raise ValueError(f"{path} is not a crisiswatch negativity model ({MODEL_FORMAT})")
        params = {**LEGACY_PARAMS, **saved["params"]}
        if complaint_threshold is not None:
            params["complaint_threshold"] = complaint_threshold
        scorer = cls(**params)
        scorer.estimator = saved["estimator"]
        scale = saved.get("feature_scale")  # absent from /1 models, which were trained unscaled
        scorer.feature_scale = None if scale is None else np.asarray(scale, dtype=np.float64)
        return scorer


def load_scorer(spec: str, complaint_threshold: float | None = None) -> NegativityScorer:
    """The scorer the config's ``negativity.model`` names: ``default``, ``vader`` or a ``.joblib`` path.

    ``complaint_threshold`` overrides the scorer's own (a saved model keeps the one it was trained with).
    """
    threshold = {} if complaint_threshold is None else {"complaint_threshold": complaint_threshold}
    name = spec.strip()
    if name.lower() in ("default", "rules"):
        return RulesScorer(**threshold)
    if name.lower() == "vader":
        return VaderScorer(**threshold)
    path = Path(name).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"negativity model {spec!r}: expected 'default', 'vader' or a .joblib file")
    return LinearScorer.load(path, complaint_threshold)


def parse_label(label: object) -> str:
    """A label of a labelled post, as one of ``negative``, ``neutral``, ``positive`` or ``other``.

    Accepts ``negative/neutral/positive`` (any case), ``1/0``, ``true/false``,
    ``complaint/not_complaint``; 1 and true mean *complaint*.
    """
    if isinstance(label, bool):
        return NEGATIVE if label else "other"
    if isinstance(label, (int, float)) and not isinstance(label, bool):
        if math.isfinite(label) and label in (0, 1):
            return NEGATIVE if label == 1 else "other"
        raise ValueError(f"unknown label {label!r}: use 1 (complaint) or 0")
    text = str(label).strip().lower()
    if text in NEGATIVE_LABELS:
        return NEGATIVE
    if text in OTHER_LABELS:
        return OTHER_LABELS[text]
    raise ValueError(f"unknown label {label!r}: use negative/neutral/positive, 1/0 or true/false")


def _log_count_ratio(hashed: sp.csr_matrix, negative: np.ndarray) -> np.ndarray:
    """Per column, ``|log(p / q)|``: p and q its add-one smoothed presence rates in complaints and in other posts."""
    present = hashed.copy()
    present.data = np.ones_like(present.data)
    in_negative = 1.0 + np.asarray(present[negative].sum(axis=0)).ravel()
    in_other = 1.0 + np.asarray(present[~negative].sum(axis=0)).ravel()
    return np.abs(np.log(in_negative / in_negative.sum()) - np.log(in_other / in_other.sum()))


def _consistent_classes(classes: np.ndarray) -> np.ndarray:
    """Keep neutral and positive apart only when no label is a bare 'not negative'."""
    if "other" in classes:
        return np.where(classes == NEGATIVE, NEGATIVE, "other")
    return classes


class _PerDocSums:
    """Sums of per-n-gram values by post, for n-grams listed in a few runs each sorted by post.

    ``np.add.reduceat`` over each run's contiguous per-post segments does in half the time
    what ``np.bincount(docs, weights=...)`` does (measured on 2,000,000 n-grams: 19 against
    40 ms for three classes), and the runs (words, bigrams, then each character n-gram
    length, see :func:`detectors.lexicon.tokenize`) are found once for all the classes.
    """

    def __init__(self, docs: np.ndarray, n_docs: int) -> None:
        self.n_docs = n_docs
        breaks = np.flatnonzero(docs[1:] < docs[:-1]) + 1
        bounds = np.concatenate(([0], breaks, [len(docs)]))
        self.runs = []
        for low, high in pairwise(bounds.tolist()):
            run = docs[low:high]
            if run.size:
                first = np.flatnonzero(np.concatenate(([True], run[1:] != run[:-1])))
                self.runs.append((low, high, first, run[first]))

    def __call__(self, values: np.ndarray) -> np.ndarray:
        total = np.zeros(self.n_docs)
        for low, high, first, posts in self.runs:
            total[posts] += np.add.reduceat(values[low:high], first, dtype=np.float64)
        return total


def _chunk_bounds(texts: Sequence[str]) -> list[tuple[int, int]]:
    """``(start, stop)`` slices of ``texts`` with about ``lexicon.MAX_BATCH_CHARS`` characters each."""
    bounds, start, size = [], 0, 0
    for index, text in enumerate(texts):
        size += min(len(text), lexicon.MAX_CHARS) if isinstance(text, str) else 0
        if size >= lexicon.MAX_BATCH_CHARS:
            bounds.append((start, index + 1))
            start, size = index + 1, 0
    if start < len(texts):
        bounds.append((start, len(texts)))
    return bounds


def _clean(text: object) -> str:
    return text[: lexicon.MAX_CHARS] if isinstance(text, str) else ""
