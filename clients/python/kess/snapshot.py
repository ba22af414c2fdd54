"""RouteSnapshot: one route table version prepared for picking.

As sdk/route_snapshot.h: instances are split by state (healthy, suspect;
disabled ones are in no group), each state again by datacenter. Every group
holds what the balancers need: a Vose alias table built in integers (the
same table as the C++ SDK's, so a seeded weighted-random pick gives the same
instance), the members' id hashes and inverse weights.

Thread-safety: immutable after construction, apart from each group's
bounded HRW answer cache (a dict; single operations are atomic in CPython).
"""

from typing import Dict, List, NamedTuple, Optional, Tuple

from kess.hashing import GOLDEN, MASK64, stable_hash
from kess.route_table import HEALTHY, SUSPECT, RouteInstance, RouteTable


def make_alias(weights: List[int], total: int) -> Tuple[List[int], List[int]]:
    """Vose's alias method in integers (sdk/route_snapshot.cc MakeAlias):
    (thresholds out of 2^32, alias positions)."""
    n = len(weights)
    threshold = [0] * n
    alias = [0] * n
    scaled = [w * n for w in weights]
    small: List[int] = []
    large: List[int] = []
    for i in range(n):
        (small if scaled[i] < total else large).append(i)
    while small and large:
        s = small.pop()
        l = large[-1]
        threshold[s] = (scaled[s] << 32) // total
        alias[s] = l
        scaled[l] -= total - scaled[s]
        if scaled[l] < total:
            large.pop()
            small.append(l)
    for i in small:
        threshold[i], alias[i] = 1 << 32, i
    for i in large:
        threshold[i], alias[i] = 1 << 32, i
    return threshold, alias


def _pack(id_mul: List[int]) -> Tuple[int, int, int]:
    """(ids, ones, mask) of InstanceGroup.packed: m ^ (m >> 33) for each
    m of id_mul, in 128-bit lanes."""
    ids = int.from_bytes(b"".join(
        (m ^ (m >> 33)).to_bytes(8, "little") + bytes(8) for m in id_mul),
        "little")
    ones = int.from_bytes((b"\x01" + bytes(15)) * len(id_mul), "little")
    return ids, ones, ones * MASK64


class WeightClass(NamedTuple):
    """The members of a group that share one weight."""

    inverse_weight: float
    positions: List[int]   # positions in the group, ascending
    ids: int               # those members packed as packed() does
    ones: int
    mask: int


class InstanceGroup:
    """Instances of one state (and possibly one datacenter). Member i is
    snapshot instance members[i]; every other list is indexed the same."""

    __slots__ = ("members", "instances", "threshold", "alias", "id_hash",
                 "id_mul", "inverse_weight", "total_weight", "uniform_weight",
                 "hrw_cache", "_packed", "_classes")

    def __init__(self, table: RouteTable, members: List[int],
                 id_hashes: Optional[List[int]] = None) -> None:
        """`id_hashes`: stable_hash of every instance id of the table (by
        table index), if already computed."""
        self.members = members
        self.instances = [table.instances[i] for i in members]
        weights = [max(table.instances[i].weight, 1) for i in members]
        if id_hashes is None:
            self.id_hash = [stable_hash(inst.id) for inst in self.instances]
        else:
            self.id_hash = [id_hashes[i] for i in members]
        # id_hash * golden ratio, the per-member half of hash_pair.
        self.id_mul = [(h * GOLDEN) & MASK64 for h in self.id_hash]
        self.inverse_weight = [1.0 / w for w in weights]
        self.total_weight = sum(weights)
        self.uniform_weight = all(w == weights[0] for w in weights)
        self.threshold, self.alias = make_alias(weights, self.total_weight)
        # HRW answers without failover: request key -> position.
        self.hrw_cache: Dict[str, int] = {}
        self._packed: Optional[Tuple[int, int, int]] = None
        self._classes: Optional[List[WeightClass]] = None

    def packed(self) -> Tuple[int, int, int]:
        """(ids, ones, mask): m ^ (m >> 33) for m = id_mul[i] in bits
        [128 i, 128 i + 64) of one integer, 1 at each lane's bit 0,
        2^64 - 1 in each lane. Lets HRW hash every member at once with a
        few big-integer operations (a lane's 64 x 64-bit product fits its
        128 bits). fmix64's first step x ^= x >> 33 distributes over the
        xor of hash_pair (x = key ^ m), so the member's half of it is done
        here, once. Built on first use."""
        p = self._packed
        if p is None:
            p = _pack(self.id_mul)
            self._packed = p
        return p

    def weight_classes(self) -> "List[WeightClass]":
        """The members split by weight, each part packed as packed() does;
        in order of first appearance. Built on first use."""
        c = self._classes
        if c is None:
            by_weight: Dict[float, List[int]] = {}
            for pos, inv in enumerate(self.inverse_weight):
                by_weight.setdefault(inv, []).append(pos)
            c = [WeightClass(inv, positions,
                             *_pack([self.id_mul[p] for p in positions]))
                 for inv, positions in by_weight.items()]
            self._classes = c
        return c

    def __len__(self) -> int:
        return len(self.members)

    def draw(self, random: int) -> int:
        """A position drawn by weight from one 64-bit random number.
        REQUIRES: a non-empty group."""
        column = ((random >> 32) * len(self.members)) >> 32
        if (random & 0xFFFFFFFF) < self.threshold[column]:
            return column
        return self.alias[column]


class StateGroups:
    """The groups of one state: all of them, and by datacenter."""

    __slots__ = ("all", "by_datacenter")

    def __init__(self, table: RouteTable, state: str,
                 id_hashes: Optional[List[int]] = None) -> None:
        members: List[int] = []
        by_dc: Dict[str, List[int]] = {}
        for i, inst in enumerate(table.instances):
            if inst.state != state:
                continue
            members.append(i)
            by_dc.setdefault(inst.datacenter, []).append(i)
        self.all = InstanceGroup(table, members, id_hashes)
        self.by_datacenter = {dc: InstanceGroup(table, m, id_hashes)
                              for dc, m in sorted(by_dc.items())}

    def datacenter(self, dc: str) -> Optional[InstanceGroup]:
        """The group of `dc`; None if it has no instance in this state."""
        return self.by_datacenter.get(dc)


class RouteSnapshot:
    """A route table with its groups. Build once per table version."""

    __slots__ = ("table", "healthy", "suspect", "_index")

    def __init__(self, table: RouteTable) -> None:
        if any(a.id > b.id for a, b in zip(table.instances,
                                            table.instances[1:])):
            table = RouteTable(table.service, table.revision,
                               tuple(sorted(table.instances,
                                            key=lambda x: x.id)))
        self.table = table
        id_hashes = [stable_hash(inst.id) for inst in table.instances]
        self.healthy = StateGroups(table, HEALTHY, id_hashes)
        self.suspect = StateGroups(table, SUSPECT, id_hashes)
        self._index = {inst.id: i for i, inst in enumerate(table.instances)}

    def groups(self, state: str) -> StateGroups:
        """REQUIRES: state is healthy or suspect."""
        return self.healthy if state == HEALTHY else self.suspect

    def instance(self, index: int) -> RouteInstance:
        return self.table.instances[index]

    def __len__(self) -> int:
        return len(self.table.instances)

    def index_of(self, instance_id: str) -> Optional[int]:
        """The index of the instance with this id, if any."""
        return self._index.get(instance_id)
