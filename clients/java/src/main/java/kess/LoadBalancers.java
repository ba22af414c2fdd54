package kess;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * The registry of load-balancing strategies by name, and the tiers every
 * strategy shares ({@link #selectInstance}), as the C++ SDK's
 * sdk/load_balancer.cc.
 *
 * <p>Built-ins: "weighted_random", "hrw" and "local_first" (which wraps
 * {@link Options#localFirstInner()}, never itself).
 *
 * <p>Thread-safety: thread-safe.
 */
public final class LoadBalancers {
  /**
   * What factories may use to configure a balancer.
   *
   * @param localDatacenter local_first: the caller's datacenter
   * @param minLocalHealthy local_first: fall over to every DC below this
   * @param localFirstInner local_first: the strategy that picks
   */
  public record Options(String localDatacenter, int minLocalHealthy, String localFirstInner) {}

  private static final Map<String, Function<Options, LoadBalancer>> FACTORIES = new TreeMap<>();

  static {
    FACTORIES.put("weighted_random", o -> new WeightedRandomBalancer());
    FACTORIES.put("hrw", o -> new HrwBalancer());
    FACTORIES.put("local_first", o -> {
      if ("local_first".equals(o.localFirstInner())) {
        throw new IllegalArgumentException("local_first cannot wrap local_first");
      }
      if (o.localDatacenter() == null || o.localDatacenter().isEmpty()) {
        throw new IllegalArgumentException("local_first needs a local datacenter");
      }
      return new LocalFirstBalancer(create(o.localFirstInner(), o), o.localDatacenter(),
          o.minLocalHealthy());
    });
  }

  private LoadBalancers() {}

  /** Adds a strategy; IllegalArgumentException if the name is empty or taken. */
  public static synchronized void register(String name, Function<Options, LoadBalancer> factory) {
    if (name == null || name.isEmpty()) throw new IllegalArgumentException("empty balancer name");
    if (FACTORIES.putIfAbsent(name, factory) != null) {
      throw new IllegalArgumentException("load balancer \"" + name + "\" is already registered");
    }
  }

  /**
   * A new balancer of the named strategy. IllegalArgumentException for an
   * unknown name (listing the registered ones) or bad options.
   */
  public static LoadBalancer create(String name, Options options) {
    Function<Options, LoadBalancer> factory;
    synchronized (LoadBalancers.class) {
      factory = FACTORIES.get(name);
    }
    if (factory == null) {
      throw new IllegalArgumentException(
          "no load balancer \"" + name + "\" (registered: " + String.join(", ", names()) + ")");
    }
    return factory.apply(options);
  }

  /** The registered names, sorted. */
  public static synchronized List<String> names() {
    return new ArrayList<>(FACTORIES.keySet());
  }

  /**
   * The tiers: healthy instances first, then suspect ones (each state's group
   * given to {@code balancer}); when every healthy and suspect instance is
   * ejected, the one ejected longest ago (healthy before suspect). Null only
   * when the snapshot has no healthy or suspect instance. {@code availability}
   * may be null; {@code random} null means the thread's own PRNG.
   */
  public static RouteInstance selectInstance(LoadBalancer balancer, RouteSnapshot snapshot,
      Availability availability, String key, long nowMs, FastRandom random) {
    Availability active = availability != null && availability.activeAt(nowMs) ? availability : null;
    for (InstanceState state : new InstanceState[] {InstanceState.HEALTHY, InstanceState.SUSPECT}) {
      RouteSnapshot.Group group = snapshot.groups(state).all();
      if (group.isEmpty()) continue;
      RouteInstance picked =
          balancer.select(snapshot, new SelectContext(key, state, group, active, nowMs, random));
      if (picked != null) return picked;
    }
    if (active != null) return leastRecentlyEjected(snapshot, availability);
    return null;
  }

  private static RouteInstance leastRecentlyEjected(RouteSnapshot snapshot, Availability availability) {
    for (InstanceState state : new InstanceState[] {InstanceState.HEALTHY, InstanceState.SUSPECT}) {
      RouteSnapshot.Group group = snapshot.groups(state).all();
      int best = -1;
      long bestMs = 0;
      for (int index : group.members) {
        long ejected = availability.ejectedMs(index);
        if (best < 0 || ejected < bestMs) {
          best = index;
          bestMs = ejected;
        }
      }
      if (best >= 0) return snapshot.instance(best);
    }
    return null;
  }
}
