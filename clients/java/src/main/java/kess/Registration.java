package kess;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The provider side: registers a service instance through the host's kess
 * agent (PUT /v1/services/&lt;svc&gt;/instances/&lt;id&gt;, docs/agent-api.md),
 * which registers and heartbeats it with the mandators and runs its health
 * checks; renews its TTL check (PUT /v1/checks/&lt;id&gt;/pass) on a daemon
 * thread, registering again if the agent lost the instance (404); and
 * deregisters it on {@link #close()} (DELETE, with the owner).
 *
 * <pre>{@code
 * try (Registration r = Registration.builder()
 *         .agent("http://127.0.0.1:7310")          // or "unix:/run/kess/agent.sock"
 *         .service("checkout").id("checkout-7f3a").address("127.0.0.1:8080")
 *         .owner("checkout-deploy")
 *         .httpCheck("http://127.0.0.1:8080/health", Duration.ofSeconds(10), Duration.ofSeconds(2))
 *         .ttlCheck("checkout-7f3a-ttl", Duration.ofSeconds(30))
 *         .register()) {
 *   serve();
 * }   // deregistered here
 * }</pre>
 *
 * <p>Thread-safety: thread-safe.
 */
public final class Registration implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger("kess");

  private final AgentAddress agent;
  private final String service;
  private final String id;
  private final String owner;
  private final String body;
  private final String ttlCheckId;
  private final Duration ttlRenewEvery;
  private final Duration httpTimeout;
  private final Thread heartbeat;
  private final Object lock = new Object();
  private boolean closed;  // guarded by lock
  private volatile long renewals;
  private volatile long reRegistrations;

  private Registration(Builder b) throws IOException {
    this.agent = Objects.requireNonNull(b.agent, "agent is not set");
    this.service = Names.check("service", b.service);
    this.id = Names.check("instance id", b.id);
    if (b.address == null || !RouteTable.validAddress(b.address)) {
      throw new IllegalArgumentException("address must be host:port, got " + b.address);
    }
    if (b.weight < 1 || b.weight > RouteTable.MAX_WEIGHT) {
      throw new IllegalArgumentException("weight " + b.weight + " is outside 1..10000");
    }
    this.owner = b.owner == null ? "" : b.owner;
    this.httpTimeout = b.httpTimeout;
    Map<String, Object> doc = new LinkedHashMap<>();
    doc.put("address", b.address);
    doc.put("weight", b.weight);
    if (!owner.isEmpty()) doc.put("owner", owner);
    doc.put("metadata", new LinkedHashMap<>(b.metadata));
    doc.put("checks", b.checks);
    this.body = Json.write(doc);
    this.ttlCheckId = b.ttlCheckId;
    this.ttlRenewEvery = b.ttl == null ? null
        : b.ttl.dividedBy(3).compareTo(Duration.ofMillis(100)) < 0 ? Duration.ofMillis(100)
        : b.ttl.dividedBy(3);
    put();  // throws if the agent refuses
    if (ttlCheckId != null) {
      heartbeat = new Thread(this::renewLoop, "kess-ttl-" + id);
      heartbeat.setDaemon(true);
      heartbeat.start();
    } else {
      heartbeat = null;
    }
  }

  public static Builder builder() {
    return new Builder();
  }

  /** What to register. */
  public static final class Builder {
    private AgentAddress agent;
    private String service;
    private String id;
    private String address;
    private int weight = 100;
    private String owner;
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final List<Object> checks = new ArrayList<>();
    private String ttlCheckId;
    private Duration ttl;
    private Duration httpTimeout = Duration.ofSeconds(5);

    private Builder() {}

    /** The agent's API: "http://127.0.0.1:7310", "127.0.0.1:7310" or "unix:/path". */
    public Builder agent(String address) {
      this.agent = AgentAddress.parse(address);
      return this;
    }

    public Builder agent(AgentAddress address) {
      this.agent = address;
      return this;
    }

    public Builder service(String service) {
      this.service = service;
      return this;
    }

    /** The instance id, unique within the service. */
    public Builder id(String id) {
      this.id = id;
      return this;
    }

    /** {@code host:port} consumers call. */
    public Builder address(String address) {
      this.address = address;
      return this;
    }

    /** 1..10000 (default 100). */
    public Builder weight(int weight) {
      this.weight = weight;
      return this;
    }

    /** Who registered it: a PUT, DELETE or TTL update with another owner gets 409. */
    public Builder owner(String owner) {
      this.owner = owner;
      return this;
    }

    public Builder metadata(String key, String value) {
      metadata.put(key, value);
      return this;
    }

    /** An HTTP check the agent runs: GET {@code url} every {@code interval}. */
    public Builder httpCheck(String url, Duration interval, Duration timeout) {
      Map<String, Object> c = new LinkedHashMap<>();
      c.put("kind", "http");
      c.put("url", url);
      c.put("interval", duration(interval));
      c.put("timeout", duration(timeout));
      checks.add(c);
      return this;
    }

    /** A TCP check of {@code target} ("ip:port"; null: the instance's address). */
    public Builder tcpCheck(String target, Duration interval, Duration timeout) {
      Map<String, Object> c = new LinkedHashMap<>();
      c.put("kind", "tcp");
      if (target != null) c.put("target", target);
      c.put("interval", duration(interval));
      c.put("timeout", duration(timeout));
      checks.add(c);
      return this;
    }

    /**
     * A TTL check with this id, renewed by this Registration every ttl / 3
     * (PUT /v1/checks/&lt;checkId&gt;/pass). At most one.
     */
    public Builder ttlCheck(String checkId, Duration ttl) {
      if (this.ttlCheckId != null) throw new IllegalStateException("one TTL check at most");
      Map<String, Object> c = new LinkedHashMap<>();
      c.put("id", Names.check("check id", checkId));
      c.put("kind", "ttl");
      c.put("ttl", duration(ttl));
      checks.add(c);
      this.ttlCheckId = checkId;
      this.ttl = ttl;
      return this;
    }

    /** The timeout of each call to the agent (default 5 s). */
    public Builder httpTimeout(Duration d) {
      this.httpTimeout = d;
      return this;
    }

    /**
     * Registers the instance and starts renewing its TTL check. IOException
     * when the agent is unreachable or refuses (the message carries its
     * error), IllegalArgumentException for invalid settings.
     */
    public Registration register() throws IOException {
      return new Registration(this);
    }
  }

  /** A duration as the agent reads it: "1500ms" or "10s". */
  static String duration(Duration d) {
    long ms = d.toMillis();
    return ms % 1000 == 0 ? (ms / 1000) + "s" : ms + "ms";
  }

  private String ownerQuery() {
    return owner.isEmpty() ? "" : "?owner=" + URLEncoder.encode(owner, StandardCharsets.UTF_8);
  }

  private String instancePath() {
    return "/v1/services/" + service + "/instances/" + id;
  }

  private void put() throws IOException {
    AgentHttp.Response r = AgentHttp.call(agent, "PUT", instancePath(), body, httpTimeout);
    if (r.status() != 200) {
      throw new AgentException(r.status(), "agent refused the registration of " + service + "/"
          + id + ": " + r.status() + " " + r.body());
    }
  }

  /** Reports the TTL check now: "pass", "warn" or "fail", with an optional output. */
  public void reportTtl(String status, String output) throws IOException {
    if (ttlCheckId == null) throw new IllegalStateException("no TTL check");
    if (!status.equals("pass") && !status.equals("warn") && !status.equals("fail")) {
      throw new IllegalArgumentException("status must be pass, warn or fail");
    }
    String b = output == null ? null : Json.write(Map.of("output", output));
    AgentHttp.Response r = AgentHttp.call(agent, "PUT",
        "/v1/checks/" + ttlCheckId + "/" + status + ownerQuery(), b, httpTimeout);
    if (r.status() == 404) {
      // The agent lost the instance (its state file, or someone's DELETE): again.
      put();
      reRegistrations++;
      return;
    }
    if (r.status() != 200) {
      throw new AgentException(r.status(), "agent answered " + r.status() + ": " + r.body());
    }
    renewals++;
  }

  private void renewLoop() {
    while (true) {
      synchronized (lock) {
        long deadline = System.nanoTime() + ttlRenewEvery.toNanos();
        while (!closed) {
          long left = deadline - System.nanoTime();
          if (left <= 0) break;
          try {
            lock.wait(Math.max(1, left / 1_000_000));
          } catch (InterruptedException e) {
            return;
          }
        }
        if (closed) return;
      }
      try {
        reportTtl("pass", null);
      } catch (IOException e) {
        LOG.log(Level.WARNING, "kess: TTL renewal of " + service + "/" + id + " failed (retrying): "
            + e.getMessage());
      }
    }
  }

  /** TTL renewals the agent accepted so far. */
  public long renewals() {
    return renewals;
  }

  /** Registrations sent again because the agent had lost the instance. */
  public long reRegistrations() {
    return reRegistrations;
  }

  public String service() {
    return service;
  }

  public String id() {
    return id;
  }

  /**
   * Stops the TTL renewals and deregisters the instance (DELETE with the
   * owner). Idempotent; an agent that cannot be reached is logged.
   */
  @Override
  public void close() {
    synchronized (lock) {
      if (closed) return;
      closed = true;
      lock.notifyAll();
    }
    if (heartbeat != null) {
      try {
        heartbeat.join(httpTimeout.toMillis() + 1000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    try {
      AgentHttp.Response r =
          AgentHttp.call(agent, "DELETE", instancePath() + ownerQuery(), null, httpTimeout);
      if (r.status() != 200 && r.status() != 404) {
        LOG.log(Level.WARNING, "kess: deregistration of " + service + "/" + id + ": agent answered "
            + r.status() + " " + r.body());
      }
    } catch (IOException e) {
      LOG.log(Level.WARNING, "kess: deregistration of " + service + "/" + id + " failed: "
          + e.getMessage());
    }
  }
}
