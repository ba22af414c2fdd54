package kess

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// benchTable is n instances over 3 datacenters, weights 50..200, every
// 50th suspect (the tables of cmd/kess-bench).
func benchTable(service string, n int) string {
	in := make([]RouteInstance, n)
	for i := range in {
		state := StateHealthy
		if i%50 == 0 {
			state = StateSuspect
		}
		in[i] = RouteInstance{ID: fmt.Sprintf("%s-%05d", service, i), Host: fmt.Sprintf("host-%d", i%200),
			Address: fmt.Sprintf("127.0.0.1:%d", 10000+i%50000), Datacenter: fmt.Sprintf("dc%d", i%3+1),
			Weight: 50 + (i%4)*50, State: state, Metadata: map[string]string{"version": "1.4.2"}}
	}
	return tableJSON(service, 42, in...)
}

func benchDiscovery(b *testing.B, n int, o DiscoveryOptions) *Discovery {
	dir := b.TempDir()
	writeEntry(b, dir, RouteKey("bench"), 42, false, benchTable("bench", n))
	o.Options = Options{CacheDir: dir, NoAgent: true, PollInterval: time.Hour, Logger: quiet}
	d, err := NewDiscovery(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	if _, err := d.Select("bench", ""); err != nil {
		b.Fatal(err)
	}
	return d
}

func BenchmarkSelectWeightedRandom1000(b *testing.B) {
	d := benchDiscovery(b, 1000, DiscoveryOptions{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.Select("bench", ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSelectWeightedRandomParallel(b *testing.B) {
	d := benchDiscovery(b, 1000, DiscoveryOptions{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.Select("bench", ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkSelectLocalFirst1000(b *testing.B) {
	d := benchDiscovery(b, 1000, DiscoveryOptions{Balancer: "local_first", LocalDatacenter: "dc1"})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.Select("bench", ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSelectHRW1000(b *testing.B) {
	d := benchDiscovery(b, 1000, DiscoveryOptions{Balancer: "hrw"})
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.Select("bench", keys[i&4095]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadParse5000(b *testing.B) {
	dir := b.TempDir()
	writeEntry(b, dir, RouteKey("big"), 42, false, benchTable("big", 5000))
	fi, _ := os.Stat(filepath.Join(dir, "routes/big.json"))
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e, err := ReadEntry(dir, RouteKey("big"))
		if err != nil {
			b.Fatal(err)
		}
		t, err := ParseRouteTable(e.Value)
		if err != nil {
			b.Fatal(err)
		}
		NewSnapshot(t)
	}
}
