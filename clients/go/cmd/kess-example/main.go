// Command kess-example is the example program every kess client ships
// (clients/README.md), in Go:
//
//	kess-example provider --agent http://127.0.0.1:PORT --service SVC --id ID --port P
//	kess-example pick --cache_dir DIR --service SVC --local_dc DC --keys k1,k2 [--wait_s 30]
//	kess-example call --cache_dir DIR --service SVC --local_dc DC --count N [--wait_s 30]
//	kess-example watch --agent http://127.0.0.1:PORT --namespace NS --key K [--timeout_s 30]
//
// pick and call read the cache only unless --agent is given too (then they
// subscribe the service through it); watch takes --cache_dir or learns it
// from the agent's subscription answer. --agent also takes unix:PATH.
//
// Exit status: 0 on success, 1 on failure (no instance within wait_s, the
// agent refused the registration), 2 on bad flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"kess.dev/client/kess"
)

const language = "go"

var stdout = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

// emit prints one JSON line.
func emit(v interface{}) {
	stdout.Lock()
	defer stdout.Unlock()
	stdout.enc.SetEscapeHTML(false)
	if err := stdout.enc.Encode(v); err != nil {
		log.Printf("writing stdout: %v", err)
	}
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("kess-example: ")
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kess-example provider|pick|call|watch [flags]")
		os.Exit(2)
	}
	var code int
	switch os.Args[1] {
	case "provider":
		code = provider(os.Args[2:])
	case "pick":
		code = pickOrCall("pick", os.Args[2:])
	case "call":
		code = pickOrCall("call", os.Args[2:])
	case "watch":
		code = watch(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "kess-example: unknown command %q (provider, pick, call, watch)\n", os.Args[1])
		code = 2
	}
	os.Exit(code)
}

func parse(fs *flag.FlagSet, args []string, required ...string) bool {
	if err := fs.Parse(args); err != nil {
		return false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "kess-example %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return false
	}
	for _, name := range required {
		if fs.Lookup(name).Value.String() == "" {
			fmt.Fprintf(os.Stderr, "kess-example %s: --%s is required\n", fs.Name(), name)
			return false
		}
	}
	return true
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func provider(args []string) int {
	fs := flag.NewFlagSet("provider", flag.ContinueOnError)
	agent := fs.String("agent", "", "the agent's API: http://host:port or unix:PATH")
	service := fs.String("service", "", "service name")
	id := fs.String("id", "", "instance id")
	port := fs.Int("port", -1, "HTTP port on 127.0.0.1 (0: any free one)")
	ttlS := fs.Float64("ttl_s", 10, "TTL of the check the client renews")
	registerTimeoutS := fs.Float64("register_timeout_s", 30, "how long to retry an unreachable agent")
	if !parse(fs, args, "agent", "service", "id") || *port < 0 {
		if *port < 0 {
			fmt.Fprintln(os.Stderr, "kess-example provider: --port is required")
		}
		return 2
	}
	body := fmt.Sprintf("%s %s\n", language, *id)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, body)
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
	})
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(*port))
	if err != nil {
		log.Printf("listen: %v", err)
		return 1
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	defer srv.Close()
	address := l.Addr().String()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	o := kess.RegistrationOptions{
		Agent: *agent, Service: *service, ID: *id, Address: address,
		Owner: fmt.Sprintf("kess-example-%d", os.Getpid()),
		Checks: []kess.Check{
			{Kind: "http", URL: "http://" + address + "/health", Interval: time.Second, Timeout: 500 * time.Millisecond},
			{Kind: "ttl", TTL: seconds(*ttlS)},
		},
	}
	deadline := time.Now().Add(seconds(*registerTimeoutS))
	var reg *kess.Registration
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		reg, err = kess.Register(ctx, o)
		cancel()
		if err == nil {
			break
		}
		var ae *kess.AgentError
		refused := errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != 409 && ae.Status != 429
		if refused || errors.Is(err, kess.ErrInvalidName) || time.Now().After(deadline) {
			log.Printf("registration failed: %v", err)
			return 1
		}
		select {
		case <-stop:
			log.Printf("registration failed: stopped before the agent answered: %v", err)
			return 1
		case <-time.After(500 * time.Millisecond):
		}
	}
	fmt.Println("ready")
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reg.Close(ctx); err != nil {
		log.Printf("deregistration failed: %v", err)
	}
	return 0
}

