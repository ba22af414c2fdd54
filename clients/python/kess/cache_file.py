"""One file of the agent's file cache (docs/file-cache.md, format 1).

decode_entry() turns a file's bytes (or one change of the agent's blocking
watch, which is the same JSON object) into a verified CacheEntry, or raises
GarbledFile: it does not parse, misses a field, has an unknown format,
type or encoding, an invalid name, or a CRC-32 that does not match. A
garbled file never replaces a good value: callers keep the last good entry.
The rules are model/file_cache/format.cc's DecodeEntry.

Thread-safety: pure functions and immutable values.
"""

import base64
import binascii
import json
import os
import zlib
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple, Union

from kess.names import name_error

FORMAT_VERSION = 1

CONFIG = "config"
ROUTE = "route"


class GarbledFile(Exception):
    """A cache file (or watch change) that cannot be used. `reason` is the
    class of the first check that failed (clients/conformance/README.md
    2.1): not_json, missing_field, wrong_type, unknown_format,
    unknown_type, invalid_name, unknown_encoding, bad_base64,
    crc_mismatch, key_mismatch."""

    def __init__(self, message: str, reason: str = "not_json") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class CacheKey:
    """What a cache file holds: a config (namespace, key) or a route table."""

    type: str            # CONFIG or ROUTE
    namespace: str = ""  # configs
    key: str = ""        # configs
    service: str = ""    # routes

    @staticmethod
    def config(namespace: str, key: str) -> "CacheKey":
        return CacheKey(CONFIG, namespace=namespace, key=key)

    @staticmethod
    def route(service: str) -> "CacheKey":
        return CacheKey(ROUTE, service=service)

    def validate(self) -> None:
        """Raises ValueError for an invalid name."""
        if self.type == CONFIG:
            errors = [name_error("namespace", self.namespace),
                      name_error("key", self.key)]
        elif self.type == ROUTE:
            errors = [name_error("service", self.service)]
        else:
            errors = ["unknown type %r" % self.type]
        for e in errors:
            if e is not None:
                raise ValueError(e)

    def path(self, cache_dir: str) -> str:
        """The file of this key under `cache_dir`. REQUIRES: valid names."""
        if self.type == CONFIG:
            return os.path.join(cache_dir, "configs", self.namespace,
                                self.key + ".json")
        return os.path.join(cache_dir, "routes", self.service + ".json")

    def __str__(self) -> str:
        if self.type == CONFIG:
            return "config %s/%s" % (self.namespace, self.key)
        return "route %s" % self.service


@dataclass(frozen=True)
class CacheEntry:
    """One verified version of a config or route table."""

    key: CacheKey
    revision: int
    absent: bool          # a tombstone: deleted upstream at `revision`
    value: bytes          # raw bytes (b"" for a tombstone)
    content_type: str
    mtime_ms: int         # committed upstream (Unix ms)
    written_ms: int       # written by the agent (Unix ms)


def _field(doc: Dict[str, Any], name: str) -> Any:
    if name not in doc:
        raise GarbledFile("missing field %r" % name, "missing_field")
    return doc[name]


def _int(doc: Dict[str, Any], name: str) -> int:
    v = _field(doc, name)
    if isinstance(v, bool) or not isinstance(v, int):
        raise GarbledFile("%r is not an integer" % name, "wrong_type")
    return v


def _str(doc: Dict[str, Any], name: str) -> str:
    v = _field(doc, name)
    if not isinstance(v, str):
        raise GarbledFile("%r is not a string" % name, "wrong_type")
    return v


def _bool(doc: Dict[str, Any], name: str) -> bool:
    v = _field(doc, name)
    if not isinstance(v, bool):
        raise GarbledFile("%r is not a boolean" % name, "wrong_type")
    return v


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4) if "=" not in text else text
    try:
        return base64.b64decode(padded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as e:
        raise GarbledFile("'value' is not valid base64: %s" % e,
                          "bad_base64")


def decode_object(doc: Any) -> CacheEntry:
    """A verified entry from a parsed JSON object; raises GarbledFile."""
    if not isinstance(doc, dict):
        raise GarbledFile("not a JSON object")
    fmt = _int(doc, "format")
    if fmt != FORMAT_VERSION:
        raise GarbledFile("unknown format version %d" % fmt,
                          "unknown_format")
    kind = _str(doc, "type")
    if kind == CONFIG:
        key = CacheKey.config(_str(doc, "namespace"), _str(doc, "key"))
    elif kind == ROUTE:
        key = CacheKey.route(_str(doc, "service"))
    else:
        raise GarbledFile("unknown type %r" % kind, "unknown_type")
    try:
        key.validate()
    except ValueError as e:
        raise GarbledFile(str(e), "invalid_name")
    revision = _int(doc, "revision")
    absent = _bool(doc, "absent")
    crc = _int(doc, "crc32")
    encoding = _str(doc, "encoding")
    text = _str(doc, "value")
    if encoding == "utf8":
        try:
            value = text.encode("utf-8")
        except UnicodeEncodeError as e:  # lone surrogates from \\ud800 escapes
            raise GarbledFile("'value' is not valid UTF-8: %s" % e,
                              "wrong_type")
    elif encoding == "base64":
        value = _b64decode(text)
    else:
        raise GarbledFile("unknown encoding %r" % encoding,
                          "unknown_encoding")
    content_type = _str(doc, "content_type")
    mtime_ms = _int(doc, "mtime_ms")
    written_ms = _int(doc, "written_ms")
    actual = zlib.crc32(value)
    if crc != actual:
        raise GarbledFile("crc32 of the value is %d, the file says %d" %
                          (actual, crc), "crc_mismatch")
    return CacheEntry(key, revision, absent, value, content_type, mtime_ms,
                      written_ms)


def decode_entry(data: Union[bytes, str]) -> CacheEntry:
    """A verified entry from a file's bytes; raises GarbledFile."""
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise GarbledFile("not JSON: %s" % e)
    return decode_object(doc)


FileInfo = Tuple[int, int, int, int]  # (device, inode, size, mtime_ns)


def stat_file(path: str) -> Optional[FileInfo]:
    """What tells one version of a file from the next; None if missing."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def read_entry(path: str, expected: Optional[CacheKey] = None) -> CacheEntry:
    """Reads and verifies one file. FileNotFoundError if there is none,
    GarbledFile if it is unusable or holds another key than `expected`."""
    with open(path, "rb") as f:
        data = f.read()
    entry = decode_entry(data)
    if expected is not None and entry.key != expected:
        raise GarbledFile("%s: holds %s, expected %s" %
                          (path, entry.key, expected), "key_mismatch")
    return entry


def list_namespace(cache_dir: str, namespace: str) -> list:
    """The keys that have a file in configs/<namespace>/ (dot-files, temp
    files of writes in progress, are ignored; so are invalid names)."""
    try:
        names = os.listdir(os.path.join(cache_dir, "configs", namespace))
    except (FileNotFoundError, NotADirectoryError):
        return []
    keys = []
    for n in names:
        if n.startswith(".") or not n.endswith(".json"):
            continue
        k = n[:-len(".json")]
        if name_error("key", k) is None:
            keys.append(k)
    return sorted(keys)
