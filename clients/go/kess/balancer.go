package kess

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
)

// errNoMember is what a Balancer returns when no member of its group is
// available ("try the next tier").
var errNoMember = fmt.Errorf("%w: no available member", ErrNotFound)

// SelectContext is what one pick is about.
type SelectContext struct {
	// Key is the request key for key-affine balancers (HRW); empty: HRW
	// picks at random by weight.
	Key string
	// State is the tier being picked (StateHealthy or StateSuspect) and
	// Group its candidates: the tier's All group, or, inside a wrapping
	// balancer such as local_first, one datacenter's group.
	State string
	Group *InstanceGroup
	// Availability is the caller-side failover; nil: all at full weight.
	Availability *Availability
	NowMs        int64
	// Random is the source of random picks (nil: a pooled one).
	Random *Random
}

// Factor is the share of its weight instance `index` of the snapshot gets
// now (0: ejected, skip it).
func (c SelectContext) Factor(index uint32) float64 {
	if c.Availability == nil {
		return 1
	}
	return c.Availability.Factor(index, c.NowMs)
}

// Balancer picks one member of ctx.Group whose Factor is above 0. It returns
// an error wrapping ErrNotFound when no member is available. Select must be
// safe for concurrent use.
type Balancer interface {
	// ctx is passed by value: a pick allocates nothing.
	Select(s *Snapshot, ctx SelectContext) (*RouteInstance, error)
}

// BalancerOptions configure the built-in balancers.
type BalancerOptions struct {
	LocalDatacenter string // local_first: the caller's datacenter
	MinLocalHealthy int    // local_first: fall over below this (at least 1)
	LocalFirstInner string // local_first: the inner balancer; default weighted_random
}

// BalancerFactory makes a balancer of one strategy.
type BalancerFactory func(o BalancerOptions) (Balancer, error)

var registry struct {
	sync.Mutex
	factories map[string]BalancerFactory
}

func init() {
	registry.factories = map[string]BalancerFactory{
		"weighted_random": func(BalancerOptions) (Balancer, error) { return WeightedRandom{}, nil },
		"hrw":             func(BalancerOptions) (Balancer, error) { return HRW{}, nil },
		"local_first": func(o BalancerOptions) (Balancer, error) {
			if o.LocalFirstInner == "" {
				o.LocalFirstInner = "weighted_random"
			}
			if o.LocalFirstInner == "local_first" {
				return nil, errors.New("kess: local_first cannot wrap local_first")
			}
			if o.LocalDatacenter == "" {
				return nil, errors.New("kess: local_first needs a local datacenter")
			}
			inner, err := NewBalancer(o.LocalFirstInner, o)
			if err != nil {
				return nil, err
			}
			return &LocalFirst{Inner: inner, LocalDatacenter: o.LocalDatacenter, MinLocalHealthy: o.MinLocalHealthy}, nil
		},
	}
}

// RegisterBalancer adds a strategy by name. It fails for an empty or taken
// name (the built-ins "weighted_random", "hrw" and "local_first" are
// always registered).
func RegisterBalancer(name string, f BalancerFactory) error {
	if name == "" {
		return errors.New("kess: empty balancer name")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, ok := registry.factories[name]; ok {
		return fmt.Errorf("kess: load balancer %q is already registered", name)
	}
	registry.factories[name] = f
	return nil
}

// BalancerNames lists the registered strategies, sorted.
func BalancerNames() []string {
	registry.Lock()
	defer registry.Unlock()
	var names []string
	for n := range registry.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NewBalancer makes a balancer of a registered strategy.
func NewBalancer(name string, o BalancerOptions) (Balancer, error) {
	registry.Lock()
	f := registry.factories[name]
	registry.Unlock()
	if f == nil {
		return nil, fmt.Errorf("kess: %w: no load balancer %q (registered: %s)", ErrNotFound, name,
			strings.Join(BalancerNames(), ", "))
	}
	return f(o)
}

// SelectInstance picks by the tiers every balancer shares: healthy
// instances; if none of those is available, suspect ones; disabled ones
// never. Ejected instances (Factor 0) are skipped; if every healthy and
// suspect instance is ejected, the least recently ejected one (healthy
// before suspect) is returned. It fails (wrapping ErrNotFound) only when
// the snapshot has no healthy or suspect instance. availability and random
// may be nil.
func SelectInstance(b Balancer, s *Snapshot, availability *Availability, key string, nowMs int64, random *Random) (*RouteInstance, error) {
	ctx := SelectContext{Key: key, NowMs: nowMs, Random: random}
	if availability != nil && availability.ActiveAt(nowMs) {
		ctx.Availability = availability
	}
	if random == nil {
		r := randomPool.Get().(*Random)
		defer randomPool.Put(r)
		ctx.Random = r
	}
	for _, state := range [2]string{StateHealthy, StateSuspect} {
		ctx.State = state
		ctx.Group = &s.Groups(state).All
		if ctx.Group.Len() == 0 {
			continue
		}
		picked, err := b.Select(s, ctx)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return picked, err
		}
	}
	if ctx.Availability != nil {
		if last := leastRecentlyEjected(s, ctx.Availability); last != nil {
			return last, nil
		}
	}
	return nil, fmt.Errorf("kess: %w: service %s has no healthy or suspect instance (revision %d)",
		ErrNotFound, s.table.Service, s.table.Revision)
}

func leastRecentlyEjected(s *Snapshot, a *Availability) *RouteInstance {
	for _, state := range [2]string{StateHealthy, StateSuspect} {
		var best *RouteInstance
		var bestMs int64
		for _, index := range s.Groups(state).All.Members {
			ms := a.Entry(index).EjectedMs
			if best == nil || ms < bestMs {
				best, bestMs = s.Instance(index), ms
			}
		}
		if best != nil {
			return best
		}
	}
	return nil
}

var randomPool = sync.Pool{New: func() interface{} {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("kess: no random seed: %v", err))
	}
	return NewRandom(binary.LittleEndian.Uint64(b[:]))
}}

