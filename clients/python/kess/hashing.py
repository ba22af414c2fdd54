"""Fixed hashes and the pick PRNG, bit for bit those of the C++ SDK.

  stable_hash(bytes)   FNV-1a-64 (offset basis 1469598103934665603) then
                       splitmix64's finalizer
                       (common/rendezvous.h StableHash).
  fmix64(x)            MurmurHash3's 64-bit finalizer (sdk/stable_hash.h).
  hash_pair(k, i)      fmix64(k ^ (i * 0x9e3779b97f4a7c15)).
  hrw_neg_log2(h)      -log2(((h >> 11) + 0.5) / 2^53) by the fixed series
                       of sdk/policy/hrw.cc (not libm), same doubles.
  FastRandom           wyrand (sdk/fast_random.h): next(), uniform(n),
                       unit_double(); FastRandom.thread_local().

Every process in every language maps a request key to the same instance,
so none of these may change.

Thread-safety: the functions are pure; a FastRandom is not thread-safe
(thread_local() gives each thread its own).
"""

import math
import os
import threading
from typing import Union

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
_TWO_M53 = 2.0 ** -53
_INV_LN2 = 1.4426950408889634


def stable_hash(data: Union[str, bytes]) -> int:
    """FNV-1a-64 of `data` (UTF-8 for a str) then splitmix64's finalizer."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    # The offset basis as common/rendezvous.cc spells it (decimal; it is not
    # the textbook FNV basis 14695981039346656037, and must stay as it is).
    h = 1469598103934665603
    for c in data:
        h = ((h ^ c) * 0x100000001B3) & MASK64
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & MASK64
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & MASK64
    h ^= h >> 31
    return h


def fmix64(x: int) -> int:
    """MurmurHash3's 64-bit finalizer."""
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & MASK64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & MASK64
    x ^= x >> 33
    return x


def hash_pair(key_hash: int, id_hash: int) -> int:
    """The HRW score input of one (request key, instance id) pair."""
    return fmix64(key_hash ^ ((id_hash * GOLDEN) & MASK64))


def hrw_neg_log2(h: int) -> float:
    """-log2(((h >> 11) + 0.5) / 2^53), exactly as sdk/policy/hrw.cc."""
    u = (float(h >> 11) + 0.5) * _TWO_M53
    m, e = math.frexp(u)  # u = m * 2^e, m in [0.5, 1)
    m *= 2.0              # the C++ code's mantissa in [1, 2)
    exponent = e - 1
    if m > 1.4142135623730951:
        m *= 0.5
        exponent += 1
    t = (m - 1.0) / (m + 1.0)
    t2 = t * t
    ln_m = 2.0 * t * (1.0 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (
        1.0 / 7 + t2 * (1.0 / 9 + t2 * (1.0 / 11))))))
    return -(float(exponent) + ln_m * _INV_LN2)


class FastRandom:
    """wyrand, as sdk/fast_random.h: the same seed gives the same numbers."""

    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        self._state = seed & MASK64

    def next(self) -> int:
        """The next 64-bit number."""
        s = (self._state + 0xA0761D6478BD642F) & MASK64
        self._state = s
        t = s * (s ^ 0xE7037ED1A0B428DB)
        return ((t >> 64) ^ t) & MASK64

    def uniform(self, n: int) -> int:
        """Uniform in [0, n) by multiply-shift. REQUIRES: n > 0."""
        return (self.next() * n) >> 64

    def unit_double(self) -> float:
        """Uniform in [0, 1)."""
        return (self.next() >> 11) * _TWO_M53

    _local = threading.local()

    @classmethod
    def thread_local(cls) -> "FastRandom":
        """The calling thread's instance, seeded once from os.urandom."""
        r = getattr(cls._local, "random", None)
        if r is None:
            r = cls(int.from_bytes(os.urandom(8), "little"))
            cls._local.random = r
        return r
