package kess

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestDiscoverySelectAndLastGoodTable(t *testing.T) {
	dir := t.TempDir()
	k := RouteKey("pay")
	writeEntry(t, dir, k, 5, false, tableJSON("pay", 5,
		RouteInstance{ID: "a", Datacenter: "dc1"}, RouteInstance{ID: "b", Datacenter: "dc2"}))
	clock := &manualClock{ms: 1000}
	d, err := NewDiscovery(DiscoveryOptions{Options: Options{CacheDir: dir, NoAgent: true, PollInterval: time.Hour, Logger: quiet},
		Balancer: "local_first", LocalDatacenter: "dc1", NowMs: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i := 0; i < 50; i++ {
		if p, err := d.Select("pay", ""); err != nil || p.ID != "a" {
			t.Fatalf("local first: %v %v", p, err)
		}
	}
	// Failover: a is ejected, b (remote) takes over; after 1 s + 1 s of ramp
	// a is back.
	d.ReportFailure("pay", "a")
	if p, _ := d.Select("pay", ""); p.ID != "b" {
		t.Fatalf("after a's failure: %s", p.ID)
	}
	clock.ms = 3000
	if p, _ := d.Select("pay", ""); p.ID != "a" {
		t.Fatalf("after the ramp: %s", p.ID)
	}
	// Garbage, another service's table, an invalid table: the last good one stays.
	writeFile(t, dir, k, []byte("garbage"))
	d.PollNow()
	writeEntry(t, dir, k, 6, false, tableJSON("other", 6, RouteInstance{ID: "x"}))
	d.PollNow()
	writeEntry(t, dir, k, 7, false, `{"format":1,"service":"pay","instances":[{"id":"x"}]}`)
	d.PollNow()
	if tab, err := d.Table("pay"); err != nil || tab.Revision != 5 {
		t.Fatalf("last good table: %+v %v", tab, err)
	}
	if d.ReadErrors() < 3 {
		t.Fatalf("read errors: %d", d.ReadErrors())
	}
	// A good new version, then a tombstone: no instances.
	writeEntry(t, dir, k, 8, false, tableJSON("pay", 8, RouteInstance{ID: "c"}))
	d.PollNow()
	if p, _ := d.Select("pay", ""); p.ID != "c" {
		t.Fatalf("new table: %s", p.ID)
	}
	writeEntry(t, dir, k, 9, true, "")
	d.PollNow()
	if _, err := d.Select("pay", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("tombstone: %v", err)
	}
	if _, err := d.Select("nothing-here", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no table: %v", err)
	}
	if _, err := d.Select("a/b", ""); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("invalid name: %v", err)
	}
}

func TestDiscoveryHRWAndWatchThroughAgent(t *testing.T) {
	dir := t.TempDir()
	agent := newFakeAgent(t, dir)
	agent.publish(RouteKey("sess"), 3, false, tableJSON("sess", 3,
		RouteInstance{ID: "s1"}, RouteInstance{ID: "s2"}, RouteInstance{ID: "s3"}))
	d, err := NewDiscovery(DiscoveryOptions{Options: Options{CacheDir: dir, Agent: agent.srv.URL,
		PollInterval: time.Hour, Owner: "disc-test", Logger: quiet}})
	if err != nil {
		t.Fatal(err)
	}
	hrw, err := d.Balancer("hrw")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var revs []int64
	w, err := d.Watch("sess", func(t *RouteTable) { mu.Lock(); revs = append(revs, t.Revision); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	first, err := d.SelectWith("sess", "user-1", hrw, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if p, _ := d.SelectWith("sess", "user-1", hrw, nil); p.ID != first.ID {
			t.Fatalf("HRW moved user-1 from %s to %s", first.ID, p.ID)
		}
	}
	waitFor(t, 5*time.Second, "the current table's callback", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(revs) == 1 && revs[0] == 3
	})
	agent.publish(RouteKey("sess"), 4, false, tableJSON("sess", 4, RouteInstance{ID: "only"}))
	waitFor(t, 5*time.Second, "revision 4 through the watch", func() bool {
		p, _ := d.SelectWith("sess", "user-1", hrw, nil)
		return p != nil && p.ID == "only"
	})
	waitFor(t, 5*time.Second, "the watch callbacks", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(revs) == 2 && revs[0] == 3 && revs[1] == 4
	})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	var post, del bool
	for _, c := range agent.calls() {
		if c.App == "disc-test" && len(c.Routes) == 1 && c.Routes[0] == "sess" {
			post = post || c.Method == "POST"
			del = del || c.Method == "DELETE"
		}
	}
	if !post || !del {
		t.Fatalf("subscribe %v, unsubscribe on Close %v: %+v", post, del, agent.calls())
	}
}

func TestDiscoveryOptions(t *testing.T) {
	if _, err := NewDiscovery(DiscoveryOptions{Options: Options{NoAgent: true}, Balancer: "nope"}); err == nil {
		t.Fatal("unknown balancer accepted")
	}
	if _, err := NewDiscovery(DiscoveryOptions{Options: Options{NoAgent: true}, Balancer: "local_first"}); err == nil {
		t.Fatal("local_first without a datacenter accepted")
	}
	if _, err := NewDiscovery(DiscoveryOptions{Options: Options{NoAgent: true},
		Failover: FailoverOptions{InitialEjection: 2 * time.Second, MaxEjection: time.Second}}); err == nil {
		t.Fatal("max ejection below the initial one accepted")
	}
}
