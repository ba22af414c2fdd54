package kess

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestDecodeEntry(t *testing.T) {
	k := ConfigKey("shop", "db.timeout")
	e, err := DecodeEntry(encodeEntry(k, 42, false, []byte("30s")))
	if err != nil || e.Key != k || e.Revision != 42 || string(e.Value) != "30s" || e.Absent ||
		e.ContentType != "text/plain" || e.MtimeMs != 1700000000000 || e.WrittenMs != 1700000000123 {
		t.Fatalf("got %+v, %v", e, err)
	}
	bin := []byte{0, 1, 2, 0xff, 0xfe}
	e, err = DecodeEntry(encodeEntry(k, 43, false, bin))
	if err != nil || string(e.Value) != string(bin) {
		t.Fatalf("base64: %+v, %v", e, err)
	}
	e, err = DecodeEntry(encodeEntry(RouteKey("pay"), 44, true, nil))
	if err != nil || !e.Absent || e.Key != RouteKey("pay") {
		t.Fatalf("tombstone: %+v, %v", e, err)
	}
	// The documented example (its crc32 for "30s", zlib.crc32(b"30s")), with
	// an unknown extra field.
	doc := `{"format":1,"type":"config","namespace":"shop","key":"db.timeout",
	  "revision":42,"absent":false,"crc32":3475412142,"encoding":"utf8",
	  "value":"30s","content_type":"text/plain","later":{"x":1},
	  "mtime_ms":1700000000000,"written_ms":1700000000123}`
	if _, err := DecodeEntry([]byte(doc)); err != nil {
		t.Fatalf("documented example: %v", err)
	}
}

func TestDecodeEntryRefusesGarbage(t *testing.T) {
	good := string(encodeEntry(ConfigKey("shop", "k"), 5, false, []byte("value")))
	cases := map[string]string{
		"empty":          "",
		"truncated":      good[:len(good)/2],
		"not an object":  "[1,2]",
		"format 2":       strings.Replace(good, `"format":1`, `"format":2`, 1),
		"format string":  strings.Replace(good, `"format":1`, `"format":"1"`, 1),
		"crc mismatch":   strings.Replace(good, `"value":"value"`, `"value":"valuf"`, 1),
		"bad encoding":   strings.Replace(good, `"encoding":"utf8"`, `"encoding":"hex"`, 1),
		"bad type":       strings.Replace(good, `"type":"config"`, `"type":"secret"`, 1),
		"bad name":       strings.Replace(good, `"key":"k"`, `"key":"../k"`, 1),
		"no revision":    strings.Replace(good, `"revision":5,`, ``, 1),
		"float revision": strings.Replace(good, `"revision":5`, `"revision":5.5`, 1),
		"absent string":  strings.Replace(good, `"absent":false`, `"absent":"false"`, 1),
		"trailing":       good + "{}",
	}
	bad64 := string(encodeEntry(ConfigKey("shop", "k"), 5, false, []byte{0xff}))
	cases["bad base64"] = strings.Replace(bad64, `"value":"/w=="`, `"value":"/w="`, 1)
	for name, doc := range cases {
		if _, err := DecodeEntry([]byte(doc)); !errors.Is(err, ErrGarbled) {
			t.Errorf("%s: got %v, want ErrGarbled", name, err)
		}
	}
}

func TestReadEntry(t *testing.T) {
	dir := t.TempDir()
	k := ConfigKey("shop", "a")
	if _, err := ReadEntry(dir, k); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	writeEntry(t, dir, k, 3, false, "x")
	if e, err := ReadEntry(dir, k); err != nil || string(e.Value) != "x" {
		t.Fatalf("%+v %v", e, err)
	}
	// A file that holds another key is garbled.
	writeFile(t, dir, ConfigKey("shop", "b"), encodeEntry(k, 3, false, []byte("x")))
	if _, err := ReadEntry(dir, ConfigKey("shop", "b")); !errors.Is(err, ErrGarbled) {
		t.Fatalf("other key: %v", err)
	}
	if _, err := ReadEntry(dir, ConfigKey("..", "b")); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("invalid name: %v", err)
	}
}
