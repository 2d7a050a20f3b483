"""Near-duplicate text lookup: MinHash signatures over word bigrams, indexed by LSH bands.

When something goes wrong, many people complain *in their own post* but in
nearly the same words ("@SkywayAir lost my bag AGAIN" / "@skywayair lost my bag
again!!"). There is no reshare link between those posts, so the story tracker
finds them by text: two texts whose sets of word bigrams overlap a lot
(Jaccard similarity) should land in the same bucket of an index, and texts that
share little should not.

How, and why this way:

* **Shingles.** Lower-cased word tokens (URLs dropped, ``#tags`` and
  ``@handles`` kept), then consecutive pairs of them. Bigrams keep enough word
  order that "lost my bag" and "my bag lost" differ, and are short enough that
  a couple of extra words only remove a few shingles.
* **Hashing.** Each bigram is hashed with CRC-32 (C speed, and the same in
  every process, unlike ``hash(str)``, so the index can be rebuilt after a
  restart and backtests are reproducible).
* **One-permutation MinHash.** The classic signature takes the minimum of *k*
  different hash functions over all shingles: *k* passes, too slow for 50,000
  posts a second in pure Python. Instead the 32-bit hash space is cut into *k*
  equal bins and the signature keeps the smallest hash that falls into each bin
  (Li, Owen & Zhang 2012): one pass over the shingles. Two texts agree in a bin
  with probability close to their Jaccard similarity *J*. Short texts leave
  bins empty; rather than densifying (Shrivastava & Li 2014), a band whose bins
  are all empty is simply left out, and "empty" counts as a value otherwise.
* **LSH bands.** The *k = bands x rows* bin values are grouped into bands; a band
  key is the hash of its values (one integer). Texts become candidates when any
  band agrees, which happens with probability ``1 - (1 - J**rows) ** bands``:
  with the default 4 bands of 2 rows, 0.98 at J = 0.8, 0.68 at J = 0.5,
  0.31 at J = 0.3 and 0.15 at J = 0.2.

The index maps each band key to *one* item (the most recent one added with that
key) so that its size is at most ``bands`` entries per indexed item. Candidates
are only proposals: the caller confirms them with :func:`similarity` (exact
Jaccard of the bigram sets) before merging.
"""

from __future__ import annotations

import re
import zlib
from array import array
from collections.abc import Iterable

#: Only the start of a very long text is shingled: near-duplicates show in their first words.
MAX_SHINGLE_CHARS = 1_000

_EMPTY = 1 << 32  # above every 32-bit hash: the value of a bin no shingle fell into
#: Band keys are cut to 30 bits: CPython stores such an int in 32 bytes rather than 48, and the
#: index holds one per band of every story. (A rare collision only proposes a candidate, which
#: :func:`similarity` then rejects.)
_KEY_BITS = 30
_KEY_MASK = (1 << _KEY_BITS) - 1
_FREE = (1 << 32) - 1  # an empty position of the index (band keys are below 2**30)
_MIN_SLOTS = 8
_URL = re.compile(r"https?://\S+")
_TOKEN = re.compile(r"[#@]?\w+")


def tokenize(text: str, max_chars: int = MAX_SHINGLE_CHARS) -> list[str]:
    """Lower-cased word tokens of the first ``max_chars`` characters, without URLs.

    ``#hashtags`` and ``@handles`` keep their sigil so that callers can tell
    them apart from words. Emoji and punctuation are not tokens.
    """
    text = text[:max_chars].lower()
    if "http" in text:
        text = _URL.sub(" ", text)
    return _TOKEN.findall(text)


def similarity(tokens: list[str], other: list[str]) -> float:
    """Jaccard similarity of two tokenised texts' bigram sets (0 for two empty texts).

    LSH only proposes candidates; this confirms them: two texts sharing a
    single common bigram ("thank you") can share a band by chance.
    """
    return jaccard(set(shingle_hashes(tokens)), set(shingle_hashes(other)))


