package kess

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// encodeEntry writes a cache file's JSON as the agent does
// (model/file_cache/format.cc): utf8 when the value is valid UTF-8 without
// NUL bytes, else base64.
func encodeEntry(key Key, revision int64, absent bool, value []byte) []byte {
	m := map[string]interface{}{
		"format": 1, "type": key.Kind, "revision": revision, "absent": absent,
		"crc32": crc32.ChecksumIEEE(value), "content_type": "text/plain",
		"mtime_ms": 1700000000000, "written_ms": 1700000000123,
	}
	if key.Kind == KindConfig {
		m["namespace"], m["key"] = key.Namespace, key.Key
	} else {
		m["service"] = key.Service
	}
	if utf8.Valid(value) && !strings.ContainsRune(string(value), 0) {
		m["encoding"], m["value"] = "utf8", string(value)
	} else {
		m["encoding"], m["value"] = "base64", base64.StdEncoding.EncodeToString(value)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// writeFile puts data at the key's path atomically (temp file + rename),
// as the agent does.
func writeFile(t testing.TB, dir string, key Key, data []byte) {
	t.Helper()
	path := filepath.Join(dir, key.RelativePath())
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.tmp-%d", filepath.Base(path), time.Now().UnixNano()))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func writeEntry(t testing.TB, dir string, key Key, revision int64, absent bool, value string) {
	t.Helper()
	writeFile(t, dir, key, encodeEntry(key, revision, absent, []byte(value)))
}

// tableJSON is a route table document.
func tableJSON(service string, revision int64, instances ...RouteInstance) string {
	type doc struct {
		Format    int             `json:"format"`
		Service   string          `json:"service"`
		Revision  int64           `json:"revision"`
		Instances []RouteInstance `json:"instances"`
	}
	for i := range instances {
		if instances[i].Host == "" {
			instances[i].Host = "host-" + instances[i].ID
		}
		if instances[i].Address == "" {
			instances[i].Address = "127.0.0.1:" + fmt.Sprint(10000+i)
		}
		if instances[i].Datacenter == "" {
			instances[i].Datacenter = "dc1"
		}
		if instances[i].Weight == 0 {
			instances[i].Weight = 100
		}
		if instances[i].State == "" {
			instances[i].State = StateHealthy
		}
		if instances[i].Health == "" {
			instances[i].Health = "up"
		}
	}
	b, err := json.Marshal(doc{1, service, revision, instances})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// waitFor polls cond every 10 ms for at most d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// manualClock is a settable millisecond clock.
type manualClock struct{ ms int64 }

func (c *manualClock) now() int64 { return c.ms }
