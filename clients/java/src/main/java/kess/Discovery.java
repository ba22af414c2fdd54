package kess;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * The consumer side of service discovery; the Java counterpart of the C++
 * SDK's Discovery. Reads a service's route table from the agent's file cache
 * (subscribing it through the agent) and picks instances with a load
 * balancer, failing over away from instances the caller reports as failing.
 *
 * <pre>{@code
 * try (Discovery d = Discovery.builder()
 *         .cacheDir(Path.of("/var/cache/kess"))
 *         .agent("http://127.0.0.1:7310")
 *         .localDatacenter("dc1")
 *         .balancer("local_first")
 *         .build()) {
 *   Optional<RouteInstance> in = d.select("payments");
 *   if (in.isPresent()) {
 *     if (call(in.get().address())) d.reportSuccess("payments", in.get().id());
 *     else d.reportFailure("payments", in.get().id());
 *   }
 *   // Key affinity: the same user goes to the same instance in every process.
 *   Optional<RouteInstance> shard = d.select("sessions", userId, d.balancer("hrw"));
 * }
 * }</pre>
 *
 * <ul>
 *   <li>Reading: the first use of a service subscribes it (retried while the
 *       agent is down) and reads {@code <cacheDir>/routes/<svc>.json}; new
 *       versions arrive through the agent's blocking watch, or by polling
 *       while the agent is unreachable. A missing, garbled or invalid file
 *       (or a table of another service) keeps the last good table. A
 *       tombstone is a table without instances.
 *   <li>Who is picked: healthy instances; suspect ones only if no healthy one
 *       is available; disabled never. Ejected instances are skipped; if every
 *       healthy and suspect one is ejected, the least recently ejected one is
 *       returned.
 *   <li>Failover: see {@link FailureTracker}.
 *   <li>Picking never waits for a writer: each table version becomes an
 *       immutable {@link RouteSnapshot} published through a volatile field.
 * </ul>
 *
 * <p>Thread-safety: thread-safe. Watch callbacks run on the client's thread
 * and must not close the Discovery.
 */
