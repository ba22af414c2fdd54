package kess

// The shared conformance vectors (clients/conformance/README.md): the
// answers the C++ SDK gives, which this client must give too.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// vectorsDir is $KESS_CONFORMANCE_VECTORS, else the repository's
// clients/conformance/vectors next to this module.
func vectorsDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("KESS_CONFORMANCE_VECTORS"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err != nil {
			t.Fatalf("KESS_CONFORMANCE_VECTORS=%s: %v", dir, err)
		}
		return dir
	}
	dir, _ := filepath.Abs("../../conformance/vectors")
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err != nil {
		t.Skipf("no conformance vectors at %s (set KESS_CONFORMANCE_VECTORS)", dir)
	}
	return dir
}

func loadJSON(t *testing.T, path string, out interface{}) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// cacheOnly is the Options of a client that reads only the cache
// directory `cache` and polls when the test says (PollNow).
func cacheOnly(cache string) Options {
	return Options{CacheDir: cache, NoAgent: true, PollInterval: time.Hour, Logger: quiet}
}

// placeStep makes a sequence step's file (a path in the vectors `dir`)
// the cache file of k in `cache`, or removes that file where it is nil.
func placeStep(t *testing.T, dir, cache string, k Key, file *string) {
	t.Helper()
	if file == nil {
		if err := os.Remove(filepath.Join(cache, k.RelativePath())); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(filepath.Join(dir, *file))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cache, k, data)
}

// sameRevisions is whether a step delivered the revisions the vector
// lists (none and an empty list alike).
func sameRevisions(got, want []int64) bool {
	return fmt.Sprint(got) == fmt.Sprint(want) || (len(got) == 0 && len(want) == 0)
}

func hex64(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return v
}

func TestConformanceHashes(t *testing.T) {
	dir := vectorsDir(t)
	var v struct {
		StableHash []struct {
			InputB64   string `json:"input_b64"`
			StableHash string `json:"stable_hash"`
		} `json:"stable_hash"`
		HashPair []struct {
			Key, ID               string
			KeyHash, IDHash, Pair string
			NegLog2               float64 `json:"neg_log2"`
			KeyHashJ              string  `json:"key_hash"`
			IDHashJ               string  `json:"id_hash"`
		} `json:"hash_pair"`
		NegLog2 []struct {
			H       string
			NegLog2 float64 `json:"neg_log2"`
		} `json:"neg_log2"`
		FastRandom []struct {
			Seed           string
			Next           []string
			ThenUnitDouble []float64 `json:"then_unit_double"`
		} `json:"fast_random"`
		AliasTables []struct {
			Weights     []uint64
			Threshold   []uint64
			Alias       []uint32
			DrawsSeeded []int `json:"draws_seeded"`
		} `json:"alias_tables"`
	}
	loadJSON(t, filepath.Join(dir, "hashes.json"), &v)
	if len(v.StableHash) == 0 || len(v.HashPair) == 0 || len(v.NegLog2) == 0 || len(v.FastRandom) == 0 || len(v.AliasTables) == 0 {
		t.Fatal("hashes.json: a section is empty")
	}
	for _, c := range v.StableHash {
		in, _ := base64.StdEncoding.DecodeString(c.InputB64)
		if got := StableHash(string(in)); got != hex64(t, c.StableHash) {
			t.Errorf("StableHash(%q) = %016x, want %s", in, got, c.StableHash)
		}
	}
	for _, c := range v.HashPair {
		kh, ih := StableHash(c.Key), StableHash(c.ID)
		if kh != hex64(t, c.KeyHashJ) || ih != hex64(t, c.IDHashJ) {
			t.Errorf("%s/%s: hashes %016x %016x", c.Key, c.ID, kh, ih)
		}
		p := HashPair(kh, ih)
		if p != hex64(t, c.Pair) {
			t.Errorf("HashPair(%s, %s) = %016x, want %s", c.Key, c.ID, p, c.Pair)
		}
		if got := HrwNegLog2(p); math.Abs(got-c.NegLog2) > 1e-9 {
			t.Errorf("NegLog2(%016x) = %v, want %v", p, got, c.NegLog2)
		}
	}
	for _, c := range v.NegLog2 {
		if got := HrwNegLog2(hex64(t, c.H)); math.Abs(got-c.NegLog2) > 1e-9 {
			t.Errorf("NegLog2(%s) = %v, want %v", c.H, got, c.NegLog2)
		}
	}
	for _, c := range v.FastRandom {
		r := NewRandom(hex64(t, c.Seed))
		for i, want := range c.Next {
			if got := r.Next(); got != hex64(t, want) {
				t.Errorf("seed %s: Next #%d = %016x, want %s", c.Seed, i, got, want)
			}
		}
		for i, want := range c.ThenUnitDouble {
			if got := r.r.unitDouble(); math.Abs(got-want) > 1e-15 {
				t.Errorf("seed %s: UnitDouble #%d = %v, want %v", c.Seed, i, got, want)
			}
		}
	}
	for _, c := range v.AliasTables {
		total := uint64(0)
		for _, w := range c.Weights {
			total += w
		}
		alias := makeAlias(c.Weights, total)
		for i := range alias {
			if alias[i].threshold != c.Threshold[i] || alias[i].alias != c.Alias[i] {
				t.Errorf("weights %v: column %d = %+v, want %d/%d", c.Weights, i, alias[i], c.Threshold[i], c.Alias[i])
			}
		}
		g := InstanceGroup{Members: make([]uint32, len(c.Weights)), alias: alias}
		r := NewRandom(0x6b657373)
		for i, want := range c.DrawsSeeded {
			if got := g.Draw(r.Next()); got != want {
				t.Errorf("weights %v: draw %d = %d, want %d", c.Weights, i, got, want)
			}
		}
	}
}