func (c SelectContext) rng() *fastRandom {
	if c.Random == nil {
		// Only when a Balancer is called directly, without SelectInstance
		// (which always sets Random): not returned to the pool.
		return &randomPool.Get().(*Random).r
	}
	return &c.Random.r
}

// WeightedRandom ("weighted_random") picks a member with probability
// proportional to weight times Factor: O(1) through the group's alias
// table; while some are ejected or recovering, a draw is accepted with
// probability Factor (up to 8 draws), then an exact O(n) pass.
type WeightedRandom struct{}

// Select implements Balancer.
func (WeightedRandom) Select(s *Snapshot, ctx SelectContext) (*RouteInstance, error) {
	g := ctx.Group
	if g.Len() == 0 {
		return nil, errNoMember
	}
	r := ctx.rng()
	if ctx.Availability == nil {
		return s.Instance(g.Members[g.Draw(r.next())]), nil
	}
	for i := 0; i < 8; i++ {
		index := g.Members[g.Draw(r.next())]
		f := ctx.Factor(index)
		if f >= 1 || (f > 0 && r.unitDouble() < f) {
			return s.Instance(index), nil
		}
	}
	total := 0.0
	for i, m := range g.Members {
		total += ctx.Factor(m) / g.InverseWeight[i]
	}
	if total <= 0 {
		return nil, errNoMember
	}
	x := r.unitDouble() * total
	last := 0
	for i, m := range g.Members {
		w := ctx.Factor(m) / g.InverseWeight[i]
		if w <= 0 {
			continue
		}
		last = i
		if x < w {
			break
		}
		x -= w
	}
	return s.Instance(g.Members[last]), nil
}

// HRW ("hrw") is weighted rendezvous hashing of the request key: for each
// candidate, h = HashPair(StableHash(key), StableHash(id)),
// u = ((h >> 11) + 0.5) / 2^53, score = -log2(u) / (weight * Factor); the
// smallest score wins (ties: the smaller id). Every process in every
// language maps a key to the same instance of the same table. An empty key
// picks at random by weight.
type HRW struct{}

// Select implements Balancer.
func (HRW) Select(s *Snapshot, ctx SelectContext) (*RouteInstance, error) {
	g := ctx.Group
	n := g.Len()
	if n == 0 {
		return nil, errNoMember
	}
	var keyHash uint64
	if ctx.Key == "" {
		keyHash = ctx.rng().next()
	} else {
		keyHash = StableHash(ctx.Key)
	}
	best := n
	if ctx.Availability == nil && g.UniformWeight {
		var bestHash uint64
		for i := 0; i < n; i++ {
			h := HashPair(keyHash, g.IDHash[i])
			if best == n || h > bestHash {
				best, bestHash = i, h
			}
		}
	} else {
		best = hrwWeighted(g, ctx, keyHash)
	}
	if best == n {
		return nil, errNoMember
	}
	return s.Instance(g.Members[best]), nil
}

// hrwWeighted is the position with the smallest score, or Len() if every
// member is ejected. -log2(u) >= (1 - u) / ln 2 rules most members out
// without a logarithm; the bound is lowered by 1e-9, so skipping never
// changes the answer.
func hrwWeighted(g *InstanceGroup, ctx SelectContext, keyHash uint64) int {
	const inverseLn2 = 1.4426950408889634
	n := g.Len()
	best := n
	bestScore := math.Inf(1)
	for i := 0; i < n; i++ {
		scale := g.InverseWeight[i]
		if ctx.Availability != nil {
			f := ctx.Factor(g.Members[i])
			if f <= 0 {
				continue
			}
			scale /= f
		}
		h := HashPair(keyHash, g.IDHash[i])
		oneMinusU := (float64(^h>>11) + 0.5) * 0x1.0p-53
		if float64(float64(oneMinusU*inverseLn2)-1e-9)*scale >= bestScore {
			continue
		}
		score := HrwNegLog2(h) * scale
		if score < bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// LocalFirst ("local_first") keeps calls in the caller's datacenter while
// it has at least max(MinLocalHealthy, 1) available (not ejected) members
// in the tier being picked; otherwise Inner picks among all datacenters.
type LocalFirst struct {
	Inner           Balancer
	LocalDatacenter string
	MinLocalHealthy int
}

// Select implements Balancer.
func (l *LocalFirst) Select(s *Snapshot, ctx SelectContext) (*RouteInstance, error) {
	min := l.MinLocalHealthy
	if min < 1 {
		min = 1
	}
	local := s.Groups(ctx.State).Datacenter(l.LocalDatacenter)
	if local != nil && available(local, ctx) >= min {
		narrowed := ctx
		narrowed.Group = local
		return l.Inner.Select(s, narrowed)
	}
	return l.Inner.Select(s, ctx)
}

func available(g *InstanceGroup, ctx SelectContext) int {
	if ctx.Availability == nil {
		return g.Len()
	}
	n := 0
	for _, m := range g.Members {
		if ctx.Factor(m) > 0 {
			n++
		}
	}
	return n
}
