package kess

import (
	"math"
	"testing"
)

// Reference values from an independent implementation of the algorithms
// described in sdk/stable_hash.h and sdk/fast_random.h.
func TestStableHash(t *testing.T) {
	for s, want := range map[string]uint64{
		"":              6137631918817817679,
		"a":             13029641665583654024,
		"checkout-7f3a": 2408765711875325340,
		"user-42":       16258837775767059863,
	} {
		if got := StableHash(s); got != want {
			t.Errorf("StableHash(%q) = %d, want %d", s, got, want)
		}
	}
	if got := HashPair(StableHash("user-42"), StableHash("checkout-7f3a")); got != 14655502582807784342 {
		t.Errorf("HashPair = %d", got)
	}
}

func TestRandomIsWyrand(t *testing.T) {
	r := NewRandom(7)
	for i, want := range []uint64{16292765481176799425, 15778304849968482104, 7116806604310374488} {
		if got := r.Next(); got != want {
			t.Errorf("draw %d = %d, want %d", i, got, want)
		}
	}
}

func TestHrwNegLog2IsCloseToLog2(t *testing.T) {
	r := NewRandom(1)
	for i := 0; i < 100000; i++ {
		h := r.Next()
		if i < 3 {
			h = []uint64{0, math.MaxUint64, 1 << 63}[i]
		}
		u := (float64(h>>11) + 0.5) * 0x1.0p-53
		want := -math.Log2(u)
		if got := HrwNegLog2(h); math.Abs(got-want) > 1e-10 {
			t.Fatalf("HrwNegLog2(%d) = %.17g, want %.17g", h, got, want)
		}
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"a", "shop", "db.timeout", "A-b_c.9", "9lives"} {
		if err := ValidateName("key", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	long := make([]byte, 129)
	for i := range long {
		long[i] = 'a'
	}
	for _, bad := range []string{"", ".hidden", "-x", "a..b", "a/b", "a b", "\x00", string(long), "ü"} {
		if err := ValidateName("key", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
