package kess

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
)

// ErrGarbled is wrapped by every error about a cache file (or a watch
// change) that does not decode: not JSON, a missing or mistyped field, an
// unknown format, type or encoding, bad base64, a CRC-32 mismatch, or a
// file that holds another key. A reader keeps its last good value then.
var ErrGarbled = errors.New("garbled cache file")

// ErrNotFound is wrapped when there is no value: no file yet, no route
// table yet, a deleted config, or no instance to pick.
var ErrNotFound = errors.New("not found")

// CacheFormat is the only file cache format this client reads.
const CacheFormat = 1

// Kind of a cache entry.
const (
	KindConfig = "config"
	KindRoute  = "route"
)

// Key names one cache file: a config (Namespace, Key) or a route table
// (Service).
type Key struct {
	Kind      string // KindConfig or KindRoute
	Namespace string
	Key       string
	Service   string
}

// ConfigKey is the Key of config namespace/key.
func ConfigKey(namespace, key string) Key {
	return Key{Kind: KindConfig, Namespace: namespace, Key: key}
}

// RouteKey is the Key of a service's route table.
func RouteKey(service string) Key { return Key{Kind: KindRoute, Service: service} }

// String is "config ns/key" or "route svc".
func (k Key) String() string {
	if k.Kind == KindConfig {
		return "config " + k.Namespace + "/" + k.Key
	}
	return "route " + k.Service
}

// Validate checks the names of the key.
func (k Key) Validate() error {
	switch k.Kind {
	case KindConfig:
		if err := ValidateName("namespace", k.Namespace); err != nil {
			return err
		}
		return ValidateName("key", k.Key)
	case KindRoute:
		return ValidateName("service", k.Service)
	}
	return fmt.Errorf("%w: unknown kind %q", ErrInvalidName, k.Kind)
}

// RelativePath is the key's file below the cache directory:
// configs/<ns>/<key>.json or routes/<service>.json.
func (k Key) RelativePath() string {
	if k.Kind == KindConfig {
		return filepath.Join("configs", k.Namespace, k.Key+".json")
	}
	return filepath.Join("routes", k.Service+".json")
}

// Entry is one version of a cache file (docs/file-cache.md), decoded and
// verified.
type Entry struct {
	Key         Key
	Revision    int64
	Absent      bool   // a tombstone: deleted upstream at Revision
	Value       []byte // the raw bytes (decoded from utf8 or base64)
	ContentType string
	MtimeMs     int64 // committed upstream (Unix ms)
	WrittenMs   int64 // written by the agent (Unix ms)
}

// DecodeEntry decodes and verifies one cache file's JSON (or one change of
// a watch answer): format 1, every field present with its type, the
// encoding known, the names valid and the CRC-32 of the value matching.
// Unknown extra fields are ignored. Errors wrap ErrGarbled.
func DecodeEntry(data []byte) (*Entry, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", ErrGarbled, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrGarbled)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the object", ErrGarbled)
	}
	f := fields{raw: raw}
	format := f.int("format")
	if f.err != nil {
		return nil, f.err
	}
	if format != CacheFormat {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrGarbled, format)
	}
	e := &Entry{}
	switch kind := f.str("type"); kind {
	case KindConfig:
		e.Key = Key{Kind: KindConfig, Namespace: f.str("namespace"), Key: f.str("key")}
	case KindRoute:
		e.Key = Key{Kind: KindRoute, Service: f.str("service")}
	default:
		if f.err == nil {
			f.err = fmt.Errorf("%w: unknown type %q", ErrGarbled, kind)
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	if err := e.Key.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGarbled, err)
	}
	e.Revision = f.int("revision")
	e.Absent = f.boolean("absent")
	crc := f.int("crc32")
	encoding := f.str("encoding")
	value := f.str("value")
	e.ContentType = f.str("content_type")
	e.MtimeMs = f.int("mtime_ms")
	e.WrittenMs = f.int("written_ms")
	if f.err != nil {
		return nil, f.err
	}
	switch encoding {
	case "utf8":
		e.Value = []byte(value)
	case "base64":
		v, err := base64.StdEncoding.Strict().DecodeString(value)
		if err != nil {
			return nil, fmt.Errorf("%w: \"value\" is not valid base64", ErrGarbled)
		}
		e.Value = v
	default:
		return nil, fmt.Errorf("%w: unknown encoding %q", ErrGarbled, encoding)
	}
	if actual := crc32.ChecksumIEEE(e.Value); int64(actual) != crc {
		return nil, fmt.Errorf("%w: crc32 of the value is %d, the file says %d", ErrGarbled, actual, crc)
	}
	return e, nil
}

// ReadEntry reads and verifies the cache file of `key` below cacheDir.
// Errors: os.ErrNotExist (wrapped) for no file, ErrGarbled for a file that
// does not decode or holds another key, ErrInvalidName for a bad key.
func ReadEntry(cacheDir string, key Key) (*Entry, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	path := filepath.Join(cacheDir, key.RelativePath())
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kess: reading %s: %w", path, err)
	}
	e, err := DecodeEntry(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if e.Key != key {
		return nil, fmt.Errorf("%s: %w: holds %s, expected %s", path, ErrGarbled, e.Key, key)
	}
	return e, nil
}

// fields reads typed fields of a JSON object; the first error sticks.
type fields struct {
	raw map[string]json.RawMessage
	err error
}

func (f *fields) get(name string, out interface{}, what string) {
	if f.err != nil {
		return
	}
	v, ok := f.raw[name]
	if !ok {
		f.err = fmt.Errorf("%w: missing field %q", ErrGarbled, name)
		return
	}
	if err := json.Unmarshal(v, out); err != nil || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		f.err = fmt.Errorf("%w: %q is not %s", ErrGarbled, name, what)
	}
}

func (f *fields) int(name string) int64 {
	var n json.Number
	f.get(name, &n, "an integer")
	if f.err != nil {
		return 0
	}
	if t := bytes.TrimSpace(f.raw[name]); len(t) > 0 && t[0] == '"' {
		f.err = fmt.Errorf("%w: %q is not an integer", ErrGarbled, name)
		return 0
	}
	s := n.String()
	if strings.ContainsAny(s, ".eE") {
		f.err = fmt.Errorf("%w: %q is not an integer", ErrGarbled, name)
		return 0
	}
	v, err := n.Int64()
	if err != nil {
		f.err = fmt.Errorf("%w: %q is not an integer", ErrGarbled, name)
	}
	return v
}

func (f *fields) str(name string) string {
	var s string
	f.get(name, &s, "a string")
	return s
}

func (f *fields) boolean(name string) bool {
	var b bool
	f.get(name, &b, "a boolean")
	return b
}
