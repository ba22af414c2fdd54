package kess

import (
	"math"
	"math/bits"
)

// StableHash is the one string hash of kess (common/rendezvous.h): FNV-1a-64
// (offset basis 0xcbf29ce484222325, prime 0x100000001b3, a byte at a time)
// followed by splitmix64's finalizer. It is the same in every process,
// language and release; HRW affinity depends on it.
func StableHash(data string) uint64 {
	h := uint64(1469598103934665603)
	for i := 0; i < len(data); i++ {
		h ^= uint64(data[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// Fmix64 is MurmurHash3's 64-bit finalizer.
func Fmix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// HashPair is the HRW score input of one (request key, instance id) pair,
// both given as StableHash values.
func HashPair(keyHash, idHash uint64) uint64 {
	return Fmix64(keyHash ^ (idHash * 0x9e3779b97f4a7c15))
}

// HrwNegLog2 returns -log2(((h >> 11) + 0.5) / 2^53) with the C++ SDK's
// fixed polynomial (exponent plus a degree-11 odd series of atanh on the
// mantissa), not the math library, so every language computes the same
// bits.
func HrwNegLog2(h uint64) float64 {
	u := (float64(h>>11) + 0.5) * 0x1.0p-53
	b := math.Float64bits(u)
	exponent := int((b>>52)&0x7ff) - 1023
	b = (b & 0x000fffffffffffff) | 0x3ff0000000000000
	m := math.Float64frombits(b) // u = m * 2^exponent, m in [1, 2)
	if m > 1.4142135623730951 {
		m *= 0.5
		exponent++
	}
	t := (m - 1.0) / (m + 1.0)
	t2 := t * t
	// The same order of operations as the C++ code (no fused multiply-add:
	// every product is rounded on its own by the explicit conversions).
	s := float64(1.0/11.0) * t2
	s = float64(t2 * float64(1.0/9.0+s))
	s = float64(t2 * float64(1.0/7.0+s))
	s = float64(t2 * float64(1.0/5.0+s))
	s = float64(t2 * float64(1.0/3.0+s))
	lnM := float64(float64(2.0*t) * float64(1.0+s))
	return -(float64(exponent) + float64(lnM*1.4426950408889634))
}

// fastRandom is wyrand, the C++ SDK's FastRandom: a small, fast PRNG for
// load-balancer picks (not cryptographic). Not safe for concurrent use.
type fastRandom struct{ state uint64 }

// NewRandom returns a seeded source that draws the same sequence as the
// C++ SDK's FastRandom(seed), for reproducible picks in tests.
func NewRandom(seed uint64) *Random { return &Random{fastRandom{seed}} }

// Random is a seeded PRNG for reproducible picks (see NewRandom). Not safe
// for concurrent use.
type Random struct{ r fastRandom }

// Next returns the next 64-bit number of the sequence.
func (r *Random) Next() uint64 { return r.r.next() }

func (r *fastRandom) next() uint64 {
	r.state += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(r.state, r.state^0xe7037ed1a0b428db)
	return hi ^ lo
}

// unitDouble is uniform in [0, 1).
func (r *fastRandom) unitDouble() float64 {
	return float64(r.next()>>11) * 0x1.0p-53
}