public final class Discovery implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger("kess");

  private record View(RouteSnapshot snapshot, Availability availability) {}

  private static final class Service {
    final String name;
    final FailureTracker tracker;
    RouteSnapshot snapshot;  // guarded by this
    long revision;           // guarded by this; of the last entry applied
    volatile View view = new View(null, null);
    CacheWatcher.Handle watch;

    Service(String name, FailureTracker.Options failover) {
      this.name = name;
      this.tracker = new FailureTracker(failover);
    }
  }

  private final CacheWatcher watcher;
  private final LoadBalancers.Options balancerOptions;
  private final FailureTracker.Options failover;
  private final LongSupplier clock;
  private final LoadBalancer defaultBalancer;
  private final Map<String, Service> services = new ConcurrentHashMap<>();
  private final Map<String, LoadBalancer> balancers = new ConcurrentHashMap<>();
  private final Object trackLock = new Object();
  private final AtomicLong routeErrors = new AtomicLong();
  private volatile long lastErrorLogMs;

  private Discovery(Builder b) {
    this.balancerOptions =
        new LoadBalancers.Options(b.localDatacenter, b.minLocalHealthy, b.localFirstInner);
    this.failover = b.failover;
    this.clock = b.clock;
    if (b.balancer.equals("local_first") && (b.localDatacenter == null || b.localDatacenter.isEmpty())) {
      throw new IllegalArgumentException("local_first needs localDatacenter");
    }
    this.defaultBalancer = balancer(b.balancer);
    this.watcher = new CacheWatcher(b.o);
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Settings of a {@link Discovery}. */
  public static final class Builder extends CacheClientBuilder<Builder> {
    private String balancer = "weighted_random";
    private String localDatacenter = "";
    private int minLocalHealthy = 1;
    private String localFirstInner = "weighted_random";
    private FailureTracker.Options failover = FailureTracker.Options.defaults();
    private LongSupplier clock = () -> System.nanoTime() / 1_000_000;

    private Builder() {
      super("kess-discovery");
    }

    /** The default balancer of {@link #select(String, String)} (default "weighted_random"). */
    public Builder balancer(String name) {
      this.balancer = name;
      return this;
    }

    /** The caller's datacenter (local_first). */
    public Builder localDatacenter(String dc) {
      this.localDatacenter = dc;
      return this;
    }

    /** local_first: below this many available local instances, use every DC (default 1). */
    public Builder minLocalHealthy(int n) {
      this.minLocalHealthy = n;
      return this;
    }

    /** local_first: the balancer that picks (default "weighted_random"). */
    public Builder localFirstInner(String name) {
      this.localFirstInner = name;
      return this;
    }

    /** Caller-side failover settings (default {@link FailureTracker.Options#defaults()}). */
    public Builder failover(FailureTracker.Options failover) {
      this.failover = Objects.requireNonNull(failover);
      return this;
    }

    /** The clock of failover, in ms (default monotonic); tests pass a manual one. */
    public Builder clock(LongSupplier clockMs) {
      this.clock = Objects.requireNonNull(clockMs);
      return this;
    }

    /** IllegalArgumentException for bad settings (an unknown balancer, ...). */
    public Discovery build() {
      return new Discovery(this);
    }
  }

  /**
   * A balancer of a registered strategy configured with this client's
   * options; created once per name. IllegalArgumentException for an unknown
   * name.
   */
  public LoadBalancer balancer(String name) {
    LoadBalancer b = balancers.get(name);
    if (b != null) return b;
    LoadBalancer created = LoadBalancers.create(name, balancerOptions);
    LoadBalancer raced = balancers.putIfAbsent(name, created);
    return raced != null ? raced : created;
  }

  /** One instance of {@code service} by the default balancer (no request key). */
  public Optional<RouteInstance> select(String service) {
    return select(service, "", defaultBalancer);
  }

  /** One instance by the default balancer; {@code key} is the request key (HRW). */
  public Optional<RouteInstance> select(String service, String key) {
    return select(service, key, defaultBalancer);
  }

  /**
   * One instance of {@code service} for a call. Empty when the cache has no
   * table for it yet or it has no healthy or suspect instance;
   * IllegalArgumentException for an invalid name.
   */
  public Optional<RouteInstance> select(String service, String key, LoadBalancer balancer) {
    Service s = services.get(service);
    if (s == null) s = track(service);
    View view = s.view;
    if (view.snapshot() == null) return Optional.empty();
    long now = view.availability() == null ? 0 : clock.getAsLong();
    return Optional.ofNullable(LoadBalancers.selectInstance(balancer, view.snapshot(),
        view.availability(), key == null ? "" : key, now, null));
  }

  /** Reports a failed call to {@code instanceId} (it may be ejected). Invalid names are ignored. */
  public void reportFailure(String service, String instanceId) {
    report(service, instanceId, true);
  }

  /** Reports a successful call. */
  public void reportSuccess(String service, String instanceId) {
    report(service, instanceId, false);
  }

  private void report(String serviceName, String instanceId, boolean failure) {
    Service s;
    try {
      s = track(serviceName);
    } catch (IllegalArgumentException e) {
      return;
    }
    synchronized (s) {
      long now = clock.getAsLong();
      boolean changed = failure ? s.tracker.reportFailure(instanceId, now)
          : s.tracker.reportSuccess(instanceId, now);
      if (changed) publish(s);
    }
  }

  /**
   * Calls {@code callback} with the current table (if any) and then with
   * every newer good version, in revision order, on the client's thread.
   */
  public WatchHandle watch(String service, Consumer<RouteTable> callback) {
    Objects.requireNonNull(callback);
    Service s = track(service);
    CacheWatcher.Handle h = watcher.watch(CacheKey.route(s.name), e -> {
      RouteTable t = apply(s, e, true);
      if (t != null) callback.accept(t);
    });
    return h::close;
  }

  /** The last good table of {@code service}; empty if there is none yet. */
  public Optional<RouteTable> table(String service) {
    View view = track(service).view;
    return view.snapshot() == null ? Optional.empty() : Optional.of(view.snapshot().table());
  }

  /** Consecutive failures on record for an instance (0 = none). */
  public int failures(String service, String instanceId) {
    Service s = track(service);
    synchronized (s) {
      return s.tracker.failures(instanceId);
    }
  }

  /** Route files that could not be used so far (the last good table was kept). */
  public long readErrors() {
    return routeErrors.get() + watcher.readErrors();
  }

  /** This client's owner id at the agent. */
  public String owner() {
    return watcher.owner();
  }

  /** One poll of every tracked service on the calling thread. */
  public void pollNow() {
    watcher.pollNow();
  }

  @Override
  public void close() {
    watcher.close();
  }

  private Service track(String name) {
    Service s = services.get(name);
    if (s != null) return s;
    CacheKey key = CacheKey.route(name).validate();
    synchronized (trackLock) {
      s = services.get(name);
      if (s != null) return s;
      Service created = new Service(name, failover);
      created.watch = watcher.watch(key, e -> apply(created, e, false));
      try {
        CacheEntry entry = watcher.get(key);  // watch() read the file: use it now
        if (entry != null) apply(created, entry, false);
      } catch (IOException e) {
        // Garbled or unreadable: no table yet; the poll keeps trying.
      }
      services.put(name, created);
      return created;
    }
  }

  // Applies a version of the service's cache file; returns the table it now
  // has when `entry` is that version (for a Watch callback), else null.
  private RouteTable apply(Service s, CacheEntry entry, boolean forCallback) {
    synchronized (s) {
      RouteTable current = s.snapshot == null ? null : s.snapshot.table();
      if (entry.revision() < s.revision) return null;
      if (entry.revision() == s.revision) return current;
      RouteTable table;
      try {
        if (entry.absent()) {
          table = new RouteTable(s.name, entry.revision(), List.of());
        } else {
          table = RouteTable.parse(entry.valueNoCopy());
          if (!table.service().equals(s.name)) {
            throw new FormatException("wrong_service", "the table is for service \"" + table.service() + "\"");
          }
        }
      } catch (FormatException e) {
        routeErrors.incrementAndGet();
        long now = System.currentTimeMillis();
        if (now - lastErrorLogMs >= 10_000) {
          lastErrorLogMs = now;
          LOG.log(Level.WARNING, "kess route table of " + s.name + " at revision "
              + entry.revision() + " is invalid; keeping the last good one (revision "
              + s.revision + "): " + e.getMessage());
        }
        return null;
      }
      s.revision = entry.revision();
      s.snapshot = RouteSnapshot.build(table);
      publish(s);
      return s.snapshot.table();
    }
  }

  private void publish(Service s) {
    Availability availability =
        s.snapshot == null ? null : s.tracker.build(s.snapshot, clock.getAsLong());
    s.view = new View(s.snapshot, availability);
  }
}
