"""Fast, vectorised text features for negativity scoring: hashed n-grams, VADER's lexicon, complaint cues.

Why this module exists: ``vaderSentiment`` walks every post in pure Python (about
13,000 posts/s) and scikit-learn's vectorisers do the same per n-gram (a few
thousand posts/s with character n-grams). A stream of posts wants an order of
magnitude more, so this module handles a whole *batch* of posts at once with numpy:

1. :func:`tokenize` normalises the batch in one pass over one joined string
   (links, @mentions, digits, emoticons), turns it into one ``uint8`` array and
   hashes every word, word bigram and character n-gram with a polynomial rolling
   hash computed from prefix sums (so a substring's hash costs O(1), no Python
   loop over posts or tokens).
2. :func:`lexicon_features` looks the word hashes up in VADER's lexicon (the
   words and their human-rated valences, read from the file ``vaderSentiment``
   ships; VADER's own code is not run), flips valences after a negation the way
   VADER does, and counts *complaint cues*: phrases that mark a complaint without
   any negative word ("still waiting", "on hold", "no response", "refund", ...).
3. :func:`rule_scores` turns the compound and the cues into a negativity in [0, 1] with
   two fixed, hand-set numbers (no training involved).

Everything here is a pure function of its input; the only state is the lexicon,
read once from the installed ``vaderSentiment`` package.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import numpy as np

#: Posts are cut to this many characters before scoring, so that a huge post costs bounded time.
MAX_CHARS = 10_000
#: Callers hand :func:`tokenize` at most about this many characters at once, to bound memory
#: (the arrays are a few dozen bytes per character).
MAX_BATCH_CHARS = 1_000_000

_SEPARATOR = "\x00"
_MASK64 = (1 << 64) - 1
_BASE = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_BASE_INVERSE = pow(_BASE, -1, 1 << 64)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: spreads the hash over the top bits
_BIGRAM_MULTIPLIER = np.uint64(0xC2B2AE3D27D4EB4F)
#: Salts keep a word, a word bigram, an @mentioned handle and a character n-gram with equal bytes in
#: different columns.
_SALT_WORD, _SALT_BIGRAM, _SALT_CHAR, _SALT_MENTION = (np.uint64(s) for s in (0x51ED27, 0xB16A3, 0xC4A77, 0x3E4710))

_URL = re.compile(r"(?=[hHwW])(?:https?://|www\.)[^\s\x00]+", re.IGNORECASE)  # \x00 separates posts
_MENTION = re.compile(r"@\w+")
# Emoji and pictographs stand apart as tokens of their own, even when glued to a word.
_PICTOGRAPH = re.compile("([\U0001F000-\U0001FAFF\u2600-\u27BF])")
# Emoticons become words of the lexicon ("emosad"...), in one regex pass over the batch.
_EMOTICON = re.compile(
    r"(?=[<:;>(=xD])"  # cheap first-character test: makes the pass about 3x faster
    r"(?:(?P<emobrokenheart></3)|(?P<emoheart><3+)"
    r"|(?<!\w)(?:(?P<emosad>:-?\(+|:'\(|:-?/(?!/)|:-?\[|D:|>:-?\()"
    r"|(?P<emohappy>:-?\)+|:-?D\b|;-?\)|\(:|=\)|:-?p\b|xD\b)))"
)
_EMOTICON_VALENCE = {"emosad": -2.2, "emohappy": 2.0, "emoheart": 1.9, "emobrokenheart": -3.0}
_REPLACEMENTS = (("\u2019", "'"), ("\u2018", "'"), ("\ufe0f", ""), ("\u200d", ""))

# What VADER counts as a negation (its NEGATE list, apostrophes dropped: we tokenise "don't" as one word).
NEGATIONS = (
    "aint ain't arent aren't cannot cant can't couldnt couldn't didnt didn't doesnt doesn't dont don't "
    "hadnt hadn't hasnt hasn't havent haven't isnt isn't neither neednt needn't never no none nope nor "
    "not nothing nowhere shouldnt shouldn't wasnt wasn't werent weren't without wont won't wouldnt "
    "wouldn't rarely seldom despite"
).split()
NEGATION_SCALAR = -0.74  # VADER's N_SCALAR: a negated valence flips and shrinks

#: Phrases that mark a complaint to a brand without a negative word; generic customer-service
#: language (airlines, telcos, delivery, banks, apps), not learnt from any data set.
COMPLAINT_CUES = (
    # waiting and chasing
    "still waiting", "still no", "still not", "waiting for", "been waiting", "on hold", "hold for",
    "no response", "no reply", "no answer", "no one", "nobody", "no help", "any update", "any updates",
    "hours", "days", "weeks", "again", "yet another", "every time", "how long", "much longer",
    "why", "why is", "why are", "why do", "why did", "why does", "where is", "where's",
    "what happened", "going on", "when will",
    # something went wrong
    "cancelled", "canceled", "cancel", "delayed", "delay", "late", "lost", "missing", "stuck",
    "stranded", "broken", "broke", "not working", "doesn't work", "stopped working", "won't", "can't",
    "couldn't", "didn't", "never", "nothing", "outage", "down", "overcharged", "charged twice",
    "double charged", "refund", "fee", "fees", "rebooked", "missed", "never arrived", "never received",
    "wrong", "error", "crashed", "crashes", "dropped", "disconnected", "unable",
    # asking to be helped
    "fix this", "fix it", "customer service", "customer care", "call back", "hung up", "dm", "complaint",
    "supervisor", "manager", "compensation", "seriously", "unacceptable", "ridiculous", "fail",
)


@dataclass(frozen=True)
class TokenizedBatch:
    """Hashes of every word and n-gram of a batch of posts, as flat numpy arrays.

    ``*_doc`` arrays give the index of the post each item comes from (sorted, as
    the posts are), so per-post sums are ``np.bincount(doc, weights, n_docs)``.
    """

    n_docs: int
    word_hash: np.ndarray  # uint64, one per word token
    word_doc: np.ndarray  # int64
    bigram_hash: np.ndarray  # uint64, one per pair of adjacent words in a post
    bigram_doc: np.ndarray
    char_hash: np.ndarray  # uint64, one per character n-gram (bytes of UTF-8)
    char_doc: np.ndarray
    uppercase_ratio: np.ndarray  # float64 per post: share of ASCII letters in capitals
    question_marks: np.ndarray  # float64 per post
    exclamation_marks: np.ndarray  # float64 per post
    #: uint64 per @mention, the hash of its handle (lower case; "@United" -> "united"), and its post
    mention_hash: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    mention_doc: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def tokenize(texts: Sequence[str], char_ngrams: tuple[int, int] = (3, 5), mentions: bool = False) -> TokenizedBatch:
    """Normalise and hash a batch of posts in a handful of vectorised passes.

    ``None`` or non-string items count as empty posts; posts are cut to :data:`MAX_CHARS`.
    Every @mention reads "@user" in the words and character n-grams; with ``mentions`` the
    handles themselves are hashed too (``mention_hash``), for a trained model to weigh.
    """
    n_docs = len(texts)
    joined = _SEPARATOR.join(_clean(t) for t in texts)
    joined = _URL.sub(" http ", joined)
    handles = _MENTION.findall(joined) if mentions else []
    joined = _MENTION.sub(" @user ", joined)
    joined = _EMOTICON.sub(_emoticon_word, joined)
    for old, new in _REPLACEMENTS:
        if old in joined:
            joined = joined.replace(old, new)
    joined = _PICTOGRAPH.sub(r" \1 ", joined)
    raw = np.frombuffer(joined.encode("utf-8", "replace"), dtype=np.uint8)

    is_separator = raw == 0
    doc_of_byte = np.cumsum(is_separator)  # a separator belongs to the post after it
    is_upper = (raw >= 65) & (raw <= 90)
    is_lower = (raw >= 97) & (raw <= 122)
    upper = np.bincount(doc_of_byte, weights=is_upper, minlength=n_docs)
    letters = upper + np.bincount(doc_of_byte, weights=is_lower, minlength=n_docs)
    uppercase_ratio = np.divide(upper, letters, out=np.zeros(n_docs), where=letters > 0)
    questions = np.bincount(doc_of_byte, weights=raw == 63, minlength=n_docs).astype(float)
    exclamations = np.bincount(doc_of_byte, weights=raw == 33, minlength=n_docs).astype(float)

    mention_hash, mention_doc = _mention_hashes(handles, raw, doc_of_byte)
    lowered = np.where(is_upper, raw + np.uint8(32), raw)
    lowered[(raw >= 49) & (raw <= 57)] = 48  # every digit is 0: "flight 1234" and "flight 5678" are alike
    prefix, powers = _prefix_hashes(lowered)

    # Words: runs of ASCII letters/digits, apostrophes, or non-ASCII bytes (accented letters, emoji).
    is_word = (lowered >= 97) & (lowered <= 122) | (lowered >= 48) & (lowered <= 57)
    is_word |= (lowered == 39) | (lowered >= 128)
    edges = np.diff(np.concatenate(([False], is_word, [False])).astype(np.int8))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    word_hash = _substring_hashes(prefix, powers, starts, ends)
    word_doc = doc_of_byte[starts].astype(np.int64)

    same_doc = word_doc[1:] == word_doc[:-1]
    bigram_hash = word_hash[:-1][same_doc] * _BIGRAM_MULTIPLIER + word_hash[1:][same_doc]
    bigram_doc = word_doc[1:][same_doc]

    char_hashes, char_docs = [], []
    low, high = char_ngrams
    for n in range(low, high + 1):
        if len(lowered) < n:
            continue
        begin = np.arange(len(lowered) - n + 1)
        inside = (doc_of_byte[begin] == doc_of_byte[begin + n - 1]) & ~is_separator[begin]
        begin = begin[inside]
        char_hashes.append(_substring_hashes(prefix, powers, begin, begin + n))
        char_docs.append(doc_of_byte[begin].astype(np.int64))
    empty_hash, empty_doc = np.zeros(0, np.uint64), np.zeros(0, np.int64)
    return TokenizedBatch(
        n_docs=n_docs,
        word_hash=word_hash,
        word_doc=word_doc,
        bigram_hash=bigram_hash,
        bigram_doc=bigram_doc,
        char_hash=np.concatenate(char_hashes) if char_hashes else empty_hash,
        char_doc=np.concatenate(char_docs) if char_docs else empty_doc,
        uppercase_ratio=uppercase_ratio,
        question_marks=questions,
        exclamation_marks=exclamations,
        mention_hash=mention_hash,
        mention_doc=mention_doc,
    )


_MENTION_MARK = np.frombuffer(b"@user ", dtype=np.uint8)


def _mention_hashes(handles: list[str], raw: np.ndarray, doc_of_byte: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the @mentions' handles (as :func:`hash_word` of the lower-case handle) and their posts.

    Each mention was replaced by " @user " in ``raw``, in order, and nothing else spells
    "@user " there (a literal "@user" is itself a mention), so the k-th "@user " is the k-th handle.
    """
    empty = np.zeros(0, np.uint64), np.zeros(0, np.int64)
    if not handles:
        return empty
    candidates = np.flatnonzero(raw[:len(raw) - len(_MENTION_MARK) + 1] == 64)
    for offset in range(1, len(_MENTION_MARK)):
        candidates = candidates[raw[candidates + offset] == _MENTION_MARK[offset]]
    if len(candidates) != len(handles):  # cannot happen (see above); never mismatch handles and posts
        return empty
    encoded = np.frombuffer(_SEPARATOR.join(handles).lower().encode("utf-8", "replace"), dtype=np.uint8)
    prefix, powers = _prefix_hashes(encoded)
    ends = np.concatenate((np.flatnonzero(encoded == 0), [len(encoded)]))
    starts = np.concatenate(([0], ends[:-1] + 1)) + 1  # after the "@"
    return _substring_hashes(prefix, powers, starts, ends), doc_of_byte[candidates].astype(np.int64)


