"""Caller-side failover, the rules of sdk/failure_tracker.h.

  failure k in a row (k = 1, 2, ...): ejected for
      min(initial_ejection * 2^(k-1), max_ejection) (1 s, 2 s, 4 s, ...
      30 s by default), then "recovering" for as long again: its weight
      ramps linearly from recovering_weight (10 %) of it up to all of it.
  failures reported while it is ejected are ignored (calls already in
      flight when it was ejected).
  successes_to_reset successes in a row forget the failures; so does a
      quiet period of forget_after after the recovery ended (checked by
      every report and every build()).

FailureTracker keeps that state by instance id (it survives new table
versions) and renders it for one RouteSnapshot as an immutable
Availability. Time is the caller's, in whole milliseconds; durations (in
seconds) are rounded up to whole milliseconds.

Thread-safety: Availability is immutable; FailureTracker is not
thread-safe (Discovery locks around it).
"""

from dataclasses import dataclass
from typing import Dict, List, Optional

from kess.snapshot import RouteSnapshot


def ceil_ms(seconds: float) -> int:
    """Whole milliseconds, rounded up (at nanosecond precision)."""
    ns = round(seconds * 1e9)
    return -(-ns // 1000000)


@dataclass
class Entry:
    """One instance's ejection: ejected while now < until_ms, full weight
    from recovered_ms on; ejected_ms is when it began (0: none)."""

    ejected_ms: int = 0
    until_ms: int = 0
    recovered_ms: int = 0


_NONE = Entry()


class Availability:
    """How available each instance of one snapshot is, as a function of
    time."""

    __slots__ = ("_entries", "_recovering_weight", "_active_until_ms")

    def __init__(self, entries: List[Entry], recovering_weight: float) -> None:
        self._entries = entries
        self._recovering_weight = recovering_weight
        self._active_until_ms = max((e.recovered_ms for e in entries),
                                    default=0)

    def active_at(self, now_ms: int) -> bool:
        """Whether any instance is ejected or recovering at now_ms."""
        return now_ms < self._active_until_ms

    def factor(self, index: int, now_ms: int) -> float:
        """The share of its weight instance `index` gets: 0 while ejected,
        recovering_weight..1 while recovering, else 1."""
        e = self._entries[index]
        if now_ms >= e.recovered_ms:
            return 1.0
        if now_ms < e.until_ms:
            return 0.0
        ramp = float(now_ms - e.until_ms) / float(e.recovered_ms - e.until_ms)
        return self._recovering_weight + (1.0 - self._recovering_weight) * ramp

    def entry(self, index: int) -> Entry:
        return self._entries[index]


@dataclass
class FailoverOptions:
    """Durations in seconds."""

    initial_ejection: float = 1.0
    max_ejection: float = 30.0
    recovering_weight: float = 0.1  # in (0, 1]
    successes_to_reset: int = 3
    forget_after: float = 60.0

    def validate(self) -> None:
        """Raises ValueError for bad options (as Discovery::Create)."""
        if not (self.initial_ejection > 0 and
                self.max_ejection >= self.initial_ejection and
                0 < self.recovering_weight <= 1):
            raise ValueError("failover: need 0 < initial_ejection <= "
                             "max_ejection and 0 < recovering_weight <= 1")


@dataclass
class _Record:
    failures: int = 0
    successes: int = 0
    entry: Entry = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.entry is None:
            self.entry = Entry()


class FailureTracker:
    """Failures and successes by instance id."""

    def __init__(self, options: Optional[FailoverOptions] = None) -> None:
        self._options = options or FailoverOptions()
        self._records: Dict[str, _Record] = {}

    def report_failure(self, instance_id: str, now_ms: int) -> bool:
        """Returns whether the availability changed."""
        record = self._records.get(instance_id)
        if record is None or self._forgotten(record, now_ms):
            # Quiet for forget_after since it recovered: it starts over,
            # whether or not a build() forgot the record in between.
            record = self._records[instance_id] = _Record()
        if record.failures > 0 and now_ms < record.entry.until_ms:
            return False
        record.failures += 1
        record.successes = 0
        o = self._options
        ejection = o.initial_ejection
        i = 1
        while i < record.failures and ejection < o.max_ejection:
            ejection *= 2
            i += 1
        duration = ceil_ms(min(ejection, o.max_ejection))
        record.entry = Entry(now_ms, now_ms + duration, now_ms + 2 * duration)
        return True

    def report_success(self, instance_id: str, now_ms: int) -> bool:
        """Returns whether the availability changed."""
        record = self._records.get(instance_id)
        if record is None:
            return False
        if self._forgotten(record, now_ms):   # nothing left to forget
            del self._records[instance_id]
            return False
        record.successes += 1
        if record.successes < self._options.successes_to_reset:
            return False
        changed = now_ms < record.entry.recovered_ms
        del self._records[instance_id]
        return changed

    def build(self, snapshot: RouteSnapshot,
              now_ms: int) -> Optional[Availability]:
        """The availability of the snapshot's instances; None when none is
        ejected or recovering. Forgets records that are due."""
        for iid in [i for i, r in self._records.items()
                    if self._forgotten(r, now_ms)]:
            del self._records[iid]
        if not self._records:
            return None
        entries: Optional[List[Entry]] = None
        for iid, record in self._records.items():
            index = snapshot.index_of(iid)
            if index is None or now_ms >= record.entry.recovered_ms:
                continue
            if entries is None:
                entries = [_NONE] * len(snapshot)
            entries[index] = record.entry
        if entries is None:
            return None
        return Availability(entries, self._options.recovering_weight)

    def _forgotten(self, record: _Record, now_ms: int) -> bool:
        return now_ms >= record.entry.recovered_ms + \
            ceil_ms(self._options.forget_after)

    def failures(self, instance_id: str) -> int:
        """Consecutive failures on record (0 = none)."""
        record = self._records.get(instance_id)
        return 0 if record is None else record.failures
