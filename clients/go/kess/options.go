package kess

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"
)

// DefaultCacheDir is the agent's default --cache_dir.
const DefaultCacheDir = "/var/cache/kess"

// DefaultAgent is the agent's default HTTP API address.
const DefaultAgent = "http://127.0.0.1:7310"

// Options configure a ConfigClient (and the cache side of a Discovery).
// The zero value means every default.
type Options struct {
	// CacheDir is the agent's --cache_dir; default DefaultCacheDir.
	CacheDir string
	// Agent is the agent's API: "http://host:port", "host:port" or
	// "unix:///path/to/agent.sock"; default DefaultAgent. Ignored with
	// NoAgent.
	Agent string
	// NoAgent: never subscribe or watch through an agent; only read (and
	// poll) what the cache holds, e.g. keys subscribed otherwise.
	NoAgent bool
	// PollInterval is how often the files are checked while the agent's
	// watch is unavailable (and without an agent); default 1 s.
	PollInterval time.Duration
	// WatchTimeout is the timeout of each blocking watch call; default 60 s.
	WatchTimeout time.Duration
	// HTTPTimeout bounds every other agent call; default 5 s.
	HTTPTimeout time.Duration
	// SubscribeRetryInitial and SubscribeRetryMax bound the backoff of a
	// subscription the agent did not take (it is retried until it does);
	// defaults 500 ms and 30 s.
	SubscribeRetryInitial time.Duration
	SubscribeRetryMax     time.Duration
	// Owner is this client's name at the agent (the "app" of its
	// subscriptions); default "<program>-<pid>-<random>", new for every
	// client, so that two clients never remove each other's subscriptions.
	Owner string
	// KeepSubscriptions: do not send DELETE /v1/subscriptions when the last
	// handle of a key or namespace is stopped, nor on Close.
	KeepSubscriptions bool
	// Logger receives warnings (rate-limited per key); default log.Default().
	Logger *log.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir
	}
	if o.Agent == "" {
		o.Agent = DefaultAgent
	}
	if o.PollInterval == 0 {
		o.PollInterval = time.Second
	}
	if o.PollInterval < 0 {
		return o, fmt.Errorf("kess: poll interval %v is not positive", o.PollInterval)
	}
	if o.WatchTimeout <= 0 {
		o.WatchTimeout = 60 * time.Second
	}
	if o.HTTPTimeout <= 0 {
		o.HTTPTimeout = 5 * time.Second
	}
	if o.SubscribeRetryInitial <= 0 {
		o.SubscribeRetryInitial = 500 * time.Millisecond
	}
	if o.SubscribeRetryMax < o.SubscribeRetryInitial {
		o.SubscribeRetryMax = 30 * time.Second
	}
	if o.Owner == "" {
		o.Owner = DefaultOwner()
	} else if err := ValidateName("owner", o.Owner); err != nil {
		return o, err
	}
	if o.Logger == nil {
		o.Logger = log.Default()
	}
	return o, nil
}

// DefaultOwner is "<program>-<pid>-<random hex>", made of name characters
// only: a new owner id every call.
func DefaultOwner() string {
	program := []byte(filepath.Base(os.Args[0]))
	for i, c := range program {
		if !allowedNameByte(c) {
			program[i] = '_'
		}
	}
	if len(program) == 0 || !alnum(program[0]) {
		program = append([]byte("go"), program...)
	}
	if len(program) > 64 {
		program = program[:64]
	}
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	owner := fmt.Sprintf("%s-%d-%s", program, os.Getpid(), hex.EncodeToString(nonce[:]))
	for i := 0; i+1 < len(owner); i++ { // ".." is not a name
		if owner[i] == '.' && owner[i+1] == '.' {
			owner = owner[:i+1] + "_" + owner[i+2:]
		}
	}
	return owner
}
