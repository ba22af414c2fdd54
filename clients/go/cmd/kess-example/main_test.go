package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

// TestMain builds the example once; the tests run it as a process, the way
// the cross-language end-to-end test does.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kess-example-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "kess-example")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func writeEntry(t *testing.T, dir, rel string, m map[string]interface{}, value string) {
	t.Helper()
	m["format"], m["absent"], m["encoding"], m["value"] = 1, false, "utf8", value
	m["crc32"], m["content_type"], m["mtime_ms"], m["written_ms"] = crc32.ChecksumIEEE([]byte(value)), "", 1, 2
	data, _ := json.Marshal(m)
	path := filepath.Join(dir, rel)
	os.MkdirAll(filepath.Dir(path), 0o755)
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func writeTable(t *testing.T, dir, service string, revision int64, instances []map[string]interface{}) {
	doc, _ := json.Marshal(map[string]interface{}{"format": 1, "service": service, "revision": revision, "instances": instances})
	writeEntry(t, dir, "routes/"+service+".json",
		map[string]interface{}{"type": "route", "service": service, "revision": revision}, string(doc))
}

func run(t *testing.T, args ...string) []map[string]interface{} {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	var lines []map[string]interface{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		var m map[string]interface{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		lines = append(lines, m)
	}
	return lines
}

func server(body string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
}

func TestPickAndCall(t *testing.T) {
	dir := t.TempDir()
	a, b, remote := server("go a\n"), server("go b\n"), server("go r\n")
	defer a.Close()
	defer b.Close()
	defer remote.Close()
	dead := server("")
	deadAddr := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	inst := func(id, url, dc string) map[string]interface{} {
		return map[string]interface{}{"id": id, "host": "h", "address": strings.TrimPrefix(url, "http://"),
			"datacenter": dc, "weight": 100}
	}
	writeTable(t, dir, "svc", 3, []map[string]interface{}{
		inst("a", a.URL, "dc1"), inst("b", b.URL, "dc1"), inst("r", remote.URL, "dc2")})
	keys := "k1,k2,k3,k4,k5,k6"
	first := run(t, "pick", "--cache_dir", dir, "--service", "svc", "--local_dc", "dc1", "--keys", keys, "--wait_s", "5")
	second := run(t, "pick", "--cache_dir", dir, "--service", "svc", "--local_dc", "dc1", "--keys", keys, "--wait_s", "5")
	if len(first) != 6 || fmt.Sprint(first) != fmt.Sprint(second) {
		t.Fatalf("picks differ or are missing:\n%v\n%v", first, second)
	}
	for _, l := range first {
		if id := l["instance"]; id != "a" && id != "b" {
			t.Fatalf("picked %v outside the local datacenter", l)
		}
	}
	lines := run(t, "call", "--cache_dir", dir, "--service", "svc", "--local_dc", "dc1", "--count", "6", "--wait_s", "5")
	if len(lines) != 6 {
		t.Fatalf("%v", lines)
	}
	for _, l := range lines {
		if l["body"] != "go "+l["instance"].(string)+"\n" {
			t.Fatalf("call: %v", l)
		}
	}
	// The only local instance is down: its calls fail, it is ejected, and
	// local-first falls over to the remote one.
	writeTable(t, dir, "svc", 4, []map[string]interface{}{inst("d", "http://"+deadAddr, "dc1"), inst("r", remote.URL, "dc2")})
	lines = run(t, "call", "--cache_dir", dir, "--service", "svc", "--local_dc", "dc1", "--count", "4", "--wait_s", "5")
	if len(lines) != 4 || lines[0]["instance"] != "d" || lines[0]["error"] == nil {
		t.Fatalf("first call should fail on d: %v", lines)
	}
	for _, l := range lines[1:] {
		if l["instance"] != "r" || l["body"] != "go r\n" {
			t.Fatalf("after the failure: %v", lines)
		}
	}
	// No table: exit status 1 after wait_s.
	cmd := exec.Command(binary, "pick", "--cache_dir", dir, "--service", "none", "--local_dc", "dc1", "--keys", "x", "--wait_s", "0.2")
	if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("no table: %v", err)
	}
	if err := exec.Command(binary, "pick", "--service", "x").Run(); err == nil {
		t.Fatal("missing flags accepted")
	}
}

// agentFake records the registration calls of the provider.
type agentFake struct {
	mu    sync.Mutex
	calls []string
	put   map[string]interface{}
}

func (f *agentFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/services/") {
		json.NewDecoder(r.Body).Decode(&f.put)
	}
	if r.URL.Path == "/v1/subscriptions" {
		io.WriteString(w, `{"app":"x","subscriptions":[{"type":"config","path":"`+os.Getenv("KESS_TEST_PATH")+`"}]}`)
		return
	}
	if r.URL.Path == "/v1/watch" {
		http.Error(w, `{"error":{"code":"UNAVAILABLE","message":"no watch here"}}`, 503)
		return
	}
	io.WriteString(w, `{}`)
}

func (f *agentFake) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func TestProvider(t *testing.T) {
	f := &agentFake{}
	agent := httptest.NewServer(f)
	defer agent.Close()
	cmd := exec.Command(binary, "provider", "--agent", agent.URL, "--service", "echo", "--id", "go-1", "--port", "0", "--ttl_s", "0.6")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	f.mu.Lock()
	address, _ := f.put["address"].(string)
	checks, _ := f.put["checks"].([]interface{})
	f.mu.Unlock()
	if len(checks) != 2 {
		t.Fatalf("checks: %v", checks)
	}
	resp, err := http.Get("http://" + address + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "go go-1\n" {
		t.Fatalf("GET / = %q", body)
	}
	if resp, err := http.Get("http://" + address + "/health"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("health: %v %v", resp, err)
	}
	// TTL renewals every 0.2 s.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := 0
		for _, c := range f.log() {
			if strings.HasPrefix(c, "PUT /v1/checks/go-1-ttl-1/pass") {
				n++
			}
		}
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("TTL renewals: %v", f.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	calls := f.log()
	if last := calls[len(calls)-1]; !strings.HasPrefix(last, "DELETE /v1/services/echo/instances/go-1?owner=kess-example-") {
		t.Fatalf("last call %q, want the DELETE", last)
	}
}

func TestWatchLearnsCacheDirAndPolls(t *testing.T) {
	dir := t.TempDir()
	rel := "configs/shop/color.json"
	t.Setenv("KESS_TEST_PATH", filepath.Join(dir, rel))
	f := &agentFake{}
	agent := httptest.NewServer(f)
	defer agent.Close()
	put := func(rev int64, v string) {
		writeEntry(t, dir, rel, map[string]interface{}{"type": "config", "namespace": "shop", "key": "color", "revision": rev}, v)
	}
	put(1, "red")
	cmd := exec.Command(binary, "watch", "--agent", agent.URL, "--namespace", "shop", "--key", "color", "--timeout_s", "2")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	r := bufio.NewReader(out)
	if l, _ := r.ReadString('\n'); l != `{"revision":1,"value":"red"}`+"\n" {
		t.Fatalf("first line %q", l)
	}
	put(2, "blue")
	if l, _ := r.ReadString('\n'); l != `{"revision":2,"value":"blue"}`+"\n" {
		t.Fatalf("second line %q", l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	var sawDelete bool
	for _, c := range f.log() {
		sawDelete = sawDelete || strings.HasPrefix(c, "DELETE /v1/subscriptions")
	}
	if !sawDelete {
		t.Fatalf("no unsubscribe: %v", f.log())
	}
}