type expectedRead struct {
	Outcome     string
	Revision    int64
	ValueB64    *string `json:"value_b64"`
	ContentType string  `json:"content_type"`
	MtimeMs     int64   `json:"mtime_ms"`
	Reason      string
	Error       string
	IDs         []string
}

// checkRead compares a Get of a config with an expectation of 3.4 / 3.5.
func checkRead(t *testing.T, what string, v ConfigValue, err error, want expectedRead) {
	t.Helper()
	switch want.Outcome {
	case "value":
		if err != nil {
			t.Errorf("%s: %v, want a value", what, err)
			return
		}
		wantValue, _ := base64.StdEncoding.DecodeString(*want.ValueB64)
		if string(v.Value) != string(wantValue) || v.Revision != want.Revision || v.ContentType != want.ContentType ||
			v.MtimeMs != want.MtimeMs || v.Deleted {
			t.Errorf("%s: got %+v, want %+v (value %q)", what, v, want, wantValue)
		}
	case "absent":
		if !errors.Is(err, ErrNotFound) || !v.Deleted || v.Revision != want.Revision {
			t.Errorf("%s: got %+v, %v; want a tombstone at %d", what, v, err, want.Revision)
		}
	case "rejected":
		if got := GarbledReason(err); got != want.Reason {
			t.Errorf("%s: reason %q (%v), want %q", what, got, err, want.Reason)
		}
	case "none":
		switch want.Error {
		case "not_found":
			if !errors.Is(err, ErrNotFound) || GarbledReason(err) != "" || v.Revision != 0 {
				t.Errorf("%s: got %+v, %v; want not found", what, v, err)
			}
		case "rejected":
			if got := GarbledReason(err); got != want.Reason {
				t.Errorf("%s: reason %q (%v), want %q", what, got, err, want.Reason)
			}
		default:
			t.Fatalf("%s: unknown error %q", what, want.Error)
		}
	default:
		t.Fatalf("%s: unknown outcome %q", what, want.Outcome)
	}
}