def hash_columns(batch: TokenizedBatch, n_bits: int, mentions: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Map every word, bigram and character n-gram of ``batch`` to one of ``2**n_bits`` columns.

    Returns ``(doc, column)`` int64 arrays with one entry per occurrence (repeats are
    counted, as in a bag of n-grams), in this order: words, bigrams, with ``mentions``
    the @mentioned handles, then character n-grams.
    """
    shift = np.uint64(64 - n_bits)
    blocks = [(batch.word_hash, batch.word_doc, _SALT_WORD), (batch.bigram_hash, batch.bigram_doc, _SALT_BIGRAM)]
    if mentions:
        blocks.append((batch.mention_hash, batch.mention_doc, _SALT_MENTION))
    blocks.append((batch.char_hash, batch.char_doc, _SALT_CHAR))
    columns = [((hashes + salt) * _MIX) >> shift for hashes, _, salt in blocks]
    docs = np.concatenate([docs for _, docs, _ in blocks])
    return docs, np.concatenate(columns).astype(np.int64)


#: Names of the columns :func:`lexicon_features` returns, in order.
LEXICON_FEATURES = (
    "positive",  # sum of positive valences (VADER scale, negation applied), squashed to [0, 1)
    "negative",  # sum of negative valences, as a positive number, squashed to [0, 1)
    "compound",  # VADER's normalisation of the signed sum, in (-1, 1)
    "cues",  # number of complaint cues, squashed to [0, 1)
    "questions",  # has a question mark (0/1)
    "exclamations",  # has an exclamation mark (0/1)
    "shouting",  # share of capitals among ASCII letters, when the post has at least 10 letters
)


def lexicon_features(batch: TokenizedBatch) -> np.ndarray:
    """A dense ``(n_docs, len(LEXICON_FEATURES))`` float array of lexicon and punctuation features."""
    lexicon = _lexicon()
    n_docs = batch.n_docs
    valence = lexicon.lookup(batch.word_hash)

    # VADER's negation check: a negation word up to three words before flips the valence.
    is_negation = np.isin(batch.word_hash, lexicon.negation_hashes)
    negated = np.zeros(len(valence), dtype=bool)
    for distance in (1, 2, 3):
        before = np.zeros(len(valence), dtype=bool)
        before[distance:] = is_negation[:-distance] & (batch.word_doc[distance:] == batch.word_doc[:-distance])
        negated |= before
    valence = np.where(negated, valence * NEGATION_SCALAR, valence)

    positive = np.bincount(batch.word_doc, weights=np.maximum(valence, 0.0), minlength=n_docs)
    negative = np.bincount(batch.word_doc, weights=np.maximum(-valence, 0.0), minlength=n_docs)
    signed = positive - negative
    compound = signed / np.sqrt(signed * signed + 15.0)  # VADER's normalize(), alpha = 15

    cue_words = np.isin(batch.word_hash, lexicon.cue_word_hashes)
    cue_bigrams = np.isin(batch.bigram_hash, lexicon.cue_bigram_hashes)
    cues = np.bincount(batch.word_doc, weights=cue_words, minlength=n_docs)
    cues += np.bincount(batch.bigram_doc, weights=cue_bigrams, minlength=n_docs)

    letters_enough = batch.uppercase_ratio * (np.bincount(batch.word_doc, minlength=n_docs) >= 3)
    return np.column_stack((
        positive / (positive + 2.0),
        negative / (negative + 2.0),
        compound,
        cues / (cues + 1.0),
        batch.question_marks > 0,
        batch.exclamation_marks > 0,
        letters_enough,
    )).astype(np.float64)


#: Steepness of :func:`rule_scores`' logistic curve (how fast negativity moves away from 0.5).
RULE_SLOPE = 4.0
#: VADER's rule: a compound score at or below -0.05 is negative.
VADER_NEGATIVE_COMPOUND = -0.05


def rule_scores(features: np.ndarray) -> np.ndarray:
    """Negativity in [0, 1] of each row of :func:`lexicon_features`, by a fixed rule.

    ``sigmoid(RULE_SLOPE * (cue_strength - compound + VADER_NEGATIVE_COMPOUND))``: a post
    without complaint cues is a complaint (>= 0.5) exactly when its lexicon compound is at
    or below -0.05, VADER's own rule; complaint cues push towards a complaint (one cue
    outweighs a compound up to +0.45, two up to +0.62). These two numbers were set by hand
    and checked on the airline dev file (``scripts/eval_negativity.py``), not fitted.
    """
    compound = features[:, LEXICON_FEATURES.index("compound")]
    cue_strength = features[:, LEXICON_FEATURES.index("cues")]
    return _sigmoid(RULE_SLOPE * (cue_strength - compound + VADER_NEGATIVE_COMPOUND))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


def _emoticon_word(match: re.Match[str]) -> str:
    return f" {match.lastgroup} "


def _clean(text: object) -> str:
    if not isinstance(text, str):
        return ""
    text = text[:MAX_CHARS]
    return text.replace(_SEPARATOR, " ") if _SEPARATOR in text else text


_powers_cache: list[tuple[np.ndarray, np.ndarray]] = []


def _powers(size: int) -> tuple[np.ndarray, np.ndarray]:
    """``BASE**i`` and ``BASE**-i`` modulo 2**64 for i < size (numpy's uint64 arithmetic wraps).

    Kept for the largest batch seen so far; callers bound batch sizes (``MAX_BATCH_CHARS``).
    """
    if not _powers_cache or len(_powers_cache[0][0]) < size:
        base = np.full(size, _BASE, dtype=np.uint64)
        inverse = np.full(size, _BASE_INVERSE, dtype=np.uint64)
        base[0] = inverse[0] = 1
        _powers_cache[:] = [(np.cumprod(base), np.cumprod(inverse))]
    return _powers_cache[0]


def _prefix_hashes(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums ``G[i] = sum_{j<i} data[j] * BASE**-j`` and the powers of BASE.

    A substring ``[s, e)`` then hashes to ``(G[e] - G[s]) * BASE**(e-1)``, which is
    ``sum data[j] * BASE**(e-1-j)``: the same value wherever the substring occurs.
    """
    size = 1 << max(16, int(len(data) + 1).bit_length())  # round up so the cache is reused
    powers, inverse = _powers(size)
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(data) + 1, dtype=np.uint64)
        np.cumsum(data.astype(np.uint64) * inverse[: len(data)], out=prefix[1:])
    return prefix, powers


