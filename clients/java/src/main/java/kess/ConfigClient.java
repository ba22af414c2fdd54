package kess;

import java.io.IOException;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Reads configs from the agent's file cache and tells the application about
 * every new version; the Java counterpart of the C++ SDK's ConfigClient.
 *
 * <pre>{@code
 * try (ConfigClient client = ConfigClient.builder()
 *         .cacheDir(Path.of("/var/cache/kess"))
 *         .agent("http://127.0.0.1:7310")
 *         .build()) {
 *   WatchHandle w = client.watch("shop", "db.timeout", v -> {
 *     if (!v.deleted()) applyTimeout(v.valueAsString());
 *   });
 *   Optional<ConfigValue> now = client.get("shop", "db.timeout");
 * }
 * }</pre>
 *
 * <ul>
 *   <li>{@link #watch} subscribes the key through the agent (POST
 *       /v1/subscriptions, owner {@link #owner()}; retried with backoff while
 *       the agent is down) and calls back with the current version and every
 *       newer one, once each, in revision order, on the client's thread.
 *   <li>New versions arrive through the agent's blocking watch (GET
 *       /v1/watch); while the agent is unreachable the client polls the
 *       cache files every poll interval (stat; re-read when inode, mtime or
 *       size changed) and retries the watch every second.
 *   <li>Last good value: a garbled, truncated or tampered file (bad JSON, a
 *       CRC-32 mismatch, an unknown format, a wrong type), a vanished file,
 *       an older revision or an agent outage never replaces the last good
 *       version. Files whose names start with '.' (writes in progress) are
 *       ignored.
 *   <li>A config deleted upstream (a tombstone) arrives as a version with
 *       {@link ConfigValue#deleted()} set; {@link #get} then returns empty.
 *   <li>No agent: reading needs only the files.
 * </ul>
 *
 * <p>Thread-safety: thread-safe. Callbacks run on the client's thread, one at
 * a time; they must not block for long and may create or close watches, but
 * must not close the client itself.
 */
public final class ConfigClient implements AutoCloseable {
  private final CacheWatcher watcher;

  private ConfigClient(CacheWatcher watcher) {
    this.watcher = watcher;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Settings of a {@link ConfigClient}. */
  public static final class Builder extends CacheClientBuilder<Builder> {
    private Builder() {
      super("kess-config-client");
    }

    /** Whether closing the last watch of a key unsubscribes it at the agent (default true). */
    public Builder unsubscribeUnwatched(boolean v) {
      o.unsubscribeUnwatched = v;
      return this;
    }

    /** The timeout of the agent's other calls (default 5 s). */
    public Builder httpTimeout(Duration d) {
      o.httpTimeout = d;
      return this;
    }

    /** Starts the client's thread. IllegalArgumentException for bad settings. */
    public ConfigClient build() {
      return new ConfigClient(new CacheWatcher(o));
    }
  }

  /**
   * Watches {@code namespace/key}: {@code callback} gets the current version
   * (if the cache has one) and every newer one. IllegalArgumentException for
   * an invalid name.
   */
  public WatchHandle watch(String namespace, String key, Consumer<ConfigValue> callback) {
    Objects.requireNonNull(callback);
    CacheWatcher.Handle h =
        watcher.watch(CacheKey.config(namespace, key), e -> callback.accept(new ConfigValue(e)));
    return h::close;
  }

  /**
   * Watches every key of {@code namespace}, also keys created later (the
   * agent subscribes the namespace as a whole): {@code callback} gets each
   * key's current version and every newer one, deletions as versions with
   * {@code deleted()} set.
   */
  public WatchHandle watchNamespace(String namespace, Consumer<ConfigValue> callback) {
    Objects.requireNonNull(callback);
    CacheWatcher.Handle h = watcher.watchNamespace(namespace, e -> callback.accept(new ConfigValue(e)));
    return h::close;
  }

  /**
   * The last good version: for a watched key the newest read so far,
   * otherwise read from the cache now. Empty when the cache has none or the
   * config was deleted; FormatException (an IOException) when the file is
   * unreadable and no good version was read before.
   */
  public Optional<ConfigValue> get(String namespace, String key) throws IOException {
    CacheEntry e = watcher.get(CacheKey.config(namespace, key));
    if (e == null || e.absent()) return Optional.empty();
    return Optional.of(new ConfigValue(e));
  }

  /**
   * Like {@link #get}, but a tombstone is returned too (as a version with
   * {@link ConfigValue#deleted()} set), so its revision is known.
   */
  public Optional<ConfigValue> version(String namespace, String key) throws IOException {
    CacheEntry e = watcher.get(CacheKey.config(namespace, key));
    return e == null ? Optional.empty() : Optional.of(new ConfigValue(e));
  }

  /** This client's owner id at the agent. */
  public String owner() {
    return watcher.owner();
  }

  /** One poll of every watched file on the calling thread (callbacks run here). */
  public void pollNow() {
    watcher.pollNow();
  }

  /** Cache files that could not be read so far (the last good version was kept). */
  public long readErrors() {
    return watcher.readErrors();
  }

  /** Failed subscription calls to the agent so far. */
  public long subscribeErrors() {
    return watcher.subscribeErrors();
  }

  /** Whether the last call of the agent's blocking watch succeeded. */
  public boolean agentWatchHealthy() {
    return watcher.watchHealthy();
  }

  /** Stops the client's thread and unsubscribes what closed watches left. */
  @Override
  public void close() {
    watcher.close();
  }
}
