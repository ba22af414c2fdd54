"""Load balancers, the same picks as the C++ SDK (sdk/load_balancer.h and
sdk/policy/).

  "weighted_random"  probability proportional to weight: one wyrand draw
                     into the group's alias table; while instances are
                     ejected or recovering, up to 8 draws accepted with
                     probability factor, then an exact pass.
  "hrw"              weighted rendezvous hashing of the request key: a key
                     maps to the same instance in every process and every
                     language; an empty key picks at random by weight.
  "local_first"      the caller's datacenter while it has at least
                     max(min_local_healthy, 1) available instances of the
                     tier, else all datacenters; an inner balancer picks.

select_instance() decides the tiers for all of them: healthy instances;
if none of those is available, suspect ones; disabled ones never (an
instance whose checks are critical is listed as suspect by kess, so it is
in the suspect tier; check_status itself is not read). Ejected instances
(factor 0) are skipped, recovering ones count with a lowered weight; only
when every healthy and suspect instance is ejected is the least recently
ejected one returned (healthy before suspect).

Balancers return None for "no member available" (the C++ NotFound).

Thread-safety: balancers are stateless apart from the per-group HRW
answer cache; the PRNG is thread-local unless one is passed.
"""

from typing import Callable, Dict, Optional, Tuple

from kess.failure_tracker import Availability
from kess.hashing import MASK64, FastRandom, hrw_neg_log2, stable_hash
from kess.route_table import HEALTHY, SUSPECT, RouteInstance
from kess.snapshot import InstanceGroup, RouteSnapshot

_REJECTION_DRAWS = 8
_INV_LN2 = 1.4426950408889634
_TWO_M53 = 2.0 ** -53
HRW_CACHE_SIZE = 4096


class NoInstance(LookupError):
    """No healthy or suspect instance (or no table yet)."""


class LoadBalancer:
    """Picks one member of `group` whose factor is above 0."""

    def select(self, snapshot: RouteSnapshot, state: str, group: InstanceGroup,
               key: str, availability: Optional[Availability], now_ms: int,
               random: Optional[FastRandom]) -> Optional[RouteInstance]:
        """The pick, or None when no member is available. `availability`
        is None when every member is at full weight."""
        raise NotImplementedError


class WeightedRandom(LoadBalancer):
    """Probability proportional to weight (times the failover factor)."""

    def select(self, snapshot: RouteSnapshot, state: str,
               group: InstanceGroup, key: str,
               availability: Optional[Availability], now_ms: int,
               random: Optional[FastRandom]) -> Optional[RouteInstance]:
        if not group.members:
            return None
        r = random if random is not None else FastRandom.thread_local()
        if availability is None:
            return group.instances[group.draw(r.next())]
        factor = availability.factor
        for _ in range(_REJECTION_DRAWS):
            pos = group.draw(r.next())
            f = factor(group.members[pos], now_ms)
            if f >= 1.0 or (f > 0 and r.unit_double() < f):
                return group.instances[pos]
        return self._exact(group, availability, now_ms, r)

    @staticmethod
    def _exact(group: InstanceGroup, availability: Availability, now_ms: int,
               r: FastRandom) -> Optional[RouteInstance]:
        total = 0.0
        for i, m in enumerate(group.members):
            total += availability.factor(m, now_ms) / group.inverse_weight[i]
        if total <= 0:
            return None
        x = r.unit_double() * total
        last = 0
        for i, m in enumerate(group.members):
            w = availability.factor(m, now_ms) / group.inverse_weight[i]
            if w <= 0:
                continue
            last = i
            if x < w:
                break
            x -= w
        return group.instances[last]


# The packed path pays off from about this many members.
_SWAR_MIN_MEMBERS = 24
# Beyond this many distinct weights in a group, the member loop is used.
_MAX_WEIGHT_CLASSES = 8
_C1 = 0xFF51AFD7ED558CCD
_C2 = 0xC4CEB9FE1A85EC53
_BYTE = [bytes((v,)) for v in range(256)]


def _hash_lanes(key_hash: int, ids: int, ones: int, mask: int,
                n: int) -> bytes:
    """hash_pair(key_hash, id) of n packed members (InstanceGroup.packed)
    at once, each in its own 128-bit lane of one integer (exact integer
    arithmetic: a lane's 64 x 64-bit product fits its 128 bits), as 16 n
    little-endian bytes. Bytes [16 i, 16 i + 8) hold lane i before fmix64's
    last step x ^= x >> 33, which leaves the top 31 bits as they are:
    _lane() finishes one lane."""
    x = ((key_hash ^ (key_hash >> 33)) * ones) ^ ids   # fmix64 step 1
    x = (x * _C1) & mask
    x ^= (x >> 33) & mask
    x *= _C2   # a lane's low 64 bits are all that is read
    return x.to_bytes(16 * n, "little")


