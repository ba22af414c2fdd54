package kess

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
)

func mustTable(t testing.TB, doc string) *RouteTable {
	t.Helper()
	tab, err := ParseRouteTable([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestParseRouteTable(t *testing.T) {
	doc := `{"format":1,"service":"checkout","revision":42,"extra":true,"instances":[
	 {"id":"b","host":"web-12","address":"127.0.0.1:8080","datacenter":"dc1","weight":100,
	  "state":"suspect","health":"up","metadata":{"version":"1.4.2"},"registered_ms":1,
	  "check_status":"critical","check_output":"HTTP 500"},
	 {"id":"a","host":"web-13","address":"127.0.0.1:8081","datacenter":"dc2","weight":5}]}`
	tab := mustTable(t, doc)
	if tab.Service != "checkout" || tab.Revision != 42 || len(tab.Instances) != 2 {
		t.Fatalf("%+v", tab)
	}
	a, b := tab.Instances[0], tab.Instances[1]
	if a.ID != "a" || a.State != StateHealthy || a.Health != "up" || b.State != StateSuspect ||
		b.Metadata["version"] != "1.4.2" || b.CheckStatus != "critical" {
		t.Fatalf("%+v %+v", a, b)
	}
	inst := `{"id":"a","host":"h","address":"127.0.0.1:1","datacenter":"dc1","weight":1}`
	for name, bad := range map[string]string{
		"format 2":       `{"format":2,"service":"s","instances":[]}`,
		"no instances":   `{"format":1,"service":"s"}`,
		"bad service":    `{"format":1,"service":"a/b","instances":[]}`,
		"weight 0":       `{"format":1,"service":"s","instances":[` + strings.Replace(inst, `"weight":1`, `"weight":0`, 1) + `]}`,
		"weight 10001":   `{"format":1,"service":"s","instances":[` + strings.Replace(inst, `"weight":1`, `"weight":10001`, 1) + `]}`,
		"no port":        `{"format":1,"service":"s","instances":[` + strings.Replace(inst, `127.0.0.1:1`, `127.0.0.1`, 1) + `]}`,
		"port 0":         `{"format":1,"service":"s","instances":[` + strings.Replace(inst, `127.0.0.1:1`, `127.0.0.1:0`, 1) + `]}`,
		"unknown state":  `{"format":1,"service":"s","instances":[` + strings.Replace(inst, `"weight":1`, `"weight":1,"state":"gone"`, 1) + `]}`,
		"bad health":     `{"format":1,"service":"s","instances":[` + strings.Replace(inst, `"weight":1`, `"weight":1,"health":"UP"`, 1) + `]}`,
		"bad check":      `{"format":1,"service":"s","instances":[` + strings.Replace(inst, `"weight":1`, `"weight":1,"check_status":"ok"`, 1) + `]}`,
		"duplicate id":   `{"format":1,"service":"s","instances":[` + inst + `,` + inst + `]}`,
		"missing host":   `{"format":1,"service":"s","instances":[` + strings.Replace(inst, `"host":"h",`, ``, 1) + `]}`,
		"weight string":  `{"format":1,"service":"s","instances":[` + strings.Replace(inst, `"weight":1`, `"weight":"1"`, 1) + `]}`,
		"not json":       `{"format":1`,
		"metadata int":   `{"format":1,"service":"s","instances":[` + strings.Replace(inst, `"weight":1`, `"weight":1,"metadata":{"a":1}`, 1) + `]}`,
		"metadata names": `{"format":1,"service":"s","instances":[` + strings.Replace(inst, `"weight":1`, `"weight":1,"metadata":{"a b":"1"}`, 1) + `]}`,
	} {
		if _, err := ParseRouteTable([]byte(bad)); !errors.Is(err, ErrInvalidTable) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func snapshotOf(t testing.TB, in ...RouteInstance) *Snapshot {
	return NewSnapshot(mustTable(t, tableJSON("svc", 1, in...)))
}

// chiSquare of counts against expected shares; fails above the critical
// value of p = 1e-6 for the degrees of freedom (Wilson-Hilferty).
func chiSquareOK(counts map[string]int, shares map[string]float64, n int) (float64, bool) {
	stat := 0.0
	for id, share := range shares {
		e := share * float64(n)
		d := float64(counts[id]) - e
		stat += d * d / e
	}
	k := float64(len(shares) - 1)
	z := 4.753 // one-sided p = 1e-6
	crit := k * math.Pow(1-2/(9*k)+z*math.Sqrt(2/(9*k)), 3)
	return stat, stat < crit
}

func TestWeightedRandomFollowsWeights(t *testing.T) {
	var in []RouteInstance
	shares := map[string]float64{}
	total := 0
	for i, w := range []int{1, 10, 100, 1000, 10000, 500, 37} {
		id := fmt.Sprintf("i%d", i)
		in = append(in, RouteInstance{ID: id, Weight: w})
		total += w
	}
	for _, x := range in {
		shares[x.ID] = float64(x.Weight) / float64(total)
	}
	s := snapshotOf(t, in...)
	r := NewRandom(42)
	counts := map[string]int{}
	const n = 300000
	for i := 0; i < n; i++ {
		p, err := SelectInstance(WeightedRandom{}, s, nil, "", 0, r)
		if err != nil {
			t.Fatal(err)
		}
		counts[p.ID]++
	}
	if stat, ok := chiSquareOK(counts, shares, n); !ok {
		t.Fatalf("chi-square %v: %v", stat, counts)
	}
	// The test can fail: equal shares do not fit these counts.
	equal := map[string]float64{}
	for id := range shares {
		equal[id] = 1.0 / float64(len(shares))
	}
	if _, ok := chiSquareOK(counts, equal, n); ok {
		t.Fatal("chi-square accepted a wrong distribution")
	}
}

func TestHRWIsStableAndMovesOnlyNewShare(t *testing.T) {
	var in []RouteInstance
	for i := 0; i < 20; i++ {
		in = append(in, RouteInstance{ID: fmt.Sprintf("inst-%02d", i)})
	}
	before := snapshotOf(t, in...)
	after := snapshotOf(t, append(append([]RouteInstance(nil), in...), RouteInstance{ID: "inst-new"})...)
	moved := 0
	const keys = 20000
	for k := 0; k < keys; k++ {
		key := fmt.Sprintf("user-%d", k)
		a, _ := SelectInstance(HRW{}, before, nil, key, 0, nil)
		a2, _ := SelectInstance(HRW{}, before, nil, key, 0, nil)
		b, _ := SelectInstance(HRW{}, after, nil, key, 0, nil)
		if a.ID != a2.ID {
			t.Fatalf("key %s: %s then %s", key, a.ID, a2.ID)
		}
		if a.ID != b.ID {
			moved++
			if b.ID != "inst-new" {
				t.Fatalf("key %s moved from %s to %s", key, a.ID, b.ID)
			}
		}
	}
	if share := float64(moved) / keys; math.Abs(share-1.0/21) > 0.01 {
		t.Fatalf("moved %v of the keys, want about 1/21", share)
	}
}

func TestHRWWeightedMatchesUniformPathAndWeights(t *testing.T) {
	// Equal weights: the fast path (largest hash) and the weighted path
	// (smallest -log2(u)/w) must agree.
	var in []RouteInstance
	for i := 0; i < 10; i++ {
		in = append(in, RouteInstance{ID: fmt.Sprintf("i%d", i)})
	}
	s := snapshotOf(t, in...)
	g := &s.Groups(StateHealthy).All
	for k := 0; k < 2000; k++ {
		key := fmt.Sprint(k)
		fast, _ := HRW{}.Select(s, SelectContext{Key: key, Group: g, State: StateHealthy})
		idx := hrwWeighted(g, SelectContext{Key: key, Group: g}, StableHash(key))
		if s.Instance(g.Members[idx]).ID != fast.ID {
			t.Fatalf("key %s: %s vs %s", key, fast.ID, s.Instance(g.Members[idx]).ID)
		}
	}
	// Weighted shares: 1:2:7.
	s = snapshotOf(t, RouteInstance{ID: "a", Weight: 10}, RouteInstance{ID: "b", Weight: 20}, RouteInstance{ID: "c", Weight: 70})
	counts := map[string]int{}
	const n = 100000
	for k := 0; k < n; k++ {
		p, _ := SelectInstance(HRW{}, s, nil, fmt.Sprintf("key-%d", k), 0, nil)
		counts[p.ID]++
	}
	if stat, ok := chiSquareOK(counts, map[string]float64{"a": 0.1, "b": 0.2, "c": 0.7}, n); !ok {
		t.Fatalf("chi-square %v: %v", stat, counts)
	}
}

func TestTiers(t *testing.T) {
	s := snapshotOf(t,
		RouteInstance{ID: "d", State: StateDisabled},
		RouteInstance{ID: "h", State: StateHealthy},
		RouteInstance{ID: "s", State: StateSuspect})
	for i := 0; i < 100; i++ {
		if p, err := SelectInstance(WeightedRandom{}, s, nil, "", 0, nil); err != nil || p.ID != "h" {
			t.Fatalf("%v %v", p, err)
		}
	}
	tr := NewFailureTracker(DefaultFailoverOptions())
	tr.ReportFailure("h", 1000)
	a := tr.Build(s, 1000)
	if p, _ := SelectInstance(HRW{}, s, a, "k", 1000, nil); p.ID != "s" {
		t.Fatalf("healthy ejected: picked %s, want the suspect one", p.ID)
	}
	tr.ReportFailure("s", 1100)
	a = tr.Build(s, 1100)
	if p, _ := SelectInstance(WeightedRandom{}, s, a, "", 1100, nil); p.ID != "h" {
		t.Fatalf("all ejected: picked %s, want the least recently ejected (h)", p.ID)
	}
	only := snapshotOf(t, RouteInstance{ID: "d", State: StateDisabled})
	if _, err := SelectInstance(WeightedRandom{}, only, nil, "", 0, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("only disabled: %v", err)
	}
}

func TestLocalFirst(t *testing.T) {
	b, err := NewBalancer("local_first", BalancerOptions{LocalDatacenter: "dc1", MinLocalHealthy: 2})
	if err != nil {
		t.Fatal(err)
	}
	s := snapshotOf(t,
		RouteInstance{ID: "l1", Datacenter: "dc1"}, RouteInstance{ID: "l2", Datacenter: "dc1"},
		RouteInstance{ID: "r1", Datacenter: "dc2"}, RouteInstance{ID: "r2", Datacenter: "dc2"})
	for i := 0; i < 200; i++ {
		p, _ := SelectInstance(b, s, nil, "", 0, nil)
		if !strings.HasPrefix(p.ID, "l") {
			t.Fatalf("picked %s with 2 local instances", p.ID)
		}
	}
	tr := NewFailureTracker(DefaultFailoverOptions())
	tr.ReportFailure("l1", 10)
	a := tr.Build(s, 10)
	remote := 0
	for i := 0; i < 400; i++ {
		p, _ := SelectInstance(b, s, a, "", 10, nil)
		if p.ID == "l1" {
			t.Fatal("picked the ejected instance")
		}
		if strings.HasPrefix(p.ID, "r") {
			remote++
		}
	}
	if remote < 200 { // 2 of 3 available are remote
		t.Fatalf("below the minimum only %d of 400 picks were remote", remote)
	}
	if _, err := NewBalancer("local_first", BalancerOptions{}); err == nil {
		t.Fatal("local_first without a datacenter accepted")
	}
	if _, err := NewBalancer("local_first", BalancerOptions{LocalDatacenter: "x", LocalFirstInner: "local_first"}); err == nil {
		t.Fatal("local_first inside local_first accepted")
	}
}

var registryRuns atomic.Int64

type firstBalancer struct{}

func (firstBalancer) Select(s *Snapshot, ctx SelectContext) (*RouteInstance, error) {
	for _, m := range ctx.Group.Members {
		if ctx.Factor(m) > 0 {
			return s.Instance(m), nil
		}
	}
	return nil, fmt.Errorf("%w: none", ErrNotFound)
}

func TestRegistry(t *testing.T) {
	name := fmt.Sprintf("first_go_test_%d", registryRuns.Add(1)) // -count=N runs it again
	if err := RegisterBalancer(name, func(BalancerOptions) (Balancer, error) { return firstBalancer{}, nil }); err != nil {
		t.Fatal(err)
	}
	if err := RegisterBalancer("hrw", nil); err == nil {
		t.Fatal("hrw registered twice")
	}
	b, err := NewBalancer(name, BalancerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := snapshotOf(t, RouteInstance{ID: "x"}, RouteInstance{ID: "y"})
	if p, _ := SelectInstance(b, s, nil, "", 0, nil); p.ID != "x" {
		t.Fatal(p.ID)
	}
	if _, err := NewBalancer("nope", BalancerOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

func TestFailureTracker(t *testing.T) {
	s := snapshotOf(t, RouteInstance{ID: "a"}, RouteInstance{ID: "b"})
	tr := NewFailureTracker(DefaultFailoverOptions())
	if tr.Build(s, 0) != nil {
		t.Fatal("availability without failures")
	}
	if !tr.ReportFailure("a", 1000) {
		t.Fatal("first failure did not eject")
	}
	if tr.ReportFailure("a", 1500) { // in flight while ejected: ignored
		t.Fatal("failure during ejection counted")
	}
	a := tr.Build(s, 1500)
	if a.Factor(0, 1500) != 0 || a.Factor(1, 1500) != 1 {
		t.Fatal("a not ejected for 1 s")
	}
	if f := a.Factor(0, 2500); math.Abs(f-(0.1+0.9*0.5)) > 1e-12 {
		t.Fatalf("ramp at half way: %v", f)
	}
	if a.Factor(0, 3000) != 1 || a.ActiveAt(3000) {
		t.Fatal("not recovered after 2 s")
	}
	// Second failure in a row: 2 s; third: 4 s; ... capped at 30 s.
	tr.ReportFailure("a", 3000)
	if e := tr.Build(s, 3000).Entry(0); e.UntilMs != 5000 || e.RecoveredMs != 7000 {
		t.Fatalf("second failure: %+v", e)
	}
	for i, now := 0, int64(7000); i < 10; i++ {
		tr.ReportFailure("a", now)
		now = tr.Build(s, now).Entry(0).UntilMs
	}
	if e := tr.Build(s, 100000).Entry(0); e.UntilMs-e.EjectedMs != 30000 {
		t.Fatalf("not capped at 30 s: %+v", e)
	}
	// Three successes forget the failures.
	tr.ReportSuccess("a", 100000)
	tr.ReportSuccess("a", 100000)
	if !tr.ReportSuccess("a", 100000) || tr.Failures("a") != 0 || tr.Build(s, 100000) != nil {
		t.Fatal("3 successes did not reset")
	}
	// 60 s quiet after the recovery forget them too.
	tr.ReportFailure("b", 200000) // until 201000, recovered 202000
	if tr.Failures("b") != 1 {
		t.Fatal("no failure on record")
	}
	tr.Build(s, 261999)
	if tr.Failures("b") != 1 {
		t.Fatal("forgotten too early")
	}
	tr.Build(s, 262000)
	if tr.Failures("b") != 0 {
		t.Fatal("not forgotten after 60 s")
	}
}

func TestAliasTableExactShares(t *testing.T) {
	// Every column's threshold out of 2^32 adds up to each member's exact
	// share of n * 2^32.
	weights := []uint64{3, 1, 4, 1, 5, 9, 2, 6}
	total := uint64(0)
	for _, w := range weights {
		total += w
	}
	alias := makeAlias(weights, total)
	mass := make([]float64, len(weights))
	for c, col := range alias {
		mass[c] += float64(col.threshold)
		mass[col.alias] += float64(uint64(1<<32) - col.threshold)
	}
	for i, w := range weights {
		want := float64(w) / float64(total) * float64(len(weights)) * (1 << 32)
		if math.Abs(mass[i]-want) > float64(len(weights)) {
			t.Errorf("member %d: %v of %v", i, mass[i], want)
		}
	}
}
