package kess

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
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

// Reason classes of a cache file that does not decode (the contract of
// clients/conformance; messages are free).
const (
	ReasonNotJSON         = "not_json"
	ReasonMissingField    = "missing_field"
	ReasonWrongType       = "wrong_type"
	ReasonUnknownFormat   = "unknown_format"
	ReasonUnknownType     = "unknown_type"
	ReasonInvalidName     = "invalid_name"
	ReasonUnknownEncoding = "unknown_encoding"
	ReasonBadBase64       = "bad_base64"
	ReasonCRCMismatch     = "crc_mismatch"
	ReasonKeyMismatch     = "key_mismatch"
)

// GarbledError is a cache file (or watch change) that does not decode,
// with its reason class. errors.Is(err, ErrGarbled) holds for it.
type GarbledError struct {
	Reason  string // one of the Reason* constants
	Message string
}

func (e *GarbledError) Error() string { return "garbled cache file: " + e.Message }

// Is makes errors.Is(err, ErrGarbled) true.
func (e *GarbledError) Is(target error) bool { return target == ErrGarbled }

func garbled(reason, format string, args ...interface{}) error {
	return &GarbledError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// GarbledReason returns the reason class of a GarbledError in err's chain,
// "" if there is none.
func GarbledReason(err error) string {
	var g *GarbledError
	if errors.As(err, &g) {
		return g.Reason
	}
	return ""
}

// DecodeEntry decodes and verifies one cache file's JSON (or one change of
// a watch answer), checking in this order: a JSON object; "format" an
// integer equal to 1; "type" "config" or "route"; the names strings and
// valid; "revision", "absent", "crc32", "encoding", "value" present with
// their types; the encoding known and a base64 value decodable;
// "content_type", "mtime_ms", "written_ms" present with their types; the
// CRC-32 of the value bytes matching. Unknown extra fields are ignored.
// Errors are *GarbledError (errors.Is(err, ErrGarbled)).
func DecodeEntry(data []byte) (*Entry, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, garbled(ReasonNotJSON, "not a JSON object: %v", err)
	}
	if raw == nil {
		return nil, garbled(ReasonNotJSON, "not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, garbled(ReasonNotJSON, "data after the JSON object")
	}
	f := fields{raw: raw}
	format := f.int("format")
	if f.err != nil {
		return nil, f.err
	}
	if format != CacheFormat {
		return nil, garbled(ReasonUnknownFormat, "unknown format version %d", format)
	}
	e := &Entry{}
	switch kind := f.str("type"); {
	case f.err != nil:
		return nil, f.err
	case kind == KindConfig:
		e.Key = Key{Kind: KindConfig, Namespace: f.str("namespace"), Key: f.str("key")}
	case kind == KindRoute:
		e.Key = Key{Kind: KindRoute, Service: f.str("service")}
	default:
		return nil, garbled(ReasonUnknownType, "unknown type %q", kind)
	}
	if f.err != nil {
		return nil, f.err
	}
	if err := e.Key.Validate(); err != nil {
		return nil, garbled(ReasonInvalidName, "%v", err)
	}
	e.Revision = f.int("revision")
	e.Absent = f.boolean("absent")
	crc := f.int("crc32")
	encoding := f.str("encoding")
	value := f.str("value")
	if f.err != nil {
		return nil, f.err
	}
	switch encoding {
	case "utf8":
		e.Value = []byte(value)
	case "base64":
		v, err := base64.StdEncoding.Strict().DecodeString(value)
		if err != nil {
			return nil, garbled(ReasonBadBase64, "\"value\" is not valid base64")
		}
		e.Value = v
	default:
		return nil, garbled(ReasonUnknownEncoding, "unknown encoding %q", encoding)
	}
	e.ContentType = f.str("content_type")
	e.MtimeMs = f.int("mtime_ms")
	e.WrittenMs = f.int("written_ms")
	if f.err != nil {
		return nil, f.err
	}
	if actual := crc32.ChecksumIEEE(e.Value); int64(actual) != crc {
		return nil, garbled(ReasonCRCMismatch, "crc32 of the value is %d, the file says %d", actual, crc)
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
		return nil, fmt.Errorf("%s: %w", path, garbled(ReasonKeyMismatch, "holds %s, expected %s", e.Key, key))
	}
	return e, nil
}

// fields reads typed fields of a JSON object; the first error sticks.
type fields struct {
	raw map[string]json.RawMessage
	err error
}

// get decodes field `name` into out; a missing field is missing_field, a
// null or another JSON type wrong_type.
func (f *fields) get(name string, out interface{}, what string) {
	if f.err != nil {
		return
	}
	v, ok := f.raw[name]
	if !ok {
		f.err = garbled(ReasonMissingField, "missing field %q", name)
		return
	}
	if err := json.Unmarshal(v, out); err != nil || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		f.err = garbled(ReasonWrongType, "%q is not %s", name, what)
	}
}

// int: a JSON number without a fraction or exponent that fits 64 bits.
func (f *fields) int(name string) int64 {
	var n json.Number
	f.get(name, &n, "an integer")
	if f.err != nil {
		return 0
	}
	t := bytes.TrimSpace(f.raw[name])
	if len(t) > 0 && t[0] == '"' || strings.ContainsAny(n.String(), ".eE") {
		f.err = garbled(ReasonWrongType, "%q is not an integer", name)
		return 0
	}
	v, err := n.Int64()
	if err != nil {
		f.err = garbled(ReasonWrongType, "%q is not a 64-bit integer", name)
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