func TestConformanceConfigFiles(t *testing.T) {
	dir := vectorsDir(t)
	var v struct {
		Cases []struct {
			Name, File, Namespace, Key string
			Expect                     expectedRead
		}
	}
	loadJSON(t, filepath.Join(dir, "config_files.json"), &v)
	if len(v.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range v.Cases {
		cache := t.TempDir()
		data, err := os.ReadFile(filepath.Join(dir, c.File))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, cache, ConfigKey(c.Namespace, c.Key), data)
		client, err := NewConfigClient(cacheOnly(cache))
		if err != nil {
			t.Fatal(err)
		}
		got, err := client.Get(c.Namespace, c.Key) // unwatched: read now
		checkRead(t, c.Name+" (Get)", got, err, c.Expect)
		h, err := client.Watch(c.Namespace, c.Key, func(ConfigValue) {})
		if err != nil {
			t.Fatal(err)
		}
		got, err = client.Get(c.Namespace, c.Key) // watched: the held version
		checkRead(t, c.Name+" (watched)", got, err, c.Expect)
		h.Stop()
		client.Close()
	}
}

func TestConformanceConfigSequences(t *testing.T) {
	dir := vectorsDir(t)
	var v struct {
		Sequences []struct {
			Name, Namespace, Key string
			Steps                []struct {
				Description string
				File        *string
				Held        expectedRead
				Delivered   []int64
			}
		}
	}
	loadJSON(t, filepath.Join(dir, "config_sequences.json"), &v)
	if len(v.Sequences) == 0 {
		t.Fatal("no sequences")
	}
	for _, seq := range v.Sequences {
		cache := t.TempDir()
		k := ConfigKey(seq.Namespace, seq.Key)
		client, err := NewConfigClient(cacheOnly(cache))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var delivered []int64
		h, err := client.Watch(seq.Namespace, seq.Key, func(v ConfigValue) {
			mu.Lock()
			delivered = append(delivered, v.Revision)
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		client.PollNow()
		for i, step := range seq.Steps {
			placeStep(t, dir, cache, k, step.File)
			client.PollNow()
			what := fmt.Sprintf("%s step %d (%s)", seq.Name, i, step.Description)
			got, err := client.Get(seq.Namespace, seq.Key)
			checkRead(t, what, got, err, step.Held)
			mu.Lock()
			if !sameRevisions(delivered, step.Delivered) {
				t.Errorf("%s: delivered %v, want %v", what, delivered, step.Delivered)
			}
			delivered = nil
			mu.Unlock()
		}
		h.Stop()
		client.Close()
	}
}

func TestConformanceRouteFiles(t *testing.T) {
	dir := vectorsDir(t)
	var v struct {
		Cases []struct {
			Name, File, Service string
			Expect              expectedRead
		}
	}
	loadJSON(t, filepath.Join(dir, "route_files.json"), &v)
	if len(v.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range v.Cases {
		cache := t.TempDir()
		data, err := os.ReadFile(filepath.Join(dir, c.File))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, cache, RouteKey(c.Service), data)
		// The reason, from the reader and the table decoder Discovery uses.
		reason := ""
		if e, err := ReadEntry(cache, RouteKey(c.Service)); err != nil {
			reason = "garbled_file"
		} else if _, err := RouteTableOf(c.Service, e); errors.Is(err, ErrWrongService) {
			reason = "wrong_service"
		} else if errors.Is(err, ErrInvalidTable) {
			reason = "invalid_table"
		} else if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		// The outcome, from Discovery.
		d, err := NewDiscovery(DiscoveryOptions{Options: cacheOnly(cache)})
		if err != nil {
			t.Fatal(err)
		}
		table, err := d.Table(c.Service)
		d.Close()
		switch c.Expect.Outcome {
		case "table":
			if err != nil || reason != "" {
				t.Errorf("%s: %v (%s), want a table", c.Name, err, reason)
				continue
			}
			var ids []string
			for _, in := range table.Instances {
				ids = append(ids, in.ID)
			}
			if table.Revision != c.Expect.Revision || fmt.Sprint(ids) != fmt.Sprint(c.Expect.IDs) {
				t.Errorf("%s: revision %d ids %v, want %d %v", c.Name, table.Revision, ids, c.Expect.Revision, c.Expect.IDs)
			}
		case "rejected":
			if !errors.Is(err, ErrNotFound) || reason != c.Expect.Reason {
				t.Errorf("%s: table %v, %v, reason %q; want rejected for %q", c.Name, table, err, reason, c.Expect.Reason)
			}
		default:
			t.Fatalf("%s: unknown outcome %q", c.Name, c.Expect.Outcome)
		}
	}
}

type vecPolicy struct {
	Name            string
	LocalDatacenter string `json:"local_datacenter"`
	MinLocalHealthy int    `json:"min_local_healthy"`
	Inner           string
}

type vecOptions struct {
	InitialEjectionMs int64   `json:"initial_ejection_ms"`
	MaxEjectionMs     int64   `json:"max_ejection_ms"`
	RecoveringWeight  float64 `json:"recovering_weight"`
	SuccessesToReset  int     `json:"successes_to_reset"`
	ForgetAfterMs     int64   `json:"forget_after_ms"`
}

func (o vecOptions) failover() FailoverOptions {
	return FailoverOptions{
		InitialEjection:  time.Duration(o.InitialEjectionMs) * time.Millisecond,
		MaxEjection:      time.Duration(o.MaxEjectionMs) * time.Millisecond,
		RecoveringWeight: o.RecoveringWeight, SuccessesToReset: o.SuccessesToReset,
		ForgetAfter: time.Duration(o.ForgetAfterMs) * time.Millisecond,
	}
}

type vecExpect struct {
	Tier     string
	Eligible []struct {
		ID    string
		Share float64
	}
	HrwPicks       []string `json:"hrw_picks"`
	RandomSequence *struct {
		Seed  string
		Picks []string
	} `json:"random_sequence"`
	Factors  map[string]float64
	Failures map[string]int
}

type empirical struct {
	Draws  int
	Sigmas float64
}

// picker is one client for a scenario or a failover sequence: a Discovery
// on vectors/cache with a manual clock, and a tracker run alongside it for
// the factors and failure counts.
type picker struct {
	t       *testing.T
	d       *Discovery
	clock   *manualClock
	tracker *FailureTracker
	service string
	policy  vecPolicy
	snap    *Snapshot
}

func newPicker(t *testing.T, dir, service string, policy vecPolicy, o FailoverOptions) *picker {
	clock := &manualClock{}
	d, err := NewDiscovery(DiscoveryOptions{
		Options:  Options{CacheDir: filepath.Join(dir, "cache"), NoAgent: true, PollInterval: time.Hour, Logger: quiet},
		Balancer: policy.Name, LocalDatacenter: policy.LocalDatacenter, MinLocalHealthy: policy.MinLocalHealthy,
		LocalFirstInner: policy.Inner, Failover: o, NowMs: clock.now,
	})
	if err != nil {
		t.Fatalf("%s %+v: %v", service, policy, err)
	}
	table, err := d.Table(service)
	if err != nil {
		t.Fatalf("%s: %v", service, err)
	}
	return &picker{t: t, d: d, clock: clock, tracker: NewFailureTracker(d.o.Failover), service: service,
		policy: policy, snap: NewSnapshot(table)}
}

func (p *picker) report(id, result string, tMs int64) bool {
	p.clock.ms = tMs
	switch result {
	case "failure":
		p.d.ReportFailure(p.service, id)
		return p.tracker.ReportFailure(id, tMs)
	case "success":
		p.d.ReportSuccess(p.service, id)
		return p.tracker.ReportSuccess(id, tMs)
	}
	p.t.Fatalf("unknown report %q", result)
	return false
}

// check compares the picks at time nowMs with an expectation.
func (p *picker) check(what string, nowMs int64, keys []string, want vecExpect, emp empirical) {
	t := p.t
	p.clock.ms = nowMs
	avail := p.tracker.Build(p.snap, nowMs)
	for id, f := range want.Factors {
		index, ok := p.snap.IndexOf(id)
		if !ok {
			t.Errorf("%s: factor of unknown id %s", what, id)
			continue
		}
		got := 1.0
		if avail != nil {
			got = avail.Factor(index, nowMs)
		}
		if math.Abs(got-f) > 1e-9 {
			t.Errorf("%s: factor of %s = %v, want %v", what, id, got, f)
		}
	}
	if avail != nil {
		for i := range p.snap.table.Instances {
			id := p.snap.table.Instances[i].ID
			if _, listed := want.Factors[id]; !listed && avail.Factor(uint32(i), nowMs) != 1 {
				t.Errorf("%s: factor of %s = %v, want 1", what, id, avail.Factor(uint32(i), nowMs))
			}
		}
	}
	if want.Failures != nil {
		for id, n := range want.Failures {
			if got := p.tracker.Failures(id); got != n {
				t.Errorf("%s: failures of %s = %d, want %d", what, id, got, n)
			}
		}
	}
	if want.Tier == "none" {
		if _, err := p.d.Select(p.service, "k"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: picked with no instance: %v", what, err)
		}
		return
	}
	eligible := map[string]float64{}
	for _, e := range want.Eligible {
		eligible[e.ID] = e.Share
	}
	tierOK := func(in *RouteInstance) bool {
		if _, ok := eligible[in.ID]; !ok {
			return false
		}
		return want.Tier == "last_resort" || in.State == want.Tier
	}
	inner := p.policy.Name
	if inner == "local_first" {
		inner = p.policy.Inner
	}
	if inner == "hrw" {
		if len(keys) != len(want.HrwPicks) {
			t.Fatalf("%s: %d keys, %d picks", what, len(keys), len(want.HrwPicks))
		}
		for i, key := range keys {
			in, err := p.d.Select(p.service, key)
			if err != nil || in.ID != want.HrwPicks[i] || !tierOK(in) {
				t.Errorf("%s: key %s picked %v (%v), want %s", what, key, in, err, want.HrwPicks[i])
				return
			}
		}
		return
	}
	if want.RandomSequence != nil {
		b, _ := p.d.Balancer(p.policy.Name)
		r := NewRandom(hex64(t, want.RandomSequence.Seed))
		for i, id := range want.RandomSequence.Picks {
			in, err := p.d.SelectWith(p.service, "", b, r)
			if err != nil || in.ID != id {
				t.Errorf("%s: seeded pick %d = %v (%v), want %s", what, i, in, err, id)
				break
			}
		}
	}
	draws := emp.Draws
	if draws == 0 {
		draws = 100000
	}
	counts := map[string]int{}
	for i := 0; i < draws; i++ {
		in, err := p.d.Select(p.service, "")
		if err != nil || !tierOK(in) {
			t.Errorf("%s: picked %v (%v), eligible %v in tier %s", what, in, err, eligible, want.Tier)
			return
		}
		counts[in.ID]++
	}
	for id, share := range eligible {
		o := float64(counts[id]) / float64(draws)
		if math.Abs(o-share) > emp.Sigmas*math.Sqrt(share*(1-share)/float64(draws))+1/float64(draws) {
			t.Errorf("%s: %s picked %.5f of the time, want %.5f", what, id, o, share)
		}
	}
}

func TestConformanceScenarios(t *testing.T) {
	dir := vectorsDir(t)
	total := 0
	for _, file := range []string{"hrw.json", "weighted_random.json", "local_first.json", "tiers.json"} {
		var v struct {
			Empirical empirical
			Scenarios []struct {
				Name, Service string
				Policy        vecPolicy
				Failover      *struct {
					Options vecOptions
					Reports []struct {
						TMs    int64 `json:"t_ms"`
						ID     string
						Result string
					}
					NowMs int64 `json:"now_ms"`
				}
				Keys   []string
				Expect vecExpect
			}
		}
		loadJSON(t, filepath.Join(dir, file), &v)
		if v.Empirical.Sigmas == 0 {
			t.Fatalf("%s: no empirical bounds", file)
		}
		for _, s := range v.Scenarios {
			total++
			o := DefaultFailoverOptions()
			if s.Failover != nil {
				o = s.Failover.Options.failover()
			}
			p := newPicker(t, dir, s.Service, s.Policy, o)
			now := int64(0)
			if s.Failover != nil {
				for _, r := range s.Failover.Reports {
					p.report(r.ID, r.Result, r.TMs)
				}
				now = s.Failover.NowMs
			}
			p.check(s.Name, now, s.Keys, s.Expect, v.Empirical)
			p.d.Close()
		}
	}
	if total < 50 {
		t.Fatalf("only %d scenarios", total)
	}
}

func TestConformanceFailover(t *testing.T) {
	dir := vectorsDir(t)
	var v struct {
		Empirical *empirical
		Sequences []struct {
			Name, Service string
			Policy        vecPolicy
			Options       vecOptions
			Keys          []string
			Steps         []struct {
				TMs     int64 `json:"t_ms"`
				Report  string
				ID      string
				Changed *bool
				Check   *vecExpect
			}
		}
	}
	loadJSON(t, filepath.Join(dir, "failover.json"), &v)
	emp := empirical{Draws: 100000, Sigmas: 6}
	if v.Empirical != nil {
		emp = *v.Empirical
	}
	if len(v.Sequences) == 0 {
		t.Fatal("no sequences")
	}
	for _, seq := range v.Sequences {
		p := newPicker(t, dir, seq.Service, seq.Policy, seq.Options.failover())
		for i, step := range seq.Steps {
			what := fmt.Sprintf("%s step %d", seq.Name, i)
			if step.Report != "" {
				changed := p.report(step.ID, step.Report, step.TMs)
				if step.Changed != nil && changed != *step.Changed {
					t.Errorf("%s: %s of %s changed=%v, want %v", what, step.Report, step.ID, changed, *step.Changed)
				}
			}
			if step.Check != nil {
				p.check(what, step.TMs, seq.Keys, *step.Check, emp)
			}
		}
		p.d.Close()
	}
}

// 3.7: the last good route table over a sequence of route files, through
// Discovery.Watch and PollNow.
func TestConformanceRouteSequences(t *testing.T) {
	dir := vectorsDir(t)
	var v struct {
		Sequences []struct {
			Name, Service string
			Steps         []struct {
				Description string
				File        *string
				Held        expectedRead
				Delivered   []int64
			}
		}
	}
	loadJSON(t, filepath.Join(dir, "route_sequences.json"), &v)
	if len(v.Sequences) == 0 {
		t.Fatal("no sequences")
	}
	for _, seq := range v.Sequences {
		cache := t.TempDir()
		k := RouteKey(seq.Service)
		d, err := NewDiscovery(DiscoveryOptions{Options: cacheOnly(cache)})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var delivered []int64
		h, err := d.Watch(seq.Service, func(rt *RouteTable) {
			mu.Lock()
			delivered = append(delivered, rt.Revision)
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		d.PollNow()
		for i, step := range seq.Steps {
			what := fmt.Sprintf("%s step %d (%s)", seq.Name, i, step.Description)
			mu.Lock()
			delivered = nil
			mu.Unlock()
			placeStep(t, dir, cache, k, step.File)
			d.PollNow()
			mu.Lock()
			got := delivered
			mu.Unlock()
			if !sameRevisions(got, step.Delivered) {
				t.Errorf("%s: delivered %v, want %v", what, got, step.Delivered)
			}
			table, err := d.Table(seq.Service)
			picked, selErr := d.Select(seq.Service, "")
			switch step.Held.Outcome {
			case "none":
				if !errors.Is(err, ErrNotFound) || !errors.Is(selErr, ErrNotFound) {
					t.Errorf("%s: table %v (%v), select %v; want no table", what, table, err, selErr)
				}
			case "table":
				if err != nil {
					t.Errorf("%s: %v, want a table", what, err)
					continue
				}
				var ids []string
				for _, in := range table.Instances {
					ids = append(ids, in.ID)
				}
				if table.Revision != step.Held.Revision || fmt.Sprint(ids) != fmt.Sprint(step.Held.IDs) {
					t.Errorf("%s: revision %d ids %v, want %d %v", what, table.Revision, ids, step.Held.Revision, step.Held.IDs)
				}
				// Select picks from that same table.
				switch {
				case len(ids) == 0 && !errors.Is(selErr, ErrNotFound):
					t.Errorf("%s: select %v, %v from an empty table", what, picked, selErr)
				case len(ids) > 0 && (selErr != nil || !containsString(ids, picked.ID)):
					t.Errorf("%s: select %v, %v; want one of %v", what, picked, selErr, ids)
				}
			default:
				t.Fatalf("%s: unknown outcome %q", what, step.Held.Outcome)
			}
		}
		h.Stop()
		d.Close()
	}
}

// 3.1: the scenarios' tables in the vectors' cache directory.
func TestConformanceTables(t *testing.T) {
	dir := vectorsDir(t)
	var v struct {
		Tables []struct {
			Service, File string
			Revision      int64
			Tombstone     bool
			Instances     int
		}
	}
	loadJSON(t, filepath.Join(dir, "tables.json"), &v)
	if len(v.Tables) == 0 {
		t.Fatal("no tables")
	}
	cache := filepath.Join(dir, "cache")
	d, err := NewDiscovery(DiscoveryOptions{Options: cacheOnly(cache)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, c := range v.Tables {
		k := RouteKey(c.Service)
		if filepath.Join(dir, c.File) != filepath.Join(cache, k.RelativePath()) {
			t.Errorf("%s: file %s is not where the cache keeps it (%s)", c.Service, c.File, k.RelativePath())
		}
		e, err := ReadEntry(cache, k)
		if err != nil {
			t.Errorf("%s: %v", c.Service, err)
			continue
		}
		if e.Revision != c.Revision || e.Absent != c.Tombstone {
			t.Errorf("%s: revision %d absent %v, want %d %v", c.Service, e.Revision, e.Absent, c.Revision, c.Tombstone)
		}
		table, err := d.Table(c.Service)
		if err != nil {
			t.Errorf("%s: %v", c.Service, err)
			continue
		}
		sorted := true
		for i := 1; i < len(table.Instances); i++ {
			sorted = sorted && table.Instances[i-1].ID < table.Instances[i].ID
		}
		if table.Service != c.Service || table.Revision != c.Revision || len(table.Instances) != c.Instances || !sorted {
			t.Errorf("%s: table %s revision %d with %d instances (in id order: %v), want revision %d with %d",
				c.Service, table.Service, table.Revision, len(table.Instances), sorted, c.Revision, c.Instances)
		}
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The index files of clients/conformance/README.md section 3 that this
// file's tests run (the files under cache/, configs/, config_sequences/,
// route_files/ and route_sequences/ are read through them).
var conformanceRunFiles = []string{
	"config_files.json", "config_sequences.json", "failover.json", "hashes.json", "hrw.json",
	"local_first.json", "route_files.json", "route_sequences.json", "tables.json", "tiers.json",
	"weighted_random.json",
}

// A vector file added to MANIFEST fails here until a test above runs it.
func TestConformanceRunsEveryVectorFile(t *testing.T) {
	dir := vectorsDir(t)
	data, err := os.ReadFile(filepath.Join(dir, "MANIFEST"))
	if err != nil {
		t.Fatal(err)
	}
	var top []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.Contains(line, "/") {
			top = append(top, line)
		}
	}
	sort.Strings(top)
	if fmt.Sprint(top) != fmt.Sprint(conformanceRunFiles) {
		t.Errorf("MANIFEST's vector files %v, this runner runs %v", top, conformanceRunFiles)
	}
}