func pickOrCall(name string, args []string) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	cacheDir := fs.String("cache_dir", "", "the agent's --cache_dir")
	service := fs.String("service", "", "service name")
	localDC := fs.String("local_dc", "", "the caller's datacenter")
	waitS := fs.Float64("wait_s", 30, "how long to wait for an instance")
	agent := fs.String("agent", "", "subscribe the service through this agent (default: read the cache only)")
	keys := fs.String("keys", "", "pick: comma-separated request keys")
	count := fs.Int("count", -1, "call: number of calls")
	callTimeoutS := fs.Float64("call_timeout_s", 2, "call: timeout of one call")
	required := []string{"cache_dir", "service", "local_dc"}
	if name == "pick" {
		required = append(required, "keys")
	}
	if !parse(fs, args, required...) {
		return 2
	}
	if name == "call" && *count < 0 {
		fmt.Fprintln(os.Stderr, "kess-example call: --count is required")
		return 2
	}
	inner := "weighted_random"
	if name == "pick" {
		inner = "hrw"
	}
	o := kess.DiscoveryOptions{
		Options: kess.Options{CacheDir: *cacheDir, Agent: *agent, NoAgent: *agent == "",
			PollInterval: 200 * time.Millisecond},
		Balancer: "local_first", LocalDatacenter: *localDC, MinLocalHealthy: 1, LocalFirstInner: inner,
	}
	d, err := kess.NewDiscovery(o)
	if err != nil {
		log.Print(err)
		return 2
	}
	defer d.Close()
	deadline := time.Now().Add(seconds(*waitS))
	for {
		if _, err := d.Select(*service, ""); err == nil {
			break
		} else if !errors.Is(err, kess.ErrNotFound) || time.Now().After(deadline) {
			log.Printf("no instance of %s within %gs: %v", *service, *waitS, err)
			return 1
		}
		time.Sleep(100 * time.Millisecond)
	}
	if name == "pick" {
		for _, key := range strings.Split(*keys, ",") {
			if key == "" {
				continue
			}
			in, err := d.Select(*service, key)
			if err != nil {
				log.Print(err)
				return 1
			}
			emit(map[string]string{"key": key, "instance": in.ID})
		}
		return 0
	}
	client := &http.Client{Timeout: seconds(*callTimeoutS), Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for i := 0; i < *count; i++ {
		in, err := d.Select(*service, "")
		if err != nil {
			log.Print(err)
			return 1
		}
		text, err := get(client, in.Address)
		if err != nil {
			d.ReportFailure(*service, in.ID)
			emit(map[string]string{"instance": in.ID, "error": err.Error()})
			continue
		}
		d.ReportSuccess(*service, in.ID)
		emit(map[string]string{"instance": in.ID, "body": text})
	}
	return 0
}

func get(client *http.Client, address string) (string, error) {
	resp, err := client.Get("http://" + address + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return string(data), nil
}

func watch(args []string) int {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	agentAddr := fs.String("agent", "", "the agent's API: http://host:port or unix:PATH")
	namespace := fs.String("namespace", "", "config namespace")
	key := fs.String("key", "", "config key")
	timeoutS := fs.Float64("timeout_s", 30, "how long to watch")
	cacheDir := fs.String("cache_dir", "", "the agent's --cache_dir (default: learnt from the agent)")
	if !parse(fs, args, "agent", "namespace", "key") {
		return 2
	}
	owner := fmt.Sprintf("kess-example-%d", os.Getpid())
	dir := *cacheDir
	if dir == "" {
		// The agent's answer names the file; the cache dir is three up.
		agent, err := kess.NewAgent(*agentAddr, 10*time.Second)
		if err != nil {
			log.Print(err)
			return 2
		}
		ans, err := agent.Subscribe(context.Background(), owner,
			kess.Subscription{Configs: []kess.ConfigName{{Namespace: *namespace, Key: *key}}})
		if err != nil || len(ans.Subscriptions) == 0 || ans.Subscriptions[0].Path == "" {
			log.Printf("cannot learn the cache dir from the agent (%v); give --cache_dir", err)
			return 1
		}
		dir = filepath.Dir(filepath.Dir(filepath.Dir(ans.Subscriptions[0].Path)))
	}
	client, err := kess.NewConfigClient(kess.Options{CacheDir: dir, Agent: *agentAddr, Owner: owner,
		PollInterval: 500 * time.Millisecond})
	if err != nil {
		log.Print(err)
		return 2
	}
	h, err := client.Watch(*namespace, *key, func(v kess.ConfigValue) {
		line := map[string]interface{}{"revision": v.Revision, "value": strings.ToValidUTF8(string(v.Value), "\uFFFD")}
		if v.Deleted {
			line["deleted"] = true
		}
		emit(line)
	})
	if err != nil {
		log.Print(err)
		client.Close()
		return 2
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-stop:
	case <-time.After(seconds(*timeoutS)):
	}
	h.Stop()
	if err := client.Close(); err != nil {
		log.Printf("unsubscribing: %v", err)
	}
	return 0
}
