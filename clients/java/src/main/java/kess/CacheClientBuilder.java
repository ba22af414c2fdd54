package kess;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The settings {@link ConfigClient.Builder} and {@link Discovery.Builder}
 * share: the agent's cache directory and local API, and how the files are
 * polled and watched. Each setter returns the client's own builder.
 */
public abstract class CacheClientBuilder<B extends CacheClientBuilder<B>> {
  final CacheWatcher.Options o = new CacheWatcher.Options();

  CacheClientBuilder(String threadName) {
    o.threadName = threadName;
  }

  @SuppressWarnings("unchecked")
  private B self() {
    return (B) this;
  }

  /** The agent's --cache_dir (required; e.g. /var/cache/kess). */
  public B cacheDir(Path dir) {
    o.cacheDir = dir;
    return self();
  }

  /**
   * The agent's local API: "http://127.0.0.1:7310", "127.0.0.1:7310" or
   * "unix:/run/kess/agent.sock". Unset: files only (no subscriptions, no
   * blocking watch).
   */
  public B agent(String address) {
    o.agent = address == null || address.isEmpty() ? null : AgentAddress.parse(address);
    return self();
  }

  public B agent(AgentAddress address) {
    o.agent = address;
    return self();
  }

  /** How often the files are polled while the agent watch is unusable (default 1 s). */
  public B pollInterval(Duration d) {
    o.pollInterval = d;
    return self();
  }

  /** The owner of this client's subscriptions (default "java-&lt;pid&gt;-&lt;random&gt;"). */
  public B owner(String owner) {
    o.owner = owner;
    return self();
  }

  /** Whether to use the agent's blocking watch (default true; false: poll files only). */
  public B agentWatch(boolean v) {
    o.agentWatch = v;
    return self();
  }

  /**
   * Whether to watch the cache directories (inotify, through the JDK's
   * WatchService) so that new files are read at once while the agent's
   * watch is not in use (default true; false: polling alone).
   */
  public B watchDirectories(boolean v) {
    o.watchDirectories = v;
    return self();
  }

  /** How long one blocking watch call waits (default 30 s). */
  public B watchTimeout(Duration d) {
    o.watchTimeout = d;
    return self();
  }
}