def _lane(data: bytes, i: int) -> int:
    """hash_pair of lane i of _hash_lanes' bytes."""
    x = int.from_bytes(data[16 * i:16 * i + 8], "little")
    return x ^ (x >> 33)


def _largest_lane(data: bytes) -> Tuple[int, int, int, int]:
    """(i, h, second, floor) for _hash_lanes' bytes: lane i has the largest
    hash h (the first of equal ones). Only the lanes whose top byte is the
    largest one are finished: `second` is the largest hash among the others
    of them (-1 if none), and every other lane is below `floor`."""
    tops = data[7::16]   # the top byte of every lane's hash
    for v in range(255, -1, -1):
        t = _BYTE[v]
        i = tops.find(t)
        if i >= 0:
            break
    best, best_h, second = i, _lane(data, i), -1
    i = tops.find(t, i + 1)
    while i >= 0:
        h = _lane(data, i)
        if h > best_h:
            best, best_h, second = i, h, best_h
        elif h > second:
            second = h
        i = tops.find(t, i + 1)
    return best, best_h, second, v << 56


def _best_weighted_packed(group: InstanceGroup, key_hash: int) -> int:
    """_best_weighted without failover, by weight class: within a class the
    largest hash has the smallest score (-log2 is decreasing), so only each
    class's largest hash needs a logarithm. When another hash of the class
    may be so close to its largest that the polynomial -log2 (error below
    1e-10) could order them otherwise, that class is scored member by
    member, as sdk/policy/hrw.cc does; so the answer is always the C++
    one."""
    best = len(group.members)
    best_score = float("inf")
    for c in group.weight_classes():
        positions = c.positions
        n = len(positions)
        data = _hash_lanes(key_hash, c.ids, c.ones, c.mask, n)
        i, top, second, floor = _largest_lane(data)
        window = top - (top >> 29) - 4096
        if second >= window or (n > 1 and window < floor):
            candidates = [(j, _lane(data, j)) for j in range(n)]
        else:
            candidates = [(i, top)]
        for j, h in candidates:
            score = hrw_neg_log2(h) * c.inverse_weight
            pos = positions[j]
            if score < best_score or (score == best_score and pos < best):
                best, best_score = pos, score
    return best


def _best_uniform_packed(key_hash: int, group: InstanceGroup) -> int:
    """_best_uniform on all members at once (packed lanes): the position
    of the largest hash, the first of equal ones, as the member loop."""
    ids, ones, mask = group.packed()
    n = len(group.members)
    return _largest_lane(_hash_lanes(key_hash, ids, ones, mask, n))[0]


def _best_uniform(key_hash: int, id_mul) -> int:
    """The position with the largest hash_pair (the first on a tie)."""
    best = 0
    best_h = -1
    i = 0
    for m in id_mul:
        x = key_hash ^ m
        x ^= x >> 33
        x = (x * 0xFF51AFD7ED558CCD) & MASK64
        x ^= x >> 33
        x = (x * 0xC4CEB9FE1A85EC53) & MASK64
        x ^= x >> 33
        if x > best_h:
            best = i
            best_h = x
        i += 1
    return best


def _best_weighted(group: InstanceGroup, key_hash: int,
                   availability: Optional[Availability], now_ms: int) -> int:
    """The position with the smallest score, len(group) if all are ejected.
    Skips a member whose cheap lower bound of the score cannot win, as
    sdk/policy/hrw.cc (which never changes the result)."""
    n = len(group.members)
    best = n
    best_score = float("inf")
    inv = group.inverse_weight
    members = group.members
    for i, m in enumerate(group.id_mul):
        scale = inv[i]
        if availability is not None:
            f = availability.factor(members[i], now_ms)
            if f <= 0:
                continue
            scale /= f
        x = key_hash ^ m
        x ^= x >> 33
        x = (x * 0xFF51AFD7ED558CCD) & MASK64
        x ^= x >> 33
        x = (x * 0xC4CEB9FE1A85EC53) & MASK64
        x ^= x >> 33
        one_minus_u = (float((x ^ MASK64) >> 11) + 0.5) * _TWO_M53
        if (one_minus_u * _INV_LN2 - 1e-9) * scale >= best_score:
            continue
        score = hrw_neg_log2(x) * scale
        if score < best_score:
            best = i
            best_score = score
    return best


