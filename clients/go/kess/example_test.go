package kess_test

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"log"
	"os"
	"path/filepath"
	"time"

	"kess.dev/client/kess"
)

// put writes one cache file as the agent would (docs/file-cache.md).
func put(cacheDir string, key kess.Key, revision int64, value string) {
	doc, _ := json.Marshal(map[string]interface{}{
		"format": 1, "type": key.Kind, "namespace": key.Namespace, "key": key.Key, "service": key.Service,
		"revision": revision, "absent": false, "crc32": crc32.ChecksumIEEE([]byte(value)),
		"encoding": "utf8", "value": value, "content_type": "text/plain", "mtime_ms": 0, "written_ms": 0,
	})
	path := filepath.Join(cacheDir, key.RelativePath())
	os.MkdirAll(filepath.Dir(path), 0o755)
	os.WriteFile(path+".tmp", doc, 0o644)
	os.Rename(path+".tmp", path)
}

func ExampleConfigClient() {
	cache, _ := os.MkdirTemp("", "kess-example")
	defer os.RemoveAll(cache)
	put(cache, kess.ConfigKey("shop", "db.timeout"), 42, "30s")

	// NoAgent: read the cache only (a real program names its agent, or
	// takes the default http://127.0.0.1:7310).
	configs, err := kess.NewConfigClient(kess.Options{CacheDir: cache, NoAgent: true})
	if err != nil {
		log.Fatal(err)
	}
	defer configs.Close()
	v, err := configs.Get("shop", "db.timeout")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s at revision %d\n", v.Value, v.Revision)

	// A garbled file never replaces the last good value.
	w, _ := configs.Watch("shop", "db.timeout", func(kess.ConfigValue) {})
	defer w.Stop()
	os.WriteFile(filepath.Join(cache, "configs/shop/db.timeout.json"), []byte(`{"format":1,"type":"con`), 0o644)
	configs.PollNow()
	v, _ = configs.Get("shop", "db.timeout")
	fmt.Printf("still %s\n", v.Value)
	// Output:
	// 30s at revision 42
	// still 30s
}

func ExampleDiscovery() {
	cache, _ := os.MkdirTemp("", "kess-example")
	defer os.RemoveAll(cache)
	table := `{"format":1,"service":"payments","revision":7,"instances":[
	  {"id":"p-1","host":"h1","address":"127.0.0.1:9001","datacenter":"dc1","weight":100},
	  {"id":"p-2","host":"h2","address":"127.0.0.1:9002","datacenter":"dc2","weight":100}]}`
	put(cache, kess.RouteKey("payments"), 7, table)

	now := int64(1000) // a manual clock for the example; programs leave NowMs nil
	d, err := kess.NewDiscovery(kess.DiscoveryOptions{
		Options:  kess.Options{CacheDir: cache, NoAgent: true, PollInterval: time.Hour},
		Balancer: "local_first", LocalDatacenter: "dc1",
		NowMs: func() int64 { return now },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	in, _ := d.Select("payments", "")
	fmt.Println(in.ID, in.Address)

	d.ReportFailure("payments", "p-1") // ejected for 1 s: the other DC takes over
	in, _ = d.Select("payments", "")
	fmt.Println(in.ID)

	now += 2000 // ejection and ramp over
	in, _ = d.Select("payments", "")
	fmt.Println(in.ID)
	// Output:
	// p-1 127.0.0.1:9001
	// p-2
	// p-1
}