def _substring_hashes(prefix: np.ndarray, powers: np.ndarray, starts: np.ndarray,
                      ends: np.ndarray) -> np.ndarray:
    if len(starts) == 0:
        return np.zeros(0, dtype=np.uint64)
    return (prefix[ends] - prefix[starts]) * powers[ends - 1]


def hash_word(word: str) -> int:
    """The hash :func:`tokenize` gives ``word`` (lower-case ASCII or UTF-8), computed in Python."""
    value = 0
    for byte in word.encode("utf-8"):
        value = (value * _BASE + byte) & _MASK64
    return value


@dataclass(frozen=True)
class _Lexicon:
    hashes: np.ndarray  # sorted uint64
    valences: np.ndarray
    negation_hashes: np.ndarray
    cue_word_hashes: np.ndarray
    cue_bigram_hashes: np.ndarray

    def lookup(self, word_hashes: np.ndarray) -> np.ndarray:
        """The valence of each word hash, 0.0 for words not in the lexicon."""
        if len(self.hashes) == 0 or len(word_hashes) == 0:
            return np.zeros(len(word_hashes))
        index = np.minimum(np.searchsorted(self.hashes, word_hashes), len(self.hashes) - 1)
        return np.where(self.hashes[index] == word_hashes, self.valences[index], 0.0)


