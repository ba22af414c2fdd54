package kess;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * The engine shared by {@link ConfigClient} and {@link Discovery}, as the C++
 * SDK's CacheWatcher: subscribes watched keys and namespaces through the
 * agent (POST /v1/subscriptions with this client's owner; retried with
 * backoff while the agent is down), follows them through the agent's
 * blocking watch (GET /v1/watch), falling back to polling the cache files
 * every poll interval while the agent is unreachable, keeps the last good
 * version of each key, and calls back each watcher with every newer version
 * once, in revision order, on its one background thread.
 *
 * <p>Last good value: a garbled, truncated, tampered or vanished file, an
 * unknown format, an older revision, an agent outage: the last good version
 * stays. Dropping the last watch of a key or namespace sends DELETE
 * /v1/subscriptions for this owner (the cache files stay).
 *
 * <p>Thread-safety: thread-safe. Callbacks run on the background thread, one
 * at a time.
 */
final class CacheWatcher implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger("kess");
  private static final int MAX_WATCH_SELECTION = 1000;

  /** Settings; see ConfigClient.Builder for their meaning. */
  static final class Options {
    Path cacheDir;
    AgentAddress agent;  // null: files only
    Duration pollInterval = Duration.ofSeconds(1);
    String owner;
    boolean unsubscribeUnwatched = true;
    boolean agentWatch = true;
    Duration watchTimeout = Duration.ofSeconds(30);
    boolean watchDirectories = true;
    Duration httpTimeout = Duration.ofSeconds(5);
    Duration subscribeRetryInitial = Duration.ofSeconds(1);
    Duration subscribeRetryMax = Duration.ofSeconds(30);
    String threadName = "kess-cache-watcher";
  }

  /** Stops one watch; idempotent. */
  interface Handle extends AutoCloseable {
    @Override
    void close();
  }

  private record FileInfo(Object fileKey, long mtimeNanos, long size) {}

  private static final class KeyState {
    FileInfo info;
    CacheEntry good;
    IOException lastError;
    boolean subscribed;
    int subscribeFailures;
    long nextSubscribeMs;
  }

  private static final class NamespaceState {
    final Map<String, KeyState> keys = new TreeMap<>();
    boolean subscribed;
    int subscribeFailures;
    long nextSubscribeMs;
  }

  private static final class Watcher {
    final CacheKey key;  // for a namespace: config(ns, "")
    final boolean wholeNamespace;
    final Consumer<CacheEntry> callback;
    long delivered;
    final Map<String, Long> deliveredKeys = new TreeMap<>();

    Watcher(CacheKey key, boolean wholeNamespace, Consumer<CacheEntry> callback) {
      this.key = key;
      this.wholeNamespace = wholeNamespace;
      this.callback = callback;
    }
  }

  private final Options options;
  private final String owner;
  private final Object mu = new Object();
  private final ReentrantLock pollLock = new ReentrantLock();
  private final Thread thread;
  // inotify (the JDK's WatchService) on the watched files' directories:
  // wakes the poll at once while the agent watch is not in use; null when
  // unavailable (polling alone then).
  private final WatchService dirWatch;
  private final Thread dirThread;
  private final Set<Path> watchedDirs = new HashSet<>();  // guarded by mu
  private volatile Thread pollingThread;

  // Guarded by mu.
  private final Map<CacheKey, KeyState> keys = new TreeMap<>();
  private final Map<String, NamespaceState> namespaces = new TreeMap<>();
  private final Map<Long, Watcher> watchers = new LinkedHashMap<>();
  private final Set<CacheKey> unsubscribeKeys = new TreeSet<>();
  private final Set<String> unsubscribeNamespaces = new TreeSet<>();
  private long nextId = 1;
  private boolean wake;
  private boolean closed;
  private AgentHttp currentWatch;
  private long lastErrorLogMs;

  // The agent watch, touched by the background thread only.
  private String watchEpoch;
  private long watchIndex;
  private long watchRetryAtMs;
  private Duration httpDeadline;
  private volatile boolean watchHealthy;

  private final AtomicLong readErrors = new AtomicLong();
  private final AtomicLong subscribeErrors = new AtomicLong();
  private final AtomicLong watchAnswers = new AtomicLong();

  CacheWatcher(Options options) {
    this.options = options;
    if (options.cacheDir == null) throw new IllegalArgumentException("cacheDir is not set");
    if (options.pollInterval.isNegative() || options.pollInterval.isZero()) {
      throw new IllegalArgumentException("pollInterval must be positive");
    }
    if (options.owner != null && !options.owner.isEmpty()) {
      Names.check("owner", options.owner);
      this.owner = options.owner;
    } else {
      this.owner = defaultOwner();
    }
    WatchService ws = null;
    if (options.watchDirectories) {
      try {
        ws = FileSystems.getDefault().newWatchService();
      } catch (IOException | UnsupportedOperationException e) {
        LOG.log(Level.WARNING, "kess: no directory watch (changes are seen by polling every "
            + options.pollInterval + "): " + e);
      }
    }
    dirWatch = ws;
    if (dirWatch != null) {
      dirThread = new Thread(this::runDirWatch, options.threadName + "-dirs");
      dirThread.setDaemon(true);
      dirThread.start();
    } else {
      dirThread = null;
    }
    thread = new Thread(this::run, options.threadName);
    thread.setDaemon(true);
    thread.start();
  }

  /** "java-&lt;pid&gt;-&lt;random&gt;": every client its own owner at the agent. */
  static String defaultOwner() {
    long nonce = new java.security.SecureRandom().nextLong() & 0xffffffffffL;
    return "java-" + ProcessHandle.current().pid() + "-" + String.format("%010x", nonce);
  }

  String owner() {
    return owner;
  }

  long readErrors() {
    return readErrors.get();
  }

  long subscribeErrors() {
    return subscribeErrors.get();
  }

  /** Answers of the agent's blocking watch applied so far. */
  long watchAnswers() {
    return watchAnswers.get();
  }

  /** Whether the last call of the agent's blocking watch succeeded. */
  boolean watchHealthy() {
    return watchHealthy;
  }

  Handle watch(CacheKey key, Consumer<CacheEntry> callback) {
    key.validate();
    Objects.requireNonNull(callback);
    long id;
    synchronized (mu) {
      if (closed) throw new IllegalStateException("closed");
      id = nextId++;
      watchers.put(id, new Watcher(key, false, callback));
      unsubscribeKeys.remove(key);
      if (!keys.containsKey(key)) {
        KeyState state = new KeyState();
        state.subscribed = options.agent == null;
        keys.put(key, state);
        refresh(key, state);  // get() works at once
        watchDirectory(options.cacheDir.resolve(key.relativePath()).getParent());
      }
      wakeLocked();
    }
    return handle(id);
  }

  Handle watchNamespace(String ns, Consumer<CacheEntry> callback) {
    Names.check("namespace", ns);
    Objects.requireNonNull(callback);
    long id;
    synchronized (mu) {
      if (closed) throw new IllegalStateException("closed");
      id = nextId++;
      watchers.put(id, new Watcher(CacheKey.config(ns, ""), true, callback));
      unsubscribeNamespaces.remove(ns);
      if (!namespaces.containsKey(ns)) {
        NamespaceState state = new NamespaceState();
        state.subscribed = options.agent == null;
        namespaces.put(ns, state);
        listNamespace(ns, state);
        watchDirectory(options.cacheDir.resolve("configs").resolve(ns));
        for (Map.Entry<String, KeyState> e : state.keys.entrySet()) {
          refresh(CacheKey.config(ns, e.getKey()), e.getValue());
        }
      }
      wakeLocked();
    }
    return handle(id);
  }

  private Handle handle(long id) {
    return new Handle() {
      private boolean done;

      @Override
      public synchronized void close() {
        if (done) return;
        done = true;
        unwatch(id);
      }
    };
  }

  private void unwatch(long id) {
    if (Thread.currentThread() == pollingThread) {  // from a callback
      removeWatcher(id);
      return;
    }
    pollLock.lock();  // waits for a running callback
    try {
      removeWatcher(id);
    } finally {
      pollLock.unlock();
    }
  }

  private void removeWatcher(long id) {
    synchronized (mu) {
      Watcher w = watchers.remove(id);
      if (w == null) return;
      for (Watcher other : watchers.values()) {
        if (other.key.equals(w.key) && other.wholeNamespace == w.wholeNamespace) return;
      }
      boolean tellAgent = options.unsubscribeUnwatched && options.agent != null;
      if (w.wholeNamespace) {
        namespaces.remove(w.key.namespace());
        if (tellAgent) unsubscribeNamespaces.add(w.key.namespace());
      } else {
        keys.remove(w.key);
        if (tellAgent) unsubscribeKeys.add(w.key);
      }
      wakeLocked();
    }
  }

  /**
   * The last good version of {@code key}: for a watched key the newest read so
   * far, else read from the cache now. Null when the cache has none;
   * IOException when the file is unreadable and no good version was read.
   */
  CacheEntry get(CacheKey key) throws IOException {
    key.validate();
    KeyState state;
    synchronized (mu) {
      state = keys.get(key);
      if (state != null) {
        if (state.good == null) refresh(key, state);
        if (state.good != null) return state.good;
        if (state.lastError == null || state.lastError instanceof NoSuchFileException) return null;
        throw state.lastError;
      }
    }
    try {
      return CacheEntry.read(options.cacheDir, key);
    } catch (NoSuchFileException e) {
      return null;
    }
  }

  /** One poll of every watched file on the calling thread; callbacks run here. */
  void pollNow() {
    pollOnce();
  }

  @Override
  public void close() {
    synchronized (mu) {
      if (closed) return;
      closed = true;
      // Watches still open end here: their subscriptions go too.
      if (options.unsubscribeUnwatched && options.agent != null) {
        unsubscribeKeys.addAll(keys.keySet());
        unsubscribeNamespaces.addAll(namespaces.keySet());
      }
      watchers.clear();
      wakeLocked();
    }
    if (dirWatch != null) {
      try {
        dirWatch.close();  // ends runDirWatch
      } catch (IOException e) {
        // Nothing to do.
      }
    }
    try {
      thread.join(options.httpTimeout.toMillis() + 1000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    unsubscribePending();  // watches dropped just before
  }

  // Watches `dir` for files renamed into place (inotify IN_MOVED_TO is
  // ENTRY_CREATE) once it exists; a directory not there yet is tried again
  // on every poll.
  private void watchDirectory(Path dir) {
    if (dirWatch == null || watchedDirs.contains(dir) || !Files.isDirectory(dir)) return;
    try {
      dir.register(dirWatch, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY);
      watchedDirs.add(dir);
    } catch (IOException | ClosedWatchServiceException e) {
      // Polling still sees changes.
    }
  }

  private void runDirWatch() {
    while (true) {
      WatchKey key;
      try {
        key = dirWatch.take();
      } catch (InterruptedException | ClosedWatchServiceException e) {
        return;
      }
      key.pollEvents();
      key.reset();
      synchronized (mu) {
        // While the agent's watch works it reports the same versions; waking
        // would only interrupt it.
        if (closed || (options.agent != null && options.agentWatch && watchHealthy)) continue;
        wake = true;
        mu.notifyAll();
      }
    }
  }

  private void wakeLocked() {
    wake = true;
    mu.notifyAll();
    if (currentWatch != null) currentWatch.cancel();
  }

  // ---- the background thread ----

  private void run() {
    while (true) {
      synchronized (mu) {
        if (closed) return;
        wake = false;
      }
      try {
        pollOnce();
        if (!longPoll()) {
          synchronized (mu) {
            long deadline = System.nanoTime() + options.pollInterval.toNanos();
            while (!wake && !closed) {
              long left = deadline - System.nanoTime();
              if (left <= 0) break;
              mu.wait(Math.max(1, left / 1_000_000));
            }
          }
        }
      } catch (InterruptedException e) {
        return;
      } catch (RuntimeException e) {
        // Not expected (callbacks are guarded in deliver()): keep the thread.
        LOG.log(Level.WARNING, "kess: cache watcher", e);
      }
    }
  }

  private void pollOnce() {
    pollLock.lock();
    try {
      pollingThread = Thread.currentThread();
      subscribePending();
      unsubscribePending();
      synchronized (mu) {
        for (CacheKey k : keys.keySet()) watchDirectory(options.cacheDir.resolve(k.relativePath()).getParent());
        for (String ns : namespaces.keySet()) watchDirectory(options.cacheDir.resolve("configs").resolve(ns));
        for (Map.Entry<CacheKey, KeyState> e : keys.entrySet()) refresh(e.getKey(), e.getValue());
        for (Map.Entry<String, NamespaceState> ns : namespaces.entrySet()) {
          listNamespace(ns.getKey(), ns.getValue());
          for (Map.Entry<String, KeyState> e : ns.getValue().keys.entrySet()) {
            refresh(CacheKey.config(ns.getKey(), e.getKey()), e.getValue());
          }
        }
      }
      deliver();
    } finally {
      pollingThread = null;
      pollLock.unlock();
    }
  }

  // One call of GET /v1/watch over everything watched; false when the agent
  // watch is not usable now (no agent, unreachable, nothing to watch), so the
  // caller waits a poll interval and polls the files.
  private boolean longPoll() {
    AgentHttp call;
    synchronized (mu) {
      if (closed || wake) return true;
      if (options.agent == null || !options.agentWatch) return false;
      long now = System.currentTimeMillis();
      if (now < watchRetryAtMs) return false;
      List<String> selection = new ArrayList<>();
      long nextSubscribe = Long.MAX_VALUE;
      for (Map.Entry<CacheKey, KeyState> e : keys.entrySet()) {
        CacheKey k = e.getKey();
        selection.add(k.type() == CacheKey.Type.CONFIG
            ? "config=" + k.namespace() + "/" + k.key()
            : "service=" + k.service());
        if (!e.getValue().subscribed) nextSubscribe = Math.min(nextSubscribe, e.getValue().nextSubscribeMs);
      }
      for (Map.Entry<String, NamespaceState> e : namespaces.entrySet()) {
        selection.add("namespace=" + e.getKey());
        if (!e.getValue().subscribed) nextSubscribe = Math.min(nextSubscribe, e.getValue().nextSubscribeMs);
      }
      if (selection.isEmpty() || selection.size() > MAX_WATCH_SELECTION) return false;
      long timeoutMs = options.watchTimeout.toMillis();
      if (nextSubscribe != Long.MAX_VALUE) timeoutMs = Math.min(timeoutMs, nextSubscribe - now);
      timeoutMs = Math.max(timeoutMs, 100);
      StringBuilder target = new StringBuilder("/v1/watch?");
      target.append(String.join("&", selection));
      target.append("&timeout=").append(timeoutMs).append("ms");
      if (watchEpoch != null && watchIndex > 0) {
        target.append("&index=").append(watchIndex);
        target.append("&epoch=").append(URLEncoder.encode(watchEpoch, StandardCharsets.UTF_8));
      }
      call = new AgentHttp(options.agent, "GET", target.toString(), null, null);
      currentWatch = call;
      httpDeadline = Duration.ofMillis(timeoutMs + timeoutMs / 16 + options.httpTimeout.toMillis());
    }
    AgentHttp.Response response;
    try {
      response = call.execute(httpDeadline);
    } catch (AgentHttp.CancelledException e) {
      return true;  // the selection changed, or closing
    } catch (IOException e) {
      watchFailed("agent watch: " + e.getMessage());
      return false;
    } finally {
      synchronized (mu) {
        currentWatch = null;
      }
    }
    if (response.status() != 200) {
      watchFailed("agent watch answered " + response.status() + ": " + response.body());
      return false;
    }
    List<CacheEntry> changes = new ArrayList<>();
    try {
      Map<String, Object> answer = Json.parseObject(response.body());
      Object epoch = answer.get("epoch");
      Object index = answer.get("index");
      Object list = answer.get("changes");
      if (!(epoch instanceof String) || !(index instanceof Long) || !(list instanceof List)) {
        throw new FormatException("watch answer without epoch, index or changes");
      }
      for (Object change : (List<?>) list) {
        if (!(change instanceof Map)) throw new FormatException("a change is not an object");
        @SuppressWarnings("unchecked")
        Map<String, Object> doc = (Map<String, Object>) change;
        try {
          changes.add(CacheEntry.fromJson(doc));
        } catch (FormatException e) {
          readErrors.incrementAndGet();
          logError("agent watch: " + e.getMessage());
        }
      }
      watchEpoch = (String) epoch;
      watchIndex = (Long) index;
    } catch (FormatException e) {
      watchFailed("agent watch: " + e.getMessage());
      return false;
    }
    watchHealthy = true;
    watchAnswers.incrementAndGet();
    pollLock.lock();
    try {
      pollingThread = Thread.currentThread();
      synchronized (mu) {
        for (CacheEntry entry : changes) apply(entry);
      }
      deliver();
    } finally {
      pollingThread = null;
      pollLock.unlock();
    }
    return true;
  }

  private void watchFailed(String why) {
    watchHealthy = false;
    watchEpoch = null;
    watchIndex = 0;
    watchRetryAtMs = System.currentTimeMillis() + 1000;  // poll files meanwhile
    logError(why + " (polling the cache files)");
  }

  // A version reported by the agent's watch: newer than the last good one
  // replaces it (the file poll then sees the same revision and changes nothing).
  private void apply(CacheEntry entry) {
    CacheKey key = entry.key();
    KeyState state = keys.get(key);
    if (state != null) applyTo(state, entry);
    if (key.type() == CacheKey.Type.CONFIG) {
      NamespaceState ns = namespaces.get(key.namespace());
      if (ns != null) applyTo(ns.keys.computeIfAbsent(key.key(), k -> new KeyState()), entry);
    }
  }

  private void applyTo(KeyState state, CacheEntry entry) {
    if (state.good != null && entry.revision() <= state.good.revision()) return;
    state.good = entry;
    state.lastError = null;
  }

  private void listNamespace(String ns, NamespaceState state) {
    Path dir = options.cacheDir.resolve("configs").resolve(ns);
    try (DirectoryStream<Path> stream = Files.newDirectoryStream(dir)) {
      for (Path p : stream) {
        String name = p.getFileName().toString();
        if (name.startsWith(".") || !name.endsWith(".json")) continue;  // writes in progress
        String key = name.substring(0, name.length() - ".json".length());
        if (!Names.isValid(key)) continue;
        state.keys.computeIfAbsent(key, k -> new KeyState());
      }
    } catch (IOException e) {
      // No key fetched yet (or unreadable: listed again next poll).
    }
  }

  // Re-reads `key`'s file if it changed (inode, mtime or size); a good
  // version with a higher revision replaces the last good one.
  private void refresh(CacheKey key, KeyState state) {
    Path path = options.cacheDir.resolve(key.relativePath());
    FileInfo info;
    try {
      BasicFileAttributes a = Files.readAttributes(path, BasicFileAttributes.class);
      info = new FileInfo(a.fileKey(), a.lastModifiedTime().to(TimeUnit.NANOSECONDS), a.size());
    } catch (IOException e) {
      state.info = null;
      state.lastError = e;
      if (e instanceof NoSuchFileException && state.good == null) return;  // not fetched yet
      readErrors.incrementAndGet();
      logError("kess " + key + ": keeping the last good version: " + e);
      return;
    }
    if (info.equals(state.info)) return;
    state.info = info;
    CacheEntry entry;
    try {
      entry = CacheEntry.read(options.cacheDir, key);
    } catch (IOException e) {
      state.lastError = e;
      if (e instanceof NoSuchFileException && state.good == null) return;
      readErrors.incrementAndGet();
      logError("kess " + key + ": keeping the last good version"
          + (state.good != null ? " (revision " + state.good.revision() + ")" : " (none yet)")
          + ": " + e.getMessage());
      return;
    }
    state.lastError = null;
    if (state.good != null && entry.revision() <= state.good.revision()) return;
    state.good = entry;
  }

  private void logError(String message) {
    long now = System.currentTimeMillis();
    synchronized (mu) {
      if (now - lastErrorLogMs < 10_000) return;
      lastErrorLogMs = now;
    }
    LOG.log(Level.WARNING, message);
  }

  private void deliver() {
    record Call(long id, Consumer<CacheEntry> callback, CacheEntry entry) {}
    List<Call> calls = new ArrayList<>();
    synchronized (mu) {
      for (Map.Entry<Long, Watcher> e : watchers.entrySet()) {
        Watcher w = e.getValue();
        if (w.wholeNamespace) {
          NamespaceState ns = namespaces.get(w.key.namespace());
          if (ns == null) continue;
          for (Map.Entry<String, KeyState> k : ns.keys.entrySet()) {
            CacheEntry good = k.getValue().good;
            if (good == null) continue;
            long delivered = w.deliveredKeys.getOrDefault(k.getKey(), 0L);
            if (good.revision() <= delivered) continue;
            w.deliveredKeys.put(k.getKey(), good.revision());
            calls.add(new Call(e.getKey(), w.callback, good));
          }
          continue;
        }
        KeyState state = keys.get(w.key);
        if (state == null || state.good == null) continue;
        if (state.good.revision() <= w.delivered) continue;
        w.delivered = state.good.revision();
        calls.add(new Call(e.getKey(), w.callback, state.good));
      }
    }
    for (Call call : calls) {
      synchronized (mu) {
        if (!watchers.containsKey(call.id())) continue;  // dropped by a callback
      }
      try {
        call.callback().accept(call.entry());
      } catch (RuntimeException e) {
        // The application's bug: log it; the other callbacks still run.
        LOG.log(Level.WARNING, "kess: a watch callback threw on " + call.entry(), e);
      }
    }
  }

  private void subscribePending() {
    if (options.agent == null) return;
    List<CacheKey> due = new ArrayList<>();
    List<String> dueNamespaces = new ArrayList<>();
    long now = System.currentTimeMillis();
    synchronized (mu) {
      for (Map.Entry<CacheKey, KeyState> e : keys.entrySet()) {
        if (!e.getValue().subscribed && e.getValue().nextSubscribeMs <= now) due.add(e.getKey());
      }
      for (Map.Entry<String, NamespaceState> e : namespaces.entrySet()) {
        if (!e.getValue().subscribed && e.getValue().nextSubscribeMs <= now) dueNamespaces.add(e.getKey());
      }
    }
    if (due.isEmpty() && dueNamespaces.isEmpty()) return;
    IOException error = send("POST", subscriptionBody(due, dueNamespaces, owner));
    synchronized (mu) {
      for (CacheKey k : due) {
        KeyState s = keys.get(k);
        if (s == null) continue;
        if (error == null) {
          s.subscribed = true;
        } else {
          s.nextSubscribeMs = now + backoffMs(s.subscribeFailures++);
        }
      }
      for (String n : dueNamespaces) {
        NamespaceState s = namespaces.get(n);
        if (s == null) continue;
        if (error == null) {
          s.subscribed = true;
        } else {
          s.nextSubscribeMs = now + backoffMs(s.subscribeFailures++);
        }
      }
    }
    if (error != null) {
      subscribeErrors.incrementAndGet();
      logError("kess agent at " + options.agent + " did not take the subscription (retrying;"
          + " cached values are still served): " + error.getMessage());
    }
  }

  private long backoffMs(int failures) {
    Duration delay = options.subscribeRetryInitial;
    for (int i = 0; i < failures && delay.compareTo(options.subscribeRetryMax) < 0; i++) {
      delay = delay.multipliedBy(2);
    }
    if (delay.compareTo(options.subscribeRetryMax) > 0) delay = options.subscribeRetryMax;
    return FailureTracker.ceilMs(delay);
  }

  private void unsubscribePending() {
    List<CacheKey> ks;
    List<String> ns;
    synchronized (mu) {
      ks = new ArrayList<>(unsubscribeKeys);
      ns = new ArrayList<>(unsubscribeNamespaces);
      unsubscribeKeys.clear();
      unsubscribeNamespaces.clear();
    }
    if (ks.isEmpty() && ns.isEmpty()) return;
    IOException error = send("DELETE", subscriptionBody(ks, ns, owner));
    if (error != null) {
      subscribeErrors.incrementAndGet();
      logError("kess agent at " + options.agent + " did not take the unsubscription of "
          + ks.size() + " keys and " + ns.size() + " namespaces (it keeps them): "
          + error.getMessage());
    }
  }

  /** {"app":owner,"configs":[..],"routes":[..],"namespaces":[..]}, empty lists left out. */
  static String subscriptionBody(List<CacheKey> keys, List<String> namespaces, String owner) {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("app", owner);
    List<Object> configs = new ArrayList<>();
    List<Object> routes = new ArrayList<>();
    for (CacheKey k : keys) {
      if (k.type() == CacheKey.Type.ROUTE) {
        routes.add(k.service());
      } else {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("namespace", k.namespace());
        c.put("key", k.key());
        configs.add(c);
      }
    }
    if (!configs.isEmpty()) body.put("configs", configs);
    if (!routes.isEmpty()) body.put("routes", routes);
    if (!namespaces.isEmpty()) body.put("namespaces", new ArrayList<>(namespaces));
    return Json.write(body);
  }

  private IOException send(String method, String body) {
    try {
      AgentHttp.Response r = AgentHttp.call(options.agent, method, "/v1/subscriptions", body,
          options.httpTimeout);
      if (r.status() != 200) return new IOException("agent answered " + r.status() + ": " + r.body());
      return null;
    } catch (IOException e) {
      return new IOException("agent: " + e.getMessage(), e);
    }
  }
}
