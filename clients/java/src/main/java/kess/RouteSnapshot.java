package kess;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One version of a service's route table prepared for picking, as the C++
 * SDK's RouteSnapshot (sdk/route_snapshot.cc): built once per table version
 * (O(n log n)), then shared, immutable, by every pick.
 *
 * <p>Instances are split by state (healthy and suspect; disabled ones are in
 * no group) and each state again by datacenter. A {@link Group} carries a
 * Walker/Vose alias table of its members' weights (built in integers exactly
 * as the C++ SDK does, so a seeded draw picks the same instance), the id
 * hashes and the inverse weights.
 *
 * <p>Thread-safety: immutable; share freely.
 */
public final class RouteSnapshot {
  /** Instances of one state (and possibly one datacenter), in id order. */
  public static final class Group {
    static final Group EMPTY = new Group(null, new int[0]);

    final int[] members;     // indices into the table
    final long[] threshold;  // alias table: 0 .. 2^32
    final int[] alias;
    final long[] idHash;
    final double[] inverseWeight;
    final long totalWeight;
    final boolean uniformWeight;

    Group(RouteTable table, int[] members) {
      int n = members.length;
      this.members = members;
      this.idHash = new long[n];
      this.inverseWeight = new double[n];
      int[] weights = new int[n];
      long total = 0;
      boolean uniform = true;
      for (int i = 0; i < n; i++) {
        RouteInstance in = table.instances().get(members[i]);
        int w = Math.max(in.weight(), 1);
        weights[i] = w;
        total += w;
        idHash[i] = StableHash.of(in.id());
        inverseWeight[i] = 1.0 / w;
        uniform &= w == weights[0];
      }
      this.totalWeight = total;
      this.uniformWeight = uniform;
      this.threshold = new long[n];
      this.alias = new int[n];
      makeAlias(weights, total);
    }

    // Vose's alias method in integers, the same steps (and stack order) as
    // the C++ MakeAlias, so that the table is the same on every machine.
    private void makeAlias(int[] weights, long total) {
      int n = weights.length;
      long[] scaled = new long[n];
      int[] small = new int[n];
      int[] large = new int[n];
      int ns = 0;
      int nl = 0;
      for (int i = 0; i < n; i++) {
        scaled[i] = (long) weights[i] * n;
        if (scaled[i] < total) {
          small[ns++] = i;
        } else {
          large[nl++] = i;
        }
      }
      while (ns > 0 && nl > 0) {
        int s = small[--ns];
        int l = large[nl - 1];
        threshold[s] = shiftDivide(scaled[s], total);
        alias[s] = l;
        scaled[l] -= total - scaled[s];
        if (scaled[l] < total) {
          nl--;
          small[ns++] = l;
        }
      }
      for (int k = 0; k < ns; k++) {
        threshold[small[k]] = 1L << 32;
        alias[small[k]] = small[k];
      }
      for (int k = 0; k < nl; k++) {
        threshold[large[k]] = 1L << 32;
        alias[large[k]] = large[k];
      }
    }

    // (a << 32) / b in 128 bits, for 0 <= a < b.
    private static long shiftDivide(long a, long b) {
      if (a < (1L << 31)) return (a << 32) / b;
      return BigInteger.valueOf(a).shiftLeft(32).divide(BigInteger.valueOf(b)).longValue();
    }

    /** Number of members. */
    public int size() {
      return members.length;
    }

    public boolean isEmpty() {
      return members.length == 0;
    }

    /** The snapshot index of member {@code i}. */
    public int member(int i) {
      return members[i];
    }

    /** StableHash of member {@code i}'s id. */
    public long idHash(int i) {
      return idHash[i];
    }

    /** 1 / weight of member {@code i}. */
    public double inverseWeight(int i) {
      return inverseWeight[i];
    }

    /** Whether every member has the same weight. */
    public boolean uniformWeight() {
      return uniformWeight;
    }

    /**
     * A position among the members drawn by weight from 64 random bits (the
     * high half picks the column, the low half decides it). Requires a
     * non-empty group.
     */
    public int draw(long random) {
      int column = (int) (((random >>> 32) * members.length) >>> 32);
      return (random & 0xffffffffL) < threshold[column] ? column : alias[column];
    }
  }

  /** The groups of one state: all of them, and by datacenter. */
  public static final class StateGroups {
    final Group all;
    final Map<String, Group> byDatacenter;  // sorted

    StateGroups(Group all, Map<String, Group> byDatacenter) {
      this.all = all;
      this.byDatacenter = Collections.unmodifiableMap(byDatacenter);
    }

    public Group all() {
      return all;
    }

    /** The group of {@code datacenter}; null if it has no instance in this state. */
    public Group datacenter(String datacenter) {
      return byDatacenter.get(datacenter);
    }
  }

  private final RouteTable table;
  private final StateGroups healthy;
  private final StateGroups suspect;

  private RouteSnapshot(RouteTable table) {
    this.table = table;
    this.healthy = stateGroups(table, InstanceState.HEALTHY);
    this.suspect = stateGroups(table, InstanceState.SUSPECT);
  }

  /** Prepares {@code table} for picking. */
  public static RouteSnapshot build(RouteTable table) {
    return new RouteSnapshot(table);
  }

  private static StateGroups stateGroups(RouteTable table, InstanceState state) {
    List<Integer> all = new ArrayList<>();
    Map<String, List<Integer>> byDc = new TreeMap<>();
    List<RouteInstance> instances = table.instances();
    for (int i = 0; i < instances.size(); i++) {
      RouteInstance in = instances.get(i);
      if (in.state() != state) continue;
      all.add(i);
      byDc.computeIfAbsent(in.datacenter(), k -> new ArrayList<>()).add(i);
    }
    Map<String, Group> groups = new TreeMap<>();
    for (Map.Entry<String, List<Integer>> e : byDc.entrySet()) {
      groups.put(e.getKey(), new Group(table, toArray(e.getValue())));
    }
    return new StateGroups(new Group(table, toArray(all)), groups);
  }

  private static int[] toArray(List<Integer> list) {
    int[] a = new int[list.size()];
    for (int i = 0; i < a.length; i++) a[i] = list.get(i);
    return a;
  }

  public RouteTable table() {
    return table;
  }

  public RouteInstance instance(int index) {
    return table.instances().get(index);
  }

  public int size() {
    return table.instances().size();
  }

  /** The groups of {@code state}; requires HEALTHY or SUSPECT. */
  public StateGroups groups(InstanceState state) {
    if (state == InstanceState.DISABLED) throw new IllegalArgumentException("disabled instances have no group");
    return state == InstanceState.HEALTHY ? healthy : suspect;
  }

  /** The index of the instance with this id, or -1. */
  public int indexOf(String id) {
    List<RouteInstance> instances = table.instances();
    int lo = 0;
    int hi = instances.size() - 1;
    while (lo <= hi) {
      int mid = (lo + hi) >>> 1;
      int c = instances.get(mid).id().compareTo(id);
      if (c == 0) return mid;
      if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
  }
}
