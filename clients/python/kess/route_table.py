"""Route tables (docs/route-table.md): parsing and validation.

parse_route_table() applies the rules of model/route_table.cc's
RouteTableFromJson: format 1, valid names, a weight in 1..10000, a known
state, "host:port" addresses, the health word, check_status and
check_output rules, at most 64 metadata entries, no duplicate ids. Unknown
fields are ignored. Instances come out sorted by id.

Thread-safety: immutable values and pure functions.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple, Union

from kess.names import name_error

ROUTE_TABLE_FORMAT = 1
MAX_INSTANCE_WEIGHT = 10000
MAX_CHECK_OUTPUT_BYTES = 256

HEALTHY = "healthy"
SUSPECT = "suspect"
DISABLED = "disabled"
STATES = (HEALTHY, SUSPECT, DISABLED)


class InvalidTable(ValueError):
    """A route table that does not parse or breaks a rule."""


@dataclass(frozen=True)
class RouteInstance:
    """One instance of a service, as the route table lists it."""

    id: str
    host: str
    address: str
    datacenter: str
    weight: int = 100
    state: str = HEALTHY
    health: str = "up"
    metadata: Dict[str, str] = field(default_factory=dict)
    registered_ms: int = 0
    check_status: str = ""   # "", "passing", "warning" or "critical"
    check_output: str = ""


@dataclass(frozen=True)
class RouteTable:
    """One version of a service's route table; instances sorted by id."""

    service: str
    revision: int = 0
    instances: Tuple[RouteInstance, ...] = ()


def _get(o: Dict[str, Any], name: str, where: str, required: bool,
         kind: type, default: Any) -> Any:
    v = o.get(name)
    if v is None:
        if required:
            raise InvalidTable('%s: field "%s" is missing' % (where, name))
        return default
    if kind is int:
        ok = isinstance(v, int) and not isinstance(v, bool)
    else:
        ok = isinstance(v, kind)
    if not ok:
        raise InvalidTable('%s: field "%s" has the wrong type' % (where, name))
    return v


def valid_health_word(health: str) -> bool:
    """1..32 characters of a-z and '_'."""
    return 0 < len(health) <= 32 and all(
        ("a" <= c <= "z") or c == "_" for c in health)


def valid_check_output(output: str) -> bool:
    """At most 256 bytes of printable ASCII, tab and newline."""
    return len(output) <= MAX_CHECK_OUTPUT_BYTES and all(
        (" " <= c < "\x7f") or c in "\t\n" for c in output)


def valid_address(address: str) -> bool:
    """"host:port" with a non-empty host and a port in 1..65535."""
    colon = address.rfind(":")
    if colon <= 0 or colon + 1 >= len(address) or \
            len(address.encode("utf-8")) > 256:
        return False
    port = address[colon + 1:]
    if not (port.isascii() and port.isdigit()) or len(port) > 6:
        return False
    return 1 <= int(port) <= 65535


def validate_instance(inst: RouteInstance) -> None:
    """Raises InvalidTable for an instance that breaks a rule."""
    e = name_error("key", inst.id)
    if e is not None:
        raise InvalidTable("id: " + e)
    where = 'instance "%s"' % inst.id[:64]
    for kind, value in (("host", inst.host), ("datacenter", inst.datacenter)):
        e = name_error(kind, value)
        if e is not None:
            raise InvalidTable("%s: %s" % (where, e))
    if not 1 <= inst.weight <= MAX_INSTANCE_WEIGHT:
        raise InvalidTable("%s: weight %d is outside 1..%d" %
                           (where, inst.weight, MAX_INSTANCE_WEIGHT))
    if not valid_address(inst.address):
        raise InvalidTable("%s: address must be host:port with a port in "
                           "1..65535" % where)
    if not valid_health_word(inst.health):
        raise InvalidTable("%s: health must be a lower-case word of a-z and _"
                           " (at most 32)" % where)
    if inst.check_status not in ("", "passing", "warning", "critical"):
        raise InvalidTable("%s: check_status %r is not one of passing, "
                           "warning, critical" %
                           (where, inst.check_status[:32]))
    if not valid_check_output(inst.check_output):
        raise InvalidTable("%s: check_output must be at most 256 bytes of "
                           "printable ASCII, tab and newline" % where)
    if len(inst.metadata) > 64:
        raise InvalidTable("%s: at most 64 metadata entries" % where)
    for k, v in inst.metadata.items():
        e = name_error("key", k)
        if e is not None:
            raise InvalidTable("%s: metadata %s" % (where, e))
        if len(v.encode("utf-8")) > 1024:
            raise InvalidTable('%s: metadata "%s" is longer than 1024 bytes' %
                               (where, k))


