package kess

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAgent serves the agent's subscription and watch API over a store
// that tests write to (publish); it also writes the files into a cache
// directory like the real agent.
type fakeAgent struct {
	t        testing.TB
	cacheDir string
	srv      *httptest.Server

	mu       sync.Mutex
	cond     *sync.Cond
	index    int64
	entries  map[Key]storedEntry
	subs     []recordedCall // POST and DELETE /v1/subscriptions
	watches  int
	maxSel   int           // the most entries one watch call named
	watchErr int           // answer this many watch calls with 500
	subErr   int           // answer this many POST /v1/subscriptions with 503
	subDelay time.Duration // before answering a POST /v1/subscriptions
}

type storedEntry struct {
	index int64
	doc   json.RawMessage
}

type recordedCall struct {
	Method string
	App    string
	Subscription
}

func newFakeAgent(t testing.TB, cacheDir string) *fakeAgent {
	a := &fakeAgent{t: t, cacheDir: cacheDir, index: 1, entries: map[Key]storedEntry{}}
	a.cond = sync.NewCond(&a.mu)
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.close)
	return a
}

func (a *fakeAgent) close() {
	a.srv.CloseClientConnections()
	a.srv.Close()
	a.mu.Lock()
	a.cond.Broadcast()
	a.mu.Unlock()
}

// publish writes a version into the cache directory and the watch store.
func (a *fakeAgent) publish(key Key, revision int64, absent bool, value string) {
	doc := encodeEntry(key, revision, absent, []byte(value))
	writeFile(a.t, a.cacheDir, key, doc)
	a.mu.Lock()
	a.index++
	a.entries[key] = storedEntry{a.index, json.RawMessage(strings.TrimSpace(string(doc)))}
	a.cond.Broadcast()
	a.mu.Unlock()
}

func (a *fakeAgent) calls() []recordedCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]recordedCall(nil), a.subs...)
}

func (a *fakeAgent) watchCalls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.watches
}

func (a *fakeAgent) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v1/subscriptions" && (r.Method == http.MethodPost || r.Method == http.MethodDelete):
		var body struct {
			App string `json:"app"`
			Subscription
		}
		data, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(data, &body); err != nil || body.App == "" {
			http.Error(w, `{"error":{"code":"INVALID_ARGUMENT","message":"bad body"}}`, 400)
			return
		}
		a.mu.Lock()
		a.subs = append(a.subs, recordedCall{r.Method, body.App, body.Subscription})
		delay := a.subDelay
		a.mu.Unlock()
		if r.Method == http.MethodPost {
			time.Sleep(delay)
		}
		a.mu.Lock()
		if r.Method == http.MethodPost && a.subErr > 0 {
			a.subErr--
			a.mu.Unlock()
			http.Error(w, `{"error":{"code":"UNAVAILABLE","message":"test"}}`, 503)
			return
		}
		a.mu.Unlock()
		w.Write([]byte(`{"app":"` + body.App + `","subscriptions":[],"namespaces":[]}`))
	case r.URL.Path == "/v1/watch" && r.Method == http.MethodGet:
		a.watch(w, r)
	default:
		http.Error(w, `{"error":{"code":"NOT_FOUND","message":"no"}}`, 404)
	}
}

func (a *fakeAgent) watch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	match := func(k Key) bool {
		for _, c := range q["config"] {
			if k.Kind == KindConfig && c == k.Namespace+"/"+k.Key {
				return true
			}
		}
		for _, n := range q["namespace"] {
			if k.Kind == KindConfig && n == k.Namespace {
				return true
			}
		}
		for _, s := range q["service"] {
			if k.Kind == KindRoute && s == k.Service {
				return true
			}
		}
		return false
	}
	timeout, err := time.ParseDuration(q.Get("timeout"))
	if err != nil {
		http.Error(w, `{"error":{"code":"INVALID_ARGUMENT","message":"timeout"}}`, 400)
		return
	}
	index, _ := strconv.ParseInt(q.Get("index"), 10, 64)
	full := q.Get("epoch") != "e1" || index == 0
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { a.mu.Lock(); a.cond.Broadcast(); a.mu.Unlock() })
	defer timer.Stop()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a client that goes away ends the wait
		select {
		case <-r.Context().Done():
			a.mu.Lock()
			a.cond.Broadcast()
			a.mu.Unlock()
		case <-stop:
		}
	}()
	a.mu.Lock()
	a.watches++
	if n := len(q["config"]) + len(q["namespace"]) + len(q["service"]); n > a.maxSel {
		a.maxSel = n
	}
	if a.watchErr > 0 {
		a.watchErr--
		a.mu.Unlock()
		http.Error(w, `{"error":{"code":"UNAVAILABLE","message":"test"}}`, 500)
		return
	}
	var changes []json.RawMessage
	for {
		changes = nil
		for k, e := range a.entries {
			if match(k) && (full || e.index > index) {
				changes = append(changes, e.doc)
			}
		}
		if full || len(changes) > 0 || time.Now().After(deadline) || r.Context().Err() != nil {
			break
		}
		a.cond.Wait()
	}
	out := map[string]interface{}{"epoch": "e1", "index": a.index, "full": full,
		"timed_out": !full && len(changes) == 0, "changes": changes}
	if changes == nil {
		out["changes"] = []json.RawMessage{}
	}
	a.mu.Unlock()
	json.NewEncoder(w).Encode(out)
}
