package kess

import (
	"errors"
	"fmt"
)

// ErrInvalidName is wrapped by every error about a name that breaks the kess
// name rules.
var ErrInvalidName = errors.New("invalid name")

// MaxNameLength is the longest namespace, key, service or instance id.
const MaxNameLength = 128

// ValidateName checks a namespace, key, service, instance id or owner
// against the kess name rules (model/names.h): 1..128 bytes of A-Z a-z 0-9
// . _ -, starting with a letter or digit, never containing "..". `what`
// names the kind in the error ("namespace", "key", ...).
func ValidateName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%w: %s name is empty", ErrInvalidName, what)
	}
	shown := name
	if len(shown) > 64 {
		shown = shown[:64] + "..."
	}
	if len(name) > MaxNameLength {
		return fmt.Errorf("%w: %s %q: length %d exceeds %d", ErrInvalidName, what, shown, len(name), MaxNameLength)
	}
	for i := 0; i < len(name); i++ {
		if !allowedNameByte(name[i]) {
			return fmt.Errorf("%w: %s %q: byte 0x%02x at offset %d is not allowed (allowed: A-Z a-z 0-9 . _ -)",
				ErrInvalidName, what, shown, name[i], i)
		}
	}
	if !alnum(name[0]) {
		return fmt.Errorf("%w: %s %q: must start with a letter or digit", ErrInvalidName, what, shown)
	}
	for i := 0; i+1 < len(name); i++ {
		if name[i] == '.' && name[i+1] == '.' {
			return fmt.Errorf("%w: %s %q: must not contain \"..\"", ErrInvalidName, what, shown)
		}
	}
	return nil
}

func alnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func allowedNameByte(c byte) bool { return alnum(c) || c == '.' || c == '_' || c == '-' }
