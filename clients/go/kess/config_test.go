package kess

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var quiet = log.New(io.Discard, "", 0)

// recorder collects callback values.
type recorder struct {
	mu  sync.Mutex
	got []ConfigValue
}

func (r *recorder) add(v ConfigValue) {
	r.mu.Lock()
	r.got = append(r.got, v)
	r.mu.Unlock()
}

func (r *recorder) values() []ConfigValue {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ConfigValue(nil), r.got...)
}

func (r *recorder) last() (ConfigValue, bool) {
	v := r.values()
	if len(v) == 0 {
		return ConfigValue{}, false
	}
	return v[len(v)-1], true
}

func TestConfigLastGoodValueWithoutAgent(t *testing.T) {
	dir := t.TempDir()
	k := ConfigKey("shop", "db.timeout")
	c, err := NewConfigClient(Options{CacheDir: dir, NoAgent: true, PollInterval: time.Hour, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Get("shop", "db.timeout"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no file: %v", err)
	}
	writeEntry(t, dir, k, 5, false, "30s")
	var rec recorder
	h, err := c.Watch("shop", "db.timeout", rec.add)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	c.PollNow()
	if v, err := c.Get("shop", "db.timeout"); err != nil || string(v.Value) != "30s" || v.Revision != 5 {
		t.Fatalf("%+v %v", v, err)
	}
	path := filepath.Join(dir, k.RelativePath())
	steps := []struct {
		name  string
		write func()
	}{
		{"garbage", func() { writeFile(t, dir, k, []byte("not json at all")) }},
		{"truncated", func() {
			d := encodeEntry(k, 9, false, []byte("45s"))
			writeFile(t, dir, k, d[:len(d)-10])
		}},
		{"crc mismatch", func() {
			d := encodeEntry(k, 9, false, []byte("45s"))
			writeFile(t, dir, k, []byte(replaceOnce(string(d), `"45s"`, `"46s"`)))
		}},
		{"format 2", func() {
			writeFile(t, dir, k, []byte(replaceOnce(string(encodeEntry(k, 9, false, []byte("45s"))), `"format":1`, `"format":2`)))
		}},
		{"older revision", func() { writeEntry(t, dir, k, 4, false, "old") }},
		{"equal revision", func() { writeEntry(t, dir, k, 5, false, "same revision, other value") }},
		{"vanished", func() { os.Remove(path) }},
	}
	for _, s := range steps {
		s.write()
		c.PollNow()
		if v, err := c.Get("shop", "db.timeout"); err != nil || string(v.Value) != "30s" {
			t.Fatalf("after %s: %+v %v", s.name, v, err)
		}
	}
	if c.ReadErrors() < 4 {
		t.Fatalf("read errors %d, want every garbled file counted", c.ReadErrors())
	}
	writeEntry(t, dir, k, 10, false, "60s")
	c.PollNow()
	if v, _ := c.Get("shop", "db.timeout"); string(v.Value) != "60s" {
		t.Fatalf("new version not taken: %+v", v)
	}
	// A tombstone: Get is NotFound, the callback sees Deleted.
	writeEntry(t, dir, k, 11, true, "")
	c.PollNow()
	if _, err := c.Get("shop", "db.timeout"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("tombstone: %v", err)
	}
	got := rec.values()
	if len(got) != 3 || got[0].Revision != 5 || got[1].Revision != 10 || !got[2].Deleted || got[2].Revision != 11 {
		t.Fatalf("callbacks: %+v", got)
	}
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	panic("no " + old)
}

func TestConfigGarbledFirstReadIsGarbled(t *testing.T) {
	dir := t.TempDir()
	k := ConfigKey("shop", "x")
	writeFile(t, dir, k, []byte("{garbage"))
	c, err := NewConfigClient(Options{CacheDir: dir, NoAgent: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Get("shop", "x"); !errors.Is(err, ErrGarbled) {
		t.Fatalf("unwatched garbled: %v", err)
	}
	h, _ := c.Watch("shop", "x", func(ConfigValue) {})
	defer h.Stop()
	if _, err := c.Get("shop", "x"); !errors.Is(err, ErrGarbled) {
		t.Fatalf("watched garbled: %v", err)
	}
	if _, err := c.Watch("..", "x", func(ConfigValue) {}); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("invalid name: %v", err)
	}
}

func TestNamespaceWatchByPolling(t *testing.T) {
	dir := t.TempDir()
	writeEntry(t, dir, ConfigKey("shop", "a"), 1, false, "A")
	c, err := NewConfigClient(Options{CacheDir: dir, NoAgent: true, PollInterval: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rec recorder
	h, err := c.WatchNamespace("shop", rec.add)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	// A write in progress (a dot-file) and a foreign file are ignored.
	os.WriteFile(filepath.Join(dir, "configs/shop/.b.json.tmp-1-1"), encodeEntry(ConfigKey("shop", "b"), 1, false, []byte("B")), 0o644)
	os.WriteFile(filepath.Join(dir, "configs/shop/readme.txt"), []byte("x"), 0o644)
	writeEntry(t, dir, ConfigKey("shop", "c"), 2, false, "C")
	writeEntry(t, dir, ConfigKey("shop", "a"), 3, true, "")
	waitFor(t, 5*time.Second, "a's tombstone and c", func() bool {
		seen := map[string]ConfigValue{}
		for _, v := range rec.values() {
			seen[v.Key] = v
		}
		return seen["a"].Deleted && seen["c"].Revision == 2
	})
	for _, v := range rec.values() {
		if v.Key == "b" {
			t.Fatalf("a dot-file was read: %+v", v)
		}
	}
}

func TestConfigThroughAgentWatch(t *testing.T) {
	dir := t.TempDir()
	agent := newFakeAgent(t, dir)
	agent.publish(ConfigKey("shop", "a"), 1, false, "one")
	c, err := NewConfigClient(Options{CacheDir: dir, Agent: agent.srv.URL, PollInterval: time.Hour,
		WatchTimeout: 2 * time.Second, Owner: "go-test", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	h, err := c.Watch("shop", "a", rec.add)
	if err != nil {
		t.Fatal(err)
	}
	var nsRec recorder
	hn, err := c.WatchNamespace("cart", nsRec.add)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the subscription", func() bool {
		subscribed := map[string]bool{}
		for _, call := range agent.calls() {
			if call.Method == "POST" && call.App == "go-test" {
				for _, cn := range call.Configs {
					subscribed[cn.Namespace+"/"+cn.Key] = true
				}
				for _, ns := range call.Namespaces {
					subscribed[ns] = true
				}
			}
		}
		return subscribed["shop/a"] && subscribed["cart"]
	})
	waitFor(t, 5*time.Second, "the first version", func() bool { v, ok := rec.last(); return ok && v.Revision == 1 })
	// New versions arrive through the watch (polling is an hour away).
	agent.publish(ConfigKey("shop", "a"), 2, false, "two")
	agent.publish(ConfigKey("cart", "new-key"), 3, false, "n")
	waitFor(t, 5*time.Second, "revision 2", func() bool { v, _ := rec.last(); return v.Revision == 2 })
	waitFor(t, 5*time.Second, "the namespace's new key", func() bool { v, _ := nsRec.last(); return v.Key == "new-key" })
	if v, _ := c.Get("shop", "a"); string(v.Value) != "two" {
		t.Fatalf("Get: %+v", v)
	}
	// Stopping the last handle unsubscribes the key for this owner.
	h.Stop()
	waitFor(t, 5*time.Second, "the DELETE", func() bool {
		for _, call := range agent.calls() {
			if call.Method == "DELETE" && call.App == "go-test" && len(call.Configs) == 1 && call.Configs[0].Key == "a" {
				return true
			}
		}
		return false
	})
	hn.Stop()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := rec.values()
	if len(got) != 2 || string(got[0].Value) != "one" || string(got[1].Value) != "two" {
		t.Fatalf("callbacks: %+v", got)
	}
}

func TestWatchFallsBackToPollingWhenAgentIsGone(t *testing.T) {
	dir := t.TempDir()
	agent := newFakeAgent(t, dir)
	agent.publish(ConfigKey("shop", "a"), 1, false, "one")
	c, err := NewConfigClient(Options{CacheDir: dir, Agent: agent.srv.URL, PollInterval: 50 * time.Millisecond,
		WatchTimeout: 2 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rec recorder
	h, _ := c.Watch("shop", "a", rec.add)
	defer h.Stop()
	waitFor(t, 5*time.Second, "a watch call", func() bool { return agent.watchCalls() > 0 })
	agent.close() // the agent is gone; the files stay
	writeEntry(t, dir, ConfigKey("shop", "a"), 7, false, "seven")
	waitFor(t, 5*time.Second, "revision 7 by polling", func() bool { v, _ := rec.last(); return v.Revision == 7 })
}

func TestWatchErrorAnswerFallsBackToPolling(t *testing.T) {
	dir := t.TempDir()
	agent := newFakeAgent(t, dir)
	agent.mu.Lock()
	agent.watchErr = 1000000
	agent.mu.Unlock()
	c, err := NewConfigClient(Options{CacheDir: dir, Agent: agent.srv.URL, PollInterval: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rec recorder
	h, _ := c.Watch("shop", "a", rec.add)
	defer h.Stop()
	writeEntry(t, dir, ConfigKey("shop", "a"), 3, false, "three")
	waitFor(t, 5*time.Second, "revision 3 by polling", func() bool { v, _ := rec.last(); return v.Revision == 3 })
	if n := agent.watchCalls(); n > 20 {
		t.Fatalf("%d watch calls in well under 5 s: not retried once a second", n)
	}
}

func TestGarbledWatchChangeKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	agent := newFakeAgent(t, dir)
	k := ConfigKey("shop", "a")
	agent.publish(k, 1, false, "one")
	c, err := NewConfigClient(Options{CacheDir: dir, Agent: agent.srv.URL, PollInterval: time.Hour, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rec recorder
	h, _ := c.Watch("shop", "a", rec.add)
	defer h.Stop()
	waitFor(t, 5*time.Second, "revision 1", func() bool { v, _ := rec.last(); return v.Revision == 1 })
	// A change whose CRC does not match, then an older revision.
	agent.mu.Lock()
	agent.index++
	agent.entries[k] = storedEntry{agent.index, []byte(replaceOnce(string(encodeEntry(k, 5, false, []byte("five"))), `"five"`, `"fivf"`))}
	agent.cond.Broadcast()
	agent.mu.Unlock()
	waitFor(t, 5*time.Second, "the garbled change counted", func() bool { return c.ReadErrors() > 0 })
	agent.publish(k, 6, false, "six")
	waitFor(t, 5*time.Second, "revision 6", func() bool { v, _ := rec.last(); return v.Revision == 6 })
	agent.publish(k, 2, false, "older")
	time.Sleep(100 * time.Millisecond)
	if v, _ := c.Get("shop", "a"); string(v.Value) != "six" {
		t.Fatalf("an older revision replaced the value: %+v", v)
	}
}

func TestSubscriptionRetriedUntilAgentTakesIt(t *testing.T) {
	dir := t.TempDir()
	agent := newFakeAgent(t, dir)
	agent.mu.Lock()
	agent.subErr = 3 // refused three times, then taken
	agent.mu.Unlock()
	c, err := NewConfigClient(Options{CacheDir: dir, Agent: agent.srv.URL, PollInterval: 20 * time.Millisecond,
		SubscribeRetryInitial: 10 * time.Millisecond, SubscribeRetryMax: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, _ := c.Watch("shop", "a", func(ConfigValue) {})
	defer h.Stop()
	posts := func() int {
		n := 0
		for _, call := range agent.calls() {
			if call.Method == "POST" {
				n++
			}
		}
		return n
	}
	waitFor(t, 5*time.Second, "the fourth POST", func() bool { return posts() >= 4 })
	// Taken: no more POSTs (not one per poll, not one per watch call).
	time.Sleep(200 * time.Millisecond)
	if n := posts(); n != 4 {
		t.Fatalf("%d POSTs, want 4 (3 refused, 1 taken)", n)
	}
}

func TestMoreThanAThousandKeysArePolled(t *testing.T) {
	dir := t.TempDir()
	agent := newFakeAgent(t, dir)
	c, err := NewConfigClient(Options{CacheDir: dir, Agent: agent.srv.URL, PollInterval: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rec recorder
	for i := 0; i <= maxWatchSelection; i++ {
		h, err := c.Watch("many", fmt.Sprintf("k%d", i), rec.add)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Stop()
	}
	writeEntry(t, dir, ConfigKey("many", "k1000"), 4, false, "x")
	waitFor(t, 5*time.Second, "k1000 by polling", func() bool { v, _ := rec.last(); return v.Key == "k1000" })
	agent.mu.Lock()
	maxSel := agent.maxSel
	agent.mu.Unlock()
	if maxSel > maxWatchSelection {
		t.Fatalf("a watch call named %d entries", maxSel)
	}
}

func TestWatchStoppedWhileSubscribingIsUnsubscribed(t *testing.T) {
	dir := t.TempDir()
	agent := newFakeAgent(t, dir)
	agent.mu.Lock()
	agent.subDelay = 300 * time.Millisecond
	agent.mu.Unlock()
	c, err := NewConfigClient(Options{CacheDir: dir, Agent: agent.srv.URL, Owner: "slow-post", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, _ := c.Watch("shop", "gone", func(ConfigValue) {})
	waitFor(t, 5*time.Second, "the POST to start", func() bool { return len(agent.calls()) > 0 })
	h.Stop() // while the agent has not answered yet
	waitFor(t, 5*time.Second, "the DELETE after the POST", func() bool {
		for _, call := range agent.calls() {
			if call.Method == "DELETE" && call.App == "slow-post" && len(call.Configs) == 1 && call.Configs[0].Key == "gone" {
				return true
			}
		}
		return false
	})
}
