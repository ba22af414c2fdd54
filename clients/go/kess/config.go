package kess

import "fmt"

// ConfigValue is one version of a config.
type ConfigValue struct {
	Namespace   string
	Key         string
	Revision    int64
	Deleted     bool   // deleted upstream at Revision (a tombstone)
	Value       []byte // raw bytes
	ContentType string
	MtimeMs     int64 // when the change was committed upstream (Unix ms)
}

func configValue(e *Entry) ConfigValue {
	return ConfigValue{
		Namespace: e.Key.Namespace, Key: e.Key.Key, Revision: e.Revision,
		Deleted: e.Absent, Value: e.Value, ContentType: e.ContentType, MtimeMs: e.MtimeMs,
	}
}

// ConfigClient reads configs from the agent's file cache and tells the
// application about every new version, like the C++ SDK's ConfigClient.
//
// Watch subscribes the key through the agent (POST /v1/subscriptions with
// this client's owner, retried with backoff while the agent does not take
// it) and learns new versions through the agent's blocking watch
// (GET /v1/watch); while the agent is unreachable (or with
// Options.NoAgent) it polls the files every Options.PollInterval instead.
//
// Last good value: a garbled, truncated or tampered file, an unknown
// format, a vanished file, a lower or equal revision, or an agent outage
// never replaces a good version: Get keeps returning it, and the error is
// counted (ReadErrors) and logged at most every 10 s per key. Without an
// agent the client serves what the cache holds.
//
// All methods are safe for concurrent use. Callbacks run on the client's
// goroutine, one at a time; they must not block for long (they may start
// and stop watches, but must not call Close or PollNow).
type ConfigClient struct{ w *watcher }

// NewConfigClient starts a client (its goroutine runs until Close).
func NewConfigClient(o Options) (*ConfigClient, error) {
	w, err := newWatcher(o)
	if err != nil {
		return nil, err
	}
	return &ConfigClient{w: w}, nil
}

// Get returns the last good version of a config: for a watched key the
// newest one read so far, otherwise read from the cache now. Errors wrap
// ErrNotFound (no file yet, or the config was deleted), ErrGarbled (the
// file does not decode and no good version was read before) or
// ErrInvalidName.
func (c *ConfigClient) Get(namespace, key string) (ConfigValue, error) {
	e, err := c.w.get(ConfigKey(namespace, key))
	if err != nil {
		return ConfigValue{}, err
	}
	if e.Absent {
		return configValue(e), fmt.Errorf("kess: %w: config %s/%s was deleted at revision %d",
			ErrNotFound, namespace, key, e.Revision)
	}
	return configValue(e), nil
}

// Watch subscribes one config through the agent and calls cb with the
// current version (if the cache has one) and every newer one, each once, in
// revision order; deletions arrive with Deleted set. The error wraps
// ErrInvalidName for an invalid name; nothing else fails.
func (c *ConfigClient) Watch(namespace, key string, cb func(ConfigValue)) (*WatchHandle, error) {
	return c.w.watchKey(ConfigKey(namespace, key), func(e *Entry) { cb(configValue(e)) })
}

// WatchNamespace subscribes a whole config namespace and calls cb with every
// key's current version and every newer one, keys created later included
// (learnt from the watch, or from the cache directory configs/<ns>/ while
// polling), deletions with Deleted set.
func (c *ConfigClient) WatchNamespace(namespace string, cb func(ConfigValue)) (*WatchHandle, error) {
	return c.w.watchNamespace(namespace, func(e *Entry) { cb(configValue(e)) })
}

// Owner is this client's owner id at the agent.
func (c *ConfigClient) Owner() string { return c.w.o.Owner }

// ReadErrors counts the files (and watch changes) that did not decode; the
// last good version was kept each time.
func (c *ConfigClient) ReadErrors() int64 { return c.w.readErrors.Load() }

// PollNow checks every watched file on the calling goroutine and runs the
// callbacks of new versions there.
func (c *ConfigClient) PollNow() { c.w.pollNow() }

// Close stops the client's goroutine and, unless Options.KeepSubscriptions,
// unsubscribes everything it held (DELETE /v1/subscriptions; the cache
// files stay). The error is the DELETE's.
func (c *ConfigClient) Close() error { return c.w.close() }
