"""The kess name rules (the same as model/names.h).

Namespaces, config keys, services, datacenters, host ids, instance ids and
owners: ASCII letters, digits, '.', '_', '-'; they start with a letter or
digit, are 1..128 bytes, are never "." or ".." and never contain "..".

Thread-safe: pure functions.
"""

import re
from typing import Optional

MAX_NAME_LENGTH = 128

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*\Z")


def name_error(kind: str, name: str) -> Optional[str]:
    """Why `name` breaks the rules (a message naming `kind`), or None."""
    if not isinstance(name, str):
        return "%s must be a string" % kind
    if not name:
        return "%s is empty" % kind
    if len(name) > MAX_NAME_LENGTH:
        return "%s %r is longer than %d bytes" % (kind, name[:32],
                                                  MAX_NAME_LENGTH)
    if _NAME_RE.match(name) is None or not name.isascii():
        return ("%s %r is invalid (allowed: A-Z a-z 0-9 . _ -, starting with "
                "a letter or digit)" % (kind, name[:64]))
    if ".." in name:
        return "%s %r contains '..'" % (kind, name[:64])
    return None


def valid_name(name: str) -> bool:
    """Whether `name` follows the rules."""
    return name_error("name", name) is None


def check_name(kind: str, name: str) -> None:
    """Raises ValueError when `name` breaks the rules."""
    error = name_error(kind, name)
    if error is not None:
        raise ValueError(error)
