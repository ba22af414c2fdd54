package kess

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRegistry serves the agent's instance and TTL endpoints.
type fakeRegistry struct {
	mu        sync.Mutex
	instances map[string]map[string]interface{} // path -> PUT body
	passes    int
	owners    []string // owner of every TTL update and DELETE
	hosts     []string
	forget    bool // answer the next TTL update with 404 and drop the instance
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts = append(f.hosts, r.Host)
	switch {
	case strings.HasPrefix(r.URL.Path, "/v1/services/") && r.Method == http.MethodPut:
		var body map[string]interface{}
		data, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(data, &body); err != nil {
			http.Error(w, `{"error":{"code":"INVALID_ARGUMENT","message":"json"}}`, 400)
			return
		}
		f.instances[r.URL.Path] = body
		w.Write([]byte(`{}`))
	case strings.HasPrefix(r.URL.Path, "/v1/services/") && r.Method == http.MethodDelete:
		f.owners = append(f.owners, r.URL.Query().Get("owner"))
		delete(f.instances, r.URL.Path)
		w.Write([]byte(`{"deregistered":"x"}`))
	case strings.HasPrefix(r.URL.Path, "/v1/checks/") && r.Method == http.MethodPut:
		f.owners = append(f.owners, r.URL.Query().Get("owner"))
		if f.forget || len(f.instances) == 0 {
			f.forget = false
			f.instances = map[string]map[string]interface{}{}
			http.Error(w, `{"error":{"code":"NOT_FOUND","message":"no such check"}}`, 404)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/pass") {
			f.passes++
		}
		w.Write([]byte(`{"check":"x","status":"passing"}`))
	default:
		http.Error(w, `{"error":{"code":"NOT_FOUND","message":"no"}}`, 404)
	}
}

func (f *fakeRegistry) snapshot() (map[string]map[string]interface{}, int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	inst := map[string]map[string]interface{}{}
	for k, v := range f.instances {
		inst[k] = v
	}
	return inst, f.passes, append([]string(nil), f.owners...)
}

func TestRegistrationOverTCP(t *testing.T) {
	f := &fakeRegistry{instances: map[string]map[string]interface{}{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	r, err := Register(context.Background(), RegistrationOptions{
		Agent: srv.URL, Service: "checkout", ID: "c-1", Address: "127.0.0.1:8080", Weight: 7,
		Metadata: map[string]string{"version": "1"},
		Checks: []Check{
			{Kind: "http", URL: "http://127.0.0.1:8080/health", Interval: time.Second, Timeout: 500 * time.Millisecond},
			{Kind: "ttl", TTL: 300 * time.Millisecond},
		},
		Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	inst, _, _ := f.snapshot()
	body := inst["/v1/services/checkout/instances/c-1"]
	if body == nil || body["address"] != "127.0.0.1:8080" || body["weight"] != float64(7) || body["owner"] != "c-1" {
		t.Fatalf("PUT body: %v", inst)
	}
	checks := body["checks"].([]interface{})
	if c := checks[0].(map[string]interface{}); c["kind"] != "http" || c["interval"] != "1000ms" || c["timeout"] != "500ms" {
		t.Fatalf("http check: %v", c)
	}
	if c := checks[1].(map[string]interface{}); c["kind"] != "ttl" || c["ttl"] != "300ms" || c["id"] != "c-1-ttl-1" {
		t.Fatalf("ttl check: %v", c)
	}
	// Renewed every ttl/3 = 100 ms.
	waitFor(t, 5*time.Second, "TTL renewals", func() bool { _, p, _ := f.snapshot(); return p >= 4 })
	// An agent that lost the instance gets it again.
	f.mu.Lock()
	f.forget = true
	f.mu.Unlock()
	waitFor(t, 5*time.Second, "registered again", func() bool {
		inst, _, _ := f.snapshot()
		return inst["/v1/services/checkout/instances/c-1"] != nil && !f.forgetting()
	})
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	inst, passes, owners := f.snapshot()
	if len(inst) != 0 {
		t.Fatalf("still registered after Close: %v", inst)
	}
	for _, o := range owners {
		if o != "c-1" {
			t.Fatalf("a call without the owner: %v", owners)
		}
	}
	time.Sleep(250 * time.Millisecond)
	if _, p, _ := f.snapshot(); p != passes {
		t.Fatal("renewals after Close")
	}
}

func (f *fakeRegistry) forgetting() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.forget
}

func TestRegistrationOverUnixSocketAndRefusal(t *testing.T) {
	f := &fakeRegistry{instances: map[string]map[string]interface{}{}}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f}
	go srv.Serve(l)
	defer srv.Close()
	r, err := Register(context.Background(), RegistrationOptions{Agent: "unix://" + sock, Service: "s", ID: "i",
		Address: "127.0.0.1:1", Owner: "deploy", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, _, owners := f.snapshot()
	f.mu.Lock()
	hosts := f.hosts
	f.mu.Unlock()
	if len(owners) != 1 || owners[0] != "deploy" || hosts[0] != "localhost" {
		t.Fatalf("owners %v hosts %v", owners, hosts)
	}
	// Refusals are AgentErrors with the agent's code.
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(409)
		w.Write([]byte(`{"error":{"code":"ALREADY_EXISTS","message":"another owner"}}`))
	}))
	defer refuse.Close()
	_, err = Register(context.Background(), RegistrationOptions{Agent: refuse.URL, Service: "s", ID: "i", Address: "127.0.0.1:1"})
	if !IsAgentStatus(err, 409) || !strings.Contains(err.Error(), "another owner") {
		t.Fatalf("refusal: %v", err)
	}
	if _, err := Register(context.Background(), RegistrationOptions{Agent: refuse.URL, Service: "a/b", ID: "i"}); err == nil {
		t.Fatal("invalid service accepted")
	}
}
