package kess

import "time"

// FailoverOptions are the caller-side failover rules (the C++ SDK's
// FailureTracker::Options).
type FailoverOptions struct {
	InitialEjection  time.Duration // default 1 s
	MaxEjection      time.Duration // default 30 s
	RecoveringWeight float64       // in (0, 1]; default 0.1
	SuccessesToReset int           // default 3
	ForgetAfter      time.Duration // default 60 s
}

// DefaultFailoverOptions are the C++ SDK's defaults.
func DefaultFailoverOptions() FailoverOptions {
	return FailoverOptions{
		InitialEjection:  time.Second,
		MaxEjection:      30 * time.Second,
		RecoveringWeight: 0.1,
		SuccessesToReset: 3,
		ForgetAfter:      60 * time.Second,
	}
}

// AvailabilityEntry is one instance's ejection, in milliseconds of the
// caller's clock.
type AvailabilityEntry struct {
	EjectedMs   int64 // when the current ejection began; 0: none
	UntilMs     int64 // ejected while now < UntilMs
	RecoveredMs int64 // full weight from here on
}

// Availability says how available each instance of one snapshot is, as a
// function of time. Immutable.
type Availability struct {
	entries          []AvailabilityEntry
	recoveringWeight float64
	activeUntilMs    int64
}

// NewAvailability is the availability of a snapshot's instances (entries
// indexed like the snapshot's table).
func NewAvailability(entries []AvailabilityEntry, recoveringWeight float64) *Availability {
	a := &Availability{entries: entries, recoveringWeight: recoveringWeight}
	for _, e := range entries {
		if e.RecoveredMs > a.activeUntilMs {
			a.activeUntilMs = e.RecoveredMs
		}
	}
	return a
}

// ActiveAt says whether any instance is ejected or recovering at nowMs.
func (a *Availability) ActiveAt(nowMs int64) bool { return nowMs < a.activeUntilMs }

// Factor is the share of its weight instance `index` gets at nowMs: 0
// while ejected, RecoveringWeight..1 (linearly) while recovering, else 1.
func (a *Availability) Factor(index uint32, nowMs int64) float64 {
	e := &a.entries[index]
	if nowMs >= e.RecoveredMs {
		return 1
	}
	if nowMs < e.UntilMs {
		return 0
	}
	ramp := float64(nowMs-e.UntilMs) / float64(e.RecoveredMs-e.UntilMs)
	return a.recoveringWeight + (1-a.recoveringWeight)*ramp
}

// Entry returns instance `index`'s entry.
func (a *Availability) Entry(index uint32) AvailabilityEntry { return a.entries[index] }

// FailureTracker is the caller-side failover of one service, exactly as the
// C++ SDK's (sdk/failure_tracker.h):
//
//   - failure k in a row (k = 1, 2, ...) ejects the instance for
//     min(InitialEjection * 2^(k-1), MaxEjection), then it is "recovering"
//     for as long again: its weight ramps linearly from RecoveringWeight of
//     it to all of it;
//   - failures reported while it is ejected are ignored (calls already in
//     flight);
//   - SuccessesToReset successes in a row forget its failures, and so does
//     ForgetAfter without failures after the recovery ended.
//
// State is kept by instance id, so it survives new table versions. Time is
// the caller's, in milliseconds. Not safe for concurrent use.
type FailureTracker struct {
	options FailoverOptions
	records map[string]*failureRecord
}

type failureRecord struct {
	failures  int
	successes int
	entry     AvailabilityEntry
}

// NewFailureTracker returns a tracker with these rules.
func NewFailureTracker(o FailoverOptions) *FailureTracker {
	return &FailureTracker{options: o, records: map[string]*failureRecord{}}
}

// ceilMs is a duration in whole milliseconds, rounded up.
func ceilMs(d time.Duration) int64 {
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond > 0 {
		ms++
	}
	return ms
}

func (t *FailureTracker) forgotten(r *failureRecord, nowMs int64) bool {
	return nowMs >= r.entry.RecoveredMs+ceilMs(t.options.ForgetAfter)
}

// ReportFailure records a failed call; it returns whether the availability
// changed.
func (t *FailureTracker) ReportFailure(id string, nowMs int64) bool {
	r := t.records[id]
	if r == nil || t.forgotten(r, nowMs) {
		// Quiet for ForgetAfter since it recovered: it starts over, whether
		// or not a Build forgot the record in between.
		r = &failureRecord{}
		t.records[id] = r
	}
	if r.failures > 0 && nowMs < r.entry.UntilMs {
		return false
	}
	r.failures++
	r.successes = 0
	ejection := t.options.InitialEjection
	for i := 1; i < r.failures && ejection < t.options.MaxEjection; i++ {
		ejection *= 2
	}
	if ejection > t.options.MaxEjection {
		ejection = t.options.MaxEjection
	}
	d := ceilMs(ejection)
	r.entry = AvailabilityEntry{EjectedMs: nowMs, UntilMs: nowMs + d, RecoveredMs: nowMs + 2*d}
	return true
}

// ReportSuccess records a successful call; it returns whether the
// availability changed.
func (t *FailureTracker) ReportSuccess(id string, nowMs int64) bool {
	r := t.records[id]
	if r == nil {
		return false
	}
	if t.forgotten(r, nowMs) { // nothing left to forget
		delete(t.records, id)
		return false
	}
	r.successes++
	if r.successes < t.options.SuccessesToReset {
		return false
	}
	changed := nowMs < r.entry.RecoveredMs
	delete(t.records, id)
	return changed
}

// Failures is the number of consecutive failures on record for id.
func (t *FailureTracker) Failures(id string) int {
	if r := t.records[id]; r != nil {
		return r.failures
	}
	return 0
}

// Build renders the availability of a snapshot's instances at nowMs; nil
// when none is ejected or recovering. It forgets records that are due.
func (t *FailureTracker) Build(s *Snapshot, nowMs int64) *Availability {
	for id, r := range t.records {
		if t.forgotten(r, nowMs) {
			delete(t.records, id)
		}
	}
	if len(t.records) == 0 || s == nil {
		return nil
	}
	entries := make([]AvailabilityEntry, s.Len())
	any := false
	for id, r := range t.records {
		index, ok := s.IndexOf(id)
		if !ok || nowMs >= r.entry.RecoveredMs {
			continue
		}
		entries[index] = r.entry
		any = true
	}
	if !any {
		return nil
	}
	return NewAvailability(entries, t.options.RecoveringWeight)
}
