// Command kess-bench measures what the Go client costs and prints one JSON
// line:
//
//	{"language":"go","pick_wr_ns":..,"pick_hrw_ns":..,"pick_hrw_weighted_ns":..,
//	 "load_parse_5000_ms":..,"idle_rss_kib":..}
//
//	pick_wr_ns            Discovery.Select by weighted random on a table of
//	                      --instances instances, weights 50..200 (after it
//	                      is loaded)
//	pick_hrw_ns           Discovery.SelectWith by HRW on a table of
//	                      --instances instances at the default weight 100,
//	                      a new key each call (the O(n) scan of the table)
//	pick_hrw_weighted_ns  the same on the table with weights 50..200
//	load_parse_5000_ms    read + verify + parse + build the snapshot of one
//	                      file of --table_instances instances (median)
//	idle_rss_kib          the process's resident set after loading the
//	                      first table
//
// The tables are the same as the other clients' bench entry points write
// (bench/clients_bench.sh): instance i in datacenter "dc<i%3+1>", weight
// 50 + (i%4)*50 (or 100 in the equal-weights table), every 50th suspect.
//
//	kess-bench --instances 1000 --table_instances 5000
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"hash/crc32"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"kess.dev/client/kess"
)

type instance struct {
	ID           string            `json:"id"`
	Host         string            `json:"host"`
	Address      string            `json:"address"`
	Datacenter   string            `json:"datacenter"`
	Weight       int               `json:"weight"`
	State        string            `json:"state"`
	Health       string            `json:"health"`
	Metadata     map[string]string `json:"metadata"`
	RegisteredMs int64             `json:"registered_ms"`
}

// writeTable writes routes/<service>.json with n instances, of weights
// 50..200 if weighted, else all of weight 100.
func writeTable(cacheDir, service string, n int, weighted bool) (string, error) {
	in := make([]instance, n)
	for i := range in {
		state := "healthy"
		if i%50 == 0 {
			state = "suspect"
		}
		weight := 100
		if weighted {
			weight = 50 + (i%4)*50
		}
		in[i] = instance{
			ID: fmt.Sprintf("%s-%05d", service, i), Host: fmt.Sprintf("host-%d", i%200),
			Address: fmt.Sprintf("127.0.0.1:%d", 10000+i%50000), Datacenter: fmt.Sprintf("dc%d", i%3+1),
			Weight: weight, State: state, Health: "up",
			Metadata: map[string]string{"version": fmt.Sprintf("1.4.%d", i%7)}, RegisteredMs: 1795314842000 + int64(i),
		}
	}
	value, err := json.Marshal(map[string]interface{}{"format": 1, "service": service, "revision": 42, "instances": in})
	if err != nil {
		return "", err
	}
	doc, err := json.Marshal(map[string]interface{}{
		"format": 1, "type": "route", "service": service, "revision": 42, "absent": false,
		"crc32": crc32.ChecksumIEEE(value), "encoding": "utf8", "value": string(value),
		"content_type": "application/json", "mtime_ms": 1700000000000, "written_ms": 1700000000123,
	})
	if err != nil {
		return "", err
	}
	path := filepath.Join(cacheDir, "routes", service+".json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, doc, 0o644)
}

func rssKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n
			}
		}
	}
	return 0
}

func main() {
	instances := flag.Int("instances", 1000, "instances of the table picked from")
	tableInstances := flag.Int("table_instances", 5000, "instances of the table loaded")
	picks := flag.Int("picks", 2000000, "weighted-random picks timed")
	hrwKeys := flag.Int("hrw_keys", 20000, "HRW picks timed (one key each)")
	loadRounds := flag.Int("load_rounds", 5, "loads of the big table timed")
	flag.Parse()
	log.SetFlags(0)

	dir, err := os.MkdirTemp("", "kess-bench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if _, err := writeTable(dir, "bench", *instances, true); err != nil {
		log.Fatal(err)
	}
	if _, err := writeTable(dir, "equal", *instances, false); err != nil {
		log.Fatal(err)
	}
	if _, err := writeTable(dir, "big", *tableInstances, true); err != nil {
		log.Fatal(err)
	}

	d, err := kess.NewDiscovery(kess.DiscoveryOptions{Options: kess.Options{CacheDir: dir, NoAgent: true, PollInterval: time.Minute}})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Select("bench", ""); err != nil {
		log.Fatal(err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	idleRSS := rssKiB()

	start := time.Now()
	for i := 0; i < *picks; i++ {
		if _, err := d.Select("bench", ""); err != nil {
			log.Fatal(err)
		}
	}
	pickWR := float64(time.Since(start).Nanoseconds()) / float64(*picks)

	hrw, err := d.Balancer("hrw")
	if err != nil {
		log.Fatal(err)
	}
	keys := make([]string, *hrwKeys)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i)
	}
	if _, err := d.Select("equal", ""); err != nil { // loads the table
		log.Fatal(err)
	}
	timeHRW := func(service string) float64 {
		start := time.Now()
		for _, k := range keys {
			if _, err := d.SelectWith(service, k, hrw, nil); err != nil {
				log.Fatal(err)
			}
		}
		return float64(time.Since(start).Nanoseconds()) / float64(len(keys))
	}
	pickHRW := timeHRW("equal")
	pickHRWWeighted := timeHRW("bench")

	var times []float64
	for i := 0; i < *loadRounds; i++ {
		start := time.Now()
		e, err := kess.ReadEntry(dir, kess.RouteKey("big"))
		if err != nil {
			log.Fatal(err)
		}
		t, err := kess.ParseRouteTable(e.Value)
		if err != nil {
			log.Fatal(err)
		}
		kess.NewSnapshot(t)
		times = append(times, float64(time.Since(start).Microseconds())/1000)
	}
	sort.Float64s(times)

	out, _ := json.Marshal(struct {
		Language        string  `json:"language"`
		PickWR          int64   `json:"pick_wr_ns"`
		PickHRW         int64   `json:"pick_hrw_ns"`
		PickHRWWeighted int64   `json:"pick_hrw_weighted_ns"`
		LoadParse       float64 `json:"load_parse_5000_ms"`
		IdleRSS         int64   `json:"idle_rss_kib"`
		Instances       int     `json:"instances"`
		TableInstances  int     `json:"table_instances"`
		Go              string  `json:"go"`
	}{"go", int64(pickWR + 0.5), int64(pickHRW + 0.5), int64(pickHRWWeighted + 0.5), float64(int64(times[len(times)/2]*10+0.5)) / 10,
		idleRSS, *instances, *tableInstances, runtime.Version()})
	fmt.Println(string(out))
}