def jaccard(mine: set[int], theirs: set[int]) -> float:
    """Jaccard similarity of two sets of shingle hashes (0 for two empty sets)."""
    union = len(mine | theirs)
    return len(mine & theirs) / union if union else 0.0


def shingle_hashes(tokens: list[str]) -> list[int]:
    """32-bit hashes of the word bigrams of ``tokens`` (a single token is its own shingle).

    A bigram's hash is the CRC-32 of its two tokens' bytes, computed by feeding
    the second token into the first one's CRC: every step runs in C.
    """
    encoded = list(map(str.encode, tokens))
    if len(encoded) <= 1:
        return [zlib.crc32(encoded[0])] if encoded else []
    return list(map(zlib.crc32, encoded[1:], map(zlib.crc32, encoded)))  # map stops with the shorter


def pack_keys(keys: tuple[int, ...]) -> int:
    """Band keys (30-bit) as one int, behind a leading 1 so that any number of keys, zeros too, come back.

    One int of a few 30-bit digits costs 48 bytes where a tuple of four keys costs over 100.
    """
    packed = 1
    for key in keys:
        packed = packed << _KEY_BITS | key
    return packed


def unpack_keys(packed: int) -> tuple[int, ...]:
    """The keys :func:`pack_keys` packed, in their order."""
    keys = []
    while packed > 1:
        keys.append(packed & _KEY_MASK)
        packed >>= _KEY_BITS
    return tuple(reversed(keys))