class Hrw(LoadBalancer):
    """Weighted rendezvous hashing of the request key (sdk/policy/hrw.h).

    Without failover in play the answer for a key depends only on the
    group, so it is remembered per group (up to HRW_CACHE_SIZE keys per
    table version; the cache starts empty with every new version)."""

    def select(self, snapshot: RouteSnapshot, state: str,
               group: InstanceGroup, key: str,
               availability: Optional[Availability], now_ms: int,
               random: Optional[FastRandom]) -> Optional[RouteInstance]:
        members = group.members
        if not members:
            return None
        if availability is None and key:
            pos = group.hrw_cache.get(key)
            if pos is not None:
                return group.instances[pos]
        if key:
            key_hash = stable_hash(key)
        else:
            r = random if random is not None else FastRandom.thread_local()
            key_hash = r.next()
        if availability is None and group.uniform_weight:
            if len(members) >= _SWAR_MIN_MEMBERS:
                pos = _best_uniform_packed(key_hash, group)
            else:
                pos = _best_uniform(key_hash, group.id_mul)
        elif availability is None and len(members) >= _SWAR_MIN_MEMBERS and \
                len(group.weight_classes()) <= _MAX_WEIGHT_CLASSES:
            pos = _best_weighted_packed(group, key_hash)
        else:
            pos = _best_weighted(group, key_hash, availability, now_ms)
            if pos == len(members):
                return None
        if availability is None and key:
            cache = group.hrw_cache
            if len(cache) >= HRW_CACHE_SIZE:
                cache.clear()
            cache[key] = pos
        return group.instances[pos]


class LocalFirst(LoadBalancer):
    """The caller's datacenter while it has enough available instances."""

    def __init__(self, inner: LoadBalancer, local_datacenter: str,
                 min_local_healthy: int = 1) -> None:
        self._inner = inner
        self._local = local_datacenter
        self._min_local = max(min_local_healthy, 1)

    def select(self, snapshot: RouteSnapshot, state: str,
               group: InstanceGroup, key: str,
               availability: Optional[Availability], now_ms: int,
               random: Optional[FastRandom]) -> Optional[RouteInstance]:
        local = snapshot.groups(state).datacenter(self._local)
        if local is not None:
            if availability is None:
                available = len(local.members)
            else:
                available = sum(1 for m in local.members
                                if availability.factor(m, now_ms) > 0)
            if available >= self._min_local:
                return self._inner.select(snapshot, state, local, key,
                                          availability, now_ms, random)
        return self._inner.select(snapshot, state, group, key, availability,
                                  now_ms, random)


BalancerFactory = Callable[..., LoadBalancer]
_registry: Dict[str, BalancerFactory] = {}


def register_balancer(name: str, factory: BalancerFactory) -> None:
    """Adds a strategy: factory(local_datacenter=, min_local_healthy=,
    local_first_inner=) -> LoadBalancer. ValueError for an empty or taken
    name."""
    if not name:
        raise ValueError("empty balancer name")
    if name in _registry:
        raise ValueError('load balancer "%s" is already registered' % name)
    _registry[name] = factory


def balancer_names() -> list:
    return sorted(_registry)


def create_balancer(name: str, local_datacenter: str = "",
                    min_local_healthy: int = 1,
                    local_first_inner: str = "weighted_random"
                    ) -> LoadBalancer:
    """A new balancer of a registered strategy; ValueError for an unknown
    name or bad options."""
    factory = _registry.get(name)
    if factory is None:
        raise ValueError('no load balancer "%s" (registered: %s)' %
                         (name, ", ".join(balancer_names())))
    return factory(local_datacenter=local_datacenter,
                   min_local_healthy=min_local_healthy,
                   local_first_inner=local_first_inner)


def _local_first(local_datacenter: str = "", min_local_healthy: int = 1,
                 local_first_inner: str = "weighted_random") -> LoadBalancer:
    if local_first_inner == "local_first":
        raise ValueError("local_first cannot wrap local_first")
    if not local_datacenter:
        raise ValueError("local_first needs local_datacenter")
    inner = create_balancer(local_first_inner, local_datacenter,
                            min_local_healthy, local_first_inner)
    return LocalFirst(inner, local_datacenter, min_local_healthy)


register_balancer("weighted_random", lambda **_: WeightedRandom())
register_balancer("hrw", lambda **_: Hrw())
register_balancer("local_first", _local_first)


def select_instance(balancer: LoadBalancer, snapshot: RouteSnapshot,
                    availability: Optional[Availability], key: str,
                    now_ms: int, random: Optional[FastRandom] = None
                    ) -> RouteInstance:
    """The tiers: healthy, then suspect, then the least recently ejected.
    Raises NoInstance only when there is no healthy or suspect instance."""
    if availability is not None and not availability.active_at(now_ms):
        availability = None
    for state in (HEALTHY, SUSPECT):
        group = snapshot.groups(state).all
        if not group.members:
            continue
        picked = balancer.select(snapshot, state, group, key, availability,
                                 now_ms, random)
        if picked is not None:
            return picked
    if availability is not None:
        for state in (HEALTHY, SUSPECT):
            group = snapshot.groups(state).all
            best = None
            best_ms = 0
            for pos, m in enumerate(group.members):
                ejected_ms = availability.entry(m).ejected_ms
                if best is None or ejected_ms < best_ms:
                    best, best_ms = pos, ejected_ms
            if best is not None:
                return group.instances[best]
    raise NoInstance("service %s has no healthy or suspect instance "
                     "(revision %d)" % (snapshot.table.service,
                                        snapshot.table.revision))
