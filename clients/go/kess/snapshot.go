package kess

import (
	"math/bits"
	"sort"
)

// InstanceGroup is the instances of one state (and possibly one
// datacenter) of a Snapshot, with what the balancers need precomputed.
// Member i is instance Members[i] of the snapshot; every other slice is
// indexed like Members. Immutable.
type InstanceGroup struct {
	Members       []uint32 // indices into the table, in id order
	alias         []aliasColumn
	IDHash        []uint64  // StableHash(instance id)
	InverseWeight []float64 // 1 / weight
	TotalWeight   uint64
	UniformWeight bool // every member has the same weight
}

// Walker/Vose alias table column: draw a column c uniformly, take c if a
// uniform 32-bit number is below threshold (out of 2^32), else alias.
type aliasColumn struct {
	threshold uint64
	alias     uint32
}

// Len is the number of members.
func (g *InstanceGroup) Len() int { return len(g.Members) }

// Draw returns a position in Members drawn by weight from one 64-bit
// random number (the high half picks the column, the low half decides it),
// exactly as the C++ SDK. REQUIRES: Len() > 0.
func (g *InstanceGroup) Draw(random uint64) int {
	column := ((random >> 32) * uint64(len(g.Members))) >> 32
	c := &g.alias[column]
	if random&0xffffffff < c.threshold {
		return int(column)
	}
	return int(c.alias)
}

// StateGroups is the groups of one state: all of them, and per datacenter.
type StateGroups struct {
	All          InstanceGroup
	datacenters  []string // sorted
	byDatacenter []InstanceGroup
}

// Datacenter returns the group of one datacenter, nil if it has no
// instance in this state.
func (s *StateGroups) Datacenter(dc string) *InstanceGroup {
	i := sort.SearchStrings(s.datacenters, dc)
	if i < len(s.datacenters) && s.datacenters[i] == dc {
		return &s.byDatacenter[i]
	}
	return nil
}

// Snapshot is one route table version prepared for picking: built once
// per version (O(n log n)) and then shared, immutable, by every pick.
// Disabled instances are in no group.
type Snapshot struct {
	table   *RouteTable
	healthy StateGroups
	suspect StateGroups
}

// NewSnapshot prepares a table for picking. The table must not be changed
// afterwards; instances not sorted by id are sorted in a copy.
func NewSnapshot(t *RouteTable) *Snapshot {
	if !sort.SliceIsSorted(t.Instances, func(a, b int) bool { return t.Instances[a].ID < t.Instances[b].ID }) {
		c := *t
		c.Instances = append([]RouteInstance(nil), t.Instances...)
		sort.Slice(c.Instances, func(a, b int) bool { return c.Instances[a].ID < c.Instances[b].ID })
		t = &c
	}
	return &Snapshot{
		table:   t,
		healthy: makeStateGroups(t, StateHealthy),
		suspect: makeStateGroups(t, StateSuspect),
	}
}

// Table is the snapshot's route table.
func (s *Snapshot) Table() *RouteTable { return s.table }

// Len is the number of instances in the table.
func (s *Snapshot) Len() int { return len(s.table.Instances) }

// Instance returns instance `index` of the table.
func (s *Snapshot) Instance(index uint32) *RouteInstance { return &s.table.Instances[index] }

// Groups returns the groups of StateHealthy or StateSuspect.
func (s *Snapshot) Groups(state string) *StateGroups {
	if state == StateHealthy {
		return &s.healthy
	}
	return &s.suspect
}

// IndexOf returns the index of the instance with this id.
func (s *Snapshot) IndexOf(id string) (uint32, bool) {
	in := s.table.Instances
	i := sort.Search(len(in), func(i int) bool { return in[i].ID >= id })
	if i < len(in) && in[i].ID == id {
		return uint32(i), true
	}
	return 0, false
}

func makeStateGroups(t *RouteTable, state string) StateGroups {
	var all []uint32
	byDC := map[string][]uint32{}
	for i := range t.Instances {
		if t.Instances[i].State != state {
			continue
		}
		all = append(all, uint32(i))
		byDC[t.Instances[i].Datacenter] = append(byDC[t.Instances[i].Datacenter], uint32(i))
	}
	g := StateGroups{All: makeGroup(t, all)}
	for dc := range byDC {
		g.datacenters = append(g.datacenters, dc)
	}
	sort.Strings(g.datacenters)
	for _, dc := range g.datacenters {
		g.byDatacenter = append(g.byDatacenter, makeGroup(t, byDC[dc]))
	}
	return g
}

func makeGroup(t *RouteTable, members []uint32) InstanceGroup {
	g := InstanceGroup{
		Members:       members,
		IDHash:        make([]uint64, 0, len(members)),
		InverseWeight: make([]float64, 0, len(members)),
		UniformWeight: true,
	}
	weights := make([]uint64, 0, len(members))
	for _, index := range members {
		in := &t.Instances[index]
		w := in.Weight
		if w < 1 {
			w = 1
		}
		weights = append(weights, uint64(w))
		g.TotalWeight += uint64(w)
		g.IDHash = append(g.IDHash, StableHash(in.ID))
		g.InverseWeight = append(g.InverseWeight, 1.0/float64(w))
		g.UniformWeight = g.UniformWeight && uint64(w) == weights[0]
	}
	g.alias = makeAlias(weights, g.TotalWeight)
	return g
}

// makeAlias is Vose's alias method in integers, step for step the C++
// SDK's, so the table (and every seeded draw) is the same in every
// language.
func makeAlias(weights []uint64, total uint64) []aliasColumn {
	n := uint64(len(weights))
	alias := make([]aliasColumn, n)
	scaled := make([]uint64, n)
	var small, large []uint32
	for i, w := range weights {
		scaled[i] = w * n
		if scaled[i] < total {
			small = append(small, uint32(i))
		} else {
			large = append(large, uint32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		q, _ := bits.Div64(scaled[s]>>32, scaled[s]<<32, total)
		alias[s] = aliasColumn{threshold: q, alias: l}
		scaled[l] -= total - scaled[s]
		if scaled[l] < total {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	for _, i := range small {
		alias[i] = aliasColumn{1 << 32, i}
	}
	for _, i := range large {
		alias[i] = aliasColumn{1 << 32, i}
	}
	return alias
}