class NearDuplicateIndex:
    """Find an earlier item whose text is a near-duplicate of a new one.

    Items are small non-negative integers (the story tracker's row numbers).
    The index is an open-addressing hash table over two ``array``s (linear
    probing, backward-shift deletion) rather than a dict: a dict entry with
    its int key costs about 80 bytes, an array entry 8 bytes (16 to 32 at the
    table's load), and a worker indexes four band keys for each of up to a
    million stories. Band keys are already uniform hashes, so their low bits
    are the home position.

    Parameters
    ----------
    bands
        Number of LSH bands. More bands find less similar texts.
    rows
        Bin values per band. More rows make a band harder to match, so that
        only more similar texts become candidates.
    min_tokens
        Texts with fewer word tokens are neither indexed nor looked up: "thanks
        @SkywayAir" is not evidence that two people talk about the same thing.
    """

    def __init__(self, *, bands: int = 4, rows: int = 2, min_tokens: int = 4) -> None:
        for name, value in (("bands", bands), ("rows", rows)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(min_tokens, int) or min_tokens < 1:
            raise ValueError(f"min_tokens must be a positive integer, got {min_tokens!r}")
        self.bands = bands
        self.rows = rows
        self.min_tokens = min_tokens
        self._bins = bands * rows
        self._rows_of_bands = [slice(row, None, rows) for row in range(rows)]
        power = self._bins.bit_length() - 1
        self._bin_shift = 32 - power if self._bins == 1 << power and power > 0 else 0
        self._empty_band_keys = frozenset(hash((band, *[_EMPTY] * rows)) & _KEY_MASK for band in range(bands))
        self.clear()

    def __len__(self) -> int:
        """Number of band keys held (at most ``bands`` per indexed item)."""
        return self._used

    def band_keys(self, tokens: list[str]) -> tuple[int, ...] | None:
        """The LSH band keys of a tokenised text, or ``None`` when it is too short to match.

        A band whose bins are all empty (a short text has fewer shingles than
        bins) says nothing about the text and gets no key.
        """
        if len(tokens) < self.min_tokens:
            return None
        return self.band_keys_of(shingle_hashes(tokens))

    def band_keys_of(self, shingles: list[int]) -> tuple[int, ...]:
        """The LSH band keys of a text's shingle hashes (:func:`shingle_hashes`), whatever their number."""
        bins = [_EMPTY] * self._bins
        shift = self._bin_shift
        if shift:  # a power-of-two number of bins: the bin is the hash's top bits
            for value in shingles:
                at = value >> shift
                if value < bins[at]:
                    bins[at] = value
        else:
            size = self._bins
            for value in shingles:
                at = value * size >> 32  # the bin: which k-th of the 32-bit hash space
                if value < bins[at]:
                    bins[at] = value
        # Band b holds bins b*rows ... b*rows + rows - 1, so bins[r::rows] is row r of every band.
        # hash() of a tuple of ints is the same in every process (only str and bytes hashes are salted).
        # A band whose bins are all empty has a known key; it is left out.
        empty = self._empty_band_keys
        return tuple([key for band in zip(range(self.bands), *map(bins.__getitem__, self._rows_of_bands), strict=True)
                      if (key := hash(band) & _KEY_MASK) not in empty])

    def get(self, key: int) -> int | None:
        """The item indexed under one band key, else ``None``."""
        keys, mask = self._keys, self._mask
        at = key & mask
        while True:
            held = keys[at]
            if held == key:
                return self._items[at]
            if held == _FREE:
                return None
            at = (at + 1) & mask

    def candidates(self, keys: Iterable[int]) -> list[int]:
        """The items sharing a band with ``keys``, those sharing most bands first."""
        table, items, mask = self._keys, self._items, self._mask
        found = []
        for key in keys:  # get(), inlined: this runs for every post that is not a reshare
            at = key & mask
            held = table[at]
            while held != key and held != _FREE:
                at = (at + 1) & mask
                held = table[at]
            if held == key:
                found.append(items[at])
        if len(found) <= 1:
            return found
        return sorted(set(found), key=lambda item: (-found.count(item), found.index(item)))

    def add(self, keys: tuple[int, ...], item: int) -> None:
        """Index ``item`` under its band keys (taking over keys held by older items)."""
        if 2 * (self._used + len(keys)) > self._mask:
            self._resize(2 * (self._mask + 1))
        table, items, mask = self._keys, self._items, self._mask
        for key in keys:
            at = key & mask
            held = table[at]
            while held != key and held != _FREE:
                at = (at + 1) & mask
                held = table[at]
            items[at] = item  # first: a wrong item type changes nothing
            if held == _FREE:
                table[at] = key
                self._used += 1

    def remove(self, keys: Iterable[int], item: int) -> None:
        """Forget ``item``'s band keys, leaving keys that a newer item has taken over.

        Keys that are not held are skipped, so a fixed-width row of keys padded
        with ``2**32 - 1`` (never a band key) can be passed as it is.
        """
        table, items, mask = self._keys, self._items, self._mask
        for key in keys:
            if key == _FREE:
                continue
            hole = key & mask
            held = table[hole]
            while held != key and held != _FREE:
                hole = (hole + 1) & mask
                held = table[hole]
            if held != key or items[hole] != item:
                continue
            # Empty the hole, moving later entries of its probe run back so that none is cut off
            # (backward-shift deletion): the entry at ``at`` stays when its home lies cyclically in
            # (hole, at], because moved to the hole it would sit before its home, where no lookup looks.
            at = hole
            while True:
                at = (at + 1) & mask
                held = table[at]
                if held == _FREE:
                    break
                home = held & mask
                if (hole < home <= at) if hole < at else (home > hole or home <= at):
                    continue
                table[hole] = held
                items[hole] = items[at]
                hole = at
            table[hole] = _FREE
            self._used -= 1

    def items(self) -> set[int]:
        """Every item some band key leads to."""
        return {item for key, item in zip(self._keys, self._items, strict=True) if key != _FREE}

    def clear(self) -> None:
        self._keys = array("I", [_FREE]) * _MIN_SLOTS
        self._items = array("i", [0]) * _MIN_SLOTS
        self._mask = _MIN_SLOTS - 1
        self._used = 0

    def _resize(self, slots: int) -> None:
        old_keys, old_items = self._keys, self._items
        table = self._keys = array("I", [_FREE]) * slots
        items = self._items = array("i", [0]) * slots
        mask = self._mask = slots - 1
        for key, item in zip(old_keys, old_items, strict=True):
            if key != _FREE:
                at = key & mask
                while table[at] != _FREE:
                    at = (at + 1) & mask
                table[at] = key
                items[at] = item