def _instance(o: Any, where: str) -> RouteInstance:
    if not isinstance(o, dict):
        raise InvalidTable("%s is not an object" % where)
    state = _get(o, "state", where, False, str, HEALTHY)
    if state not in STATES:
        raise InvalidTable('%s: unknown state "%s"' % (where, state))
    meta = o.get("metadata")
    metadata: Dict[str, str] = {}
    if meta is not None:
        if not isinstance(meta, dict):
            raise InvalidTable('%s: field "metadata" must be an object' %
                               where)
        for k, v in meta.items():
            if not isinstance(v, str):
                raise InvalidTable('%s: metadata "%s" must be a string' %
                                   (where, k))
            metadata[k] = v
    inst = RouteInstance(
        id=_get(o, "id", where, True, str, ""),
        host=_get(o, "host", where, True, str, ""),
        address=_get(o, "address", where, True, str, ""),
        datacenter=_get(o, "datacenter", where, True, str, ""),
        weight=_get(o, "weight", where, True, int, 100),
        state=state,
        health=_get(o, "health", where, False, str, "up"),
        metadata=metadata,
        registered_ms=_get(o, "registered_ms", where, False, int, 0),
        check_status=_get(o, "check_status", where, False, str, ""),
        check_output=_get(o, "check_output", where, False, str, ""))
    validate_instance(inst)
    return inst


def table_from_object(o: Any) -> RouteTable:
    """Validates a parsed route table document; raises InvalidTable."""
    where = "route table"
    if not isinstance(o, dict):
        raise InvalidTable("%s: not a JSON object" % where)
    fmt = _get(o, "format", where, True, int, 0)
    if fmt != ROUTE_TABLE_FORMAT:
        raise InvalidTable("%s: format %d is not supported (expected 1)" %
                           (where, fmt))
    service = _get(o, "service", where, True, str, "")
    e = name_error("service", service)
    if e is not None:
        raise InvalidTable(e)
    revision = _get(o, "revision", where, False, int, 0)
    items = o.get("instances")
    if not isinstance(items, list):
        raise InvalidTable('%s: field "instances" must be an array' % where)
    seen = set()
    instances: List[RouteInstance] = []
    for i, item in enumerate(items):
        at = "%s: instances[%d]" % (where, i)
        inst = _instance(item, at)
        if inst.id in seen:
            raise InvalidTable('%s: duplicate instance id "%s"' %
                               (at, inst.id))
        seen.add(inst.id)
        instances.append(inst)
    instances.sort(key=lambda x: x.id)
    return RouteTable(service, revision, tuple(instances))


def parse_route_table(data: Union[bytes, str]) -> RouteTable:
    """Parses a route table's JSON text; raises InvalidTable."""
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        o = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise InvalidTable("route table: not JSON: %s" % e)
    return table_from_object(o)


def table_to_json(table: RouteTable) -> str:
    """The table as JSON text (tests and tools)."""
    def inst(i: RouteInstance) -> Dict[str, Any]:
        d: Dict[str, Any] = {
            "id": i.id, "host": i.host, "address": i.address,
            "datacenter": i.datacenter, "weight": i.weight, "state": i.state,
            "health": i.health, "metadata": dict(i.metadata),
            "registered_ms": i.registered_ms}
        if i.check_status:
            d["check_status"] = i.check_status
        if i.check_output:
            d["check_output"] = i.check_output
        return d
    return json.dumps({"format": 1, "service": table.service,
                       "revision": table.revision,
                       "instances": [inst(i) for i in sorted(
                           table.instances, key=lambda x: x.id)]},
                      separators=(",", ":"))
