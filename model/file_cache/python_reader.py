#!/usr/bin/env python3
"""Reads kess file-cache files with the Python standard library only.

This is the reference reader of docs/file-cache.md. Run as a test:
    python_reader.py CACHE_DIR
checks the samples written by write_samples.cc.
"""
import base64
import json
import os
import sys
import zlib


class GarbledFile(Exception):
    pass


def read_entry(path):
    """Returns the verified entry dict with "value" as bytes.

    Raises FileNotFoundError if there is no file, GarbledFile if it does not
    parse or its CRC-32 does not match.
    """
    with open(path, "rb") as f:
        raw = f.read()
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GarbledFile("%s: %s" % (path, e))
    if doc.get("format") != 1:
        raise GarbledFile("%s: unknown format %r" % (path, doc.get("format")))
    if doc["encoding"] == "base64":
        value = base64.b64decode(doc["value"], validate=True)
    elif doc["encoding"] == "utf8":
        value = doc["value"].encode("utf-8")
    else:
        raise GarbledFile("%s: unknown encoding %r" % (path, doc["encoding"]))
    if zlib.crc32(value) != doc["crc32"]:
        raise GarbledFile("%s: crc32 mismatch" % path)
    doc["value"] = value
    return doc


def config_path(cache_dir, namespace, key):
    return os.path.join(cache_dir, "configs", namespace, key + ".json")


def route_path(cache_dir, service):
    return os.path.join(cache_dir, "routes", service + ".json")


def check_samples(cache_dir):
    e = read_entry(config_path(cache_dir, "shop", "db.timeout"))
    assert e["value"] == b"30s", e
    assert e["revision"] == 42 and e["type"] == "config", e
    assert e["namespace"] == "shop" and e["key"] == "db.timeout", e
    assert e["encoding"] == "utf8" and e["absent"] is False, e

    e = read_entry(config_path(cache_dir, "shop", "motd"))
    assert e["value"].decode("utf-8") == \
        "caf\u00e9 \"quoted\" <b>\n\ttab \U0001F600", e

    e = read_entry(route_path(cache_dir, "payments"))
    assert e["encoding"] == "base64", e
    assert e["value"] == bytes(range(255, -1, -1)), e
    assert e["type"] == "route" and e["service"] == "payments", e

    e = read_entry(config_path(cache_dir, "shop", "gone"))
    assert e["absent"] is True and e["revision"] == 45 and e["value"] == b""

    # A flipped byte in the value is caught by the checksum.
    path = config_path(cache_dir, "shop", "db.timeout")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace('"30s"', '"31s"'))
    try:
        read_entry(path)
    except GarbledFile:
        pass
    else:
        raise AssertionError("crc mismatch not detected")

    # Temp files (leading '.') are never picked up by a directory listing
    # that follows the documented rule: *.json not starting with '.'.
    names = sorted(n for n in os.listdir(os.path.join(cache_dir, "configs",
                                                      "shop"))
                   if n.endswith(".json") and not n.startswith("."))
    assert names == ["db.timeout.json", "gone.json", "motd.json"], names


if __name__ == "__main__":
    check_samples(sys.argv[1])
    print("ok")