def _vader_folder() -> Path:
    spec = find_spec("vaderSentiment")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("vaderSentiment is not installed (pip install vaderSentiment)")
    return Path(next(iter(spec.submodule_search_locations)))


def vader_lexicon() -> dict[str, float]:
    """VADER's word -> valence dictionary (-4 .. +4), plus emoji and a few emoticons.

    Only entries that are one word for :func:`tokenize` are kept. An emoji gets the
    summed valence of the words of its description, which is what VADER does.
    """
    folder = _vader_folder()
    words: dict[str, float] = {}
    for line in (folder / "vader_lexicon.txt").read_text(encoding="utf-8").splitlines():
        fields = line.strip().split("\t")
        if len(fields) >= 2 and re.fullmatch(r"[a-z0-9']+", fields[0]):
            words[fields[0]] = float(fields[1])
    lexicon = dict(words)
    for line in (folder / "emoji_utf8_lexicon.txt").read_text(encoding="utf-8").splitlines():
        emoji, _, description = line.partition("\t")
        emoji = emoji.replace("\ufe0f", "").strip()
        valence = sum(words.get(word, 0.0) for word in description.lower().split())
        if emoji and valence and _PICTOGRAPH.fullmatch(emoji):
            lexicon[emoji] = valence
    lexicon.update(_EMOTICON_VALENCE)
    return lexicon


@functools.lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    entries = vader_lexicon()
    hashes = np.array([hash_word(word) for word in entries], dtype=np.uint64)
    valences = np.array(list(entries.values()))
    order = np.argsort(hashes)
    cue_words = [cue for cue in COMPLAINT_CUES if " " not in cue]
    cue_bigrams = [cue.split() for cue in COMPLAINT_CUES if " " in cue]
    cue_bigram_hashes = np.array(
        [(hash_word(a) * int(_BIGRAM_MULTIPLIER) + hash_word(b)) & _MASK64 for a, b in cue_bigrams],
        dtype=np.uint64,
    )
    return _Lexicon(
        hashes=hashes[order],
        valences=valences[order],
        negation_hashes=np.array([hash_word(w) for w in NEGATIONS], dtype=np.uint64),
        cue_word_hashes=np.array([hash_word(w) for w in cue_words], dtype=np.uint64),
        cue_bigram_hashes=cue_bigram_hashes,
    )
