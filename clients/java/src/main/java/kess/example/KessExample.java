package kess.example;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import kess.AgentAddress;
import kess.AgentApi;
import kess.AgentException;
import kess.ConfigClient;
import kess.Discovery;
import kess.Json;
import kess.Registration;
import kess.RouteInstance;
import kess.WatchHandle;

/**
 * kess-example, the example program every kess client ships
 * (clients/README.md), in Java:
 *
 * <pre>
 * kess-example provider --agent http://127.0.0.1:PORT --service SVC --id ID --port P
 *     [--ttl_s 10] [--register_timeout_s 30]
 * kess-example pick --cache_dir DIR --service SVC --local_dc DC --keys k1,k2 [--wait_s 30] [--agent A]
 * kess-example call --cache_dir DIR --service SVC --local_dc DC --count N [--wait_s 30] [--agent A]
 * kess-example watch --agent http://127.0.0.1:PORT --namespace NS --key K [--timeout_s 30]
 *     [--cache_dir DIR]
 * </pre>
 *
 * <p>pick and call read the cache only unless --agent is given too; watch
 * takes --cache_dir or learns it from the agent's subscription answer.
 * --agent also takes unix:PATH. Exit status: 0 on success, 1 on failure (no
 * instance within wait_s, the agent refused the registration), 2 on bad
 * flags.
 */
public final class KessExample {
  private static final String LANGUAGE = "java";

  private KessExample() {}

  public static void main(String[] argv) {
    int code;
    try {
      code = run(argv);
    } catch (IllegalArgumentException e) {
      System.err.println("kess-example: " + e.getMessage());
      code = 2;
    } catch (Exception e) {
      System.err.println("kess-example: " + e);
      code = 1;
    }
    System.out.flush();
    System.exit(code);
  }

  static int run(String[] argv) throws Exception {
    if (argv.length == 0) throw new IllegalArgumentException("usage: kess-example provider|pick|call|watch --flags");
    Flags f = new Flags(argv);
    switch (argv[0]) {
      case "provider":
        return provider(f);
      case "pick":
        return pick(f);
      case "call":
        return call(f);
      case "watch":
        return watch(f);
      default:
        throw new IllegalArgumentException("unknown command " + argv[0]);
    }
  }

  /** --name value and --name=value flags after the command. */
  private static final class Flags {
    private final Map<String, String> values = new HashMap<>();

    Flags(String[] argv) {
      for (int i = 1; i < argv.length; i++) {
        String a = argv[i];
        if (!a.startsWith("--")) throw new IllegalArgumentException("unexpected argument " + a);
        String name = a.substring(2);
        int eq = name.indexOf('=');
        if (eq >= 0) {
          values.put(name.substring(0, eq), name.substring(eq + 1));
        } else {
          if (i + 1 >= argv.length) throw new IllegalArgumentException("--" + name + " needs a value");
          values.put(name, argv[++i]);
        }
      }
    }

    String required(String name) {
      String v = values.get(name);
      if (v == null || v.isEmpty()) throw new IllegalArgumentException("--" + name + " is required");
      return v;
    }

    String get(String name, String otherwise) {
      return values.getOrDefault(name, otherwise);
    }

    double number(String name, double otherwise) {
      String v = values.get(name);
      if (v == null) return otherwise;
      try {
        return Double.parseDouble(v);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("--" + name + " is not a number: " + v);
      }
    }
  }

  private static synchronized void emit(Map<String, Object> line) {
    System.out.println(Json.write(line));
    System.out.flush();
  }

  private static Duration seconds(double s) {
    return Duration.ofMillis((long) (s * 1000));
  }

  /** Runs {@code onSignal} on SIGTERM and SIGINT. */
  private static void onTerm(Runnable onSignal) {
    for (String name : new String[] {"TERM", "INT"}) {
      sun.misc.Signal.handle(new sun.misc.Signal(name), sig -> onSignal.run());
    }
  }

  // ---- provider ----

  static int provider(Flags f) throws Exception {
    String agent = f.required("agent");
    String service = f.required("service");
    String id = f.required("id");
    int port = (int) f.number("port", -1);
    if (port < 0 || port > 65535) throw new IllegalArgumentException("--port is required (0..65535)");
    double ttl = f.number("ttl_s", 10);
    double registerTimeout = f.number("register_timeout_s", 30);
    byte[] body = (LANGUAGE + " " + id + "\n").getBytes(StandardCharsets.UTF_8);

    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
    server.createContext("/", exchange -> {
      String path = exchange.getRequestURI().getPath();
      byte[] data = path.equals("/") ? body : path.equals("/health") ? "ok\n".getBytes(StandardCharsets.UTF_8) : null;
      exchange.getResponseHeaders().set("Content-Type", "text/plain");
      if (data == null) {
        exchange.sendResponseHeaders(404, -1);
      } else {
        exchange.sendResponseHeaders(200, data.length);
        try (OutputStream out = exchange.getResponseBody()) {
          out.write(data);
        }
      }
      exchange.close();
    });
    server.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(4, r -> {
      Thread t = new Thread(r, "kess-example-http");
      t.setDaemon(true);
      return t;
    }));
    server.start();
    int bound = server.getAddress().getPort();

    CountDownLatch stop = new CountDownLatch(1);
    onTerm(stop::countDown);
    Registration.Builder b = Registration.builder()
        .agent(agent)
        .service(service)
        .id(id)
        .address("127.0.0.1:" + bound)
        .owner("kess-example-" + ProcessHandle.current().pid())
        .httpCheck("http://127.0.0.1:" + bound + "/health", Duration.ofSeconds(1), Duration.ofMillis(500))
        .ttlCheck(id + "-ttl", seconds(ttl));
    long deadline = System.nanoTime() + seconds(registerTimeout).toNanos();
    Registration registration;
    while (true) {
      try {
        registration = b.register();
        break;
      } catch (IOException e) {
        boolean permanent = e instanceof AgentException
            && ((AgentException) e).status() >= 400 && ((AgentException) e).status() < 500
            && ((AgentException) e).status() != 409 && ((AgentException) e).status() != 429;
        if (permanent || System.nanoTime() >= deadline || stop.getCount() == 0) {
          System.err.println("registration failed: " + e.getMessage());
          server.stop(0);
          return 1;
        }
        if (stop.await(500, TimeUnit.MILLISECONDS)) {
          server.stop(0);
          return 0;
        }
      }
    }
    System.out.println("ready");
    System.out.flush();
    stop.await();
    registration.close();
    server.stop(0);
    return 0;
  }

  // ---- pick and call ----

  private static Discovery discovery(Flags f, String inner) {
    return Discovery.builder()
        .cacheDir(Path.of(f.required("cache_dir")))
        .agent(f.get("agent", ""))
        .balancer("local_first")
        .localDatacenter(f.required("local_dc"))
        .minLocalHealthy(1)
        .localFirstInner(inner)
        .pollInterval(Duration.ofMillis(200))
        .build();
  }

  private static boolean waitForInstance(Discovery d, String service, double waitS)
      throws InterruptedException {
    long deadline = System.nanoTime() + seconds(waitS).toNanos();
    while (true) {
      if (d.select(service).isPresent()) return true;
      if (System.nanoTime() >= deadline) return false;
      Thread.sleep(100);
    }
  }

  static int pick(Flags f) throws Exception {
    String service = f.required("service");
    String keys = f.required("keys");
    double waitS = f.number("wait_s", 30);
    try (Discovery d = discovery(f, "hrw")) {
      if (!waitForInstance(d, service, waitS)) {
        System.err.println("no instance of " + service + " within " + waitS + "s");
        return 1;
      }
      for (String key : keys.split(",")) {
        if (key.isEmpty()) continue;
        Optional<RouteInstance> in = d.select(service, key);
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("key", key);
        line.put("instance", in.map(RouteInstance::id).orElse(null));
        emit(line);
      }
      return 0;
    }
  }

  static int call(Flags f) throws Exception {
    String service = f.required("service");
    int count = (int) f.number("count", -1);
    if (count < 0) throw new IllegalArgumentException("--count is required");
    double waitS = f.number("wait_s", 30);
    Duration callTimeout = seconds(f.number("call_timeout_s", 2));
    HttpClient http = HttpClient.newBuilder().connectTimeout(callTimeout).build();
    try (Discovery d = discovery(f, "weighted_random")) {
      if (!waitForInstance(d, service, waitS)) {
        System.err.println("no instance of " + service + " within " + waitS + "s");
        return 1;
      }
      for (int i = 0; i < count; i++) {
        Optional<RouteInstance> picked = d.select(service);
        Map<String, Object> line = new LinkedHashMap<>();
        if (picked.isEmpty()) {
          line.put("instance", null);
          line.put("error", "no instance");
          emit(line);
          continue;
        }
        RouteInstance in = picked.get();
        line.put("instance", in.id());
        try {
          HttpResponse<String> r = http.send(
              HttpRequest.newBuilder(URI.create("http://" + in.address() + "/")).timeout(callTimeout).GET().build(),
              HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
          if (r.statusCode() != 200) throw new IOException("HTTP " + r.statusCode());
          d.reportSuccess(service, in.id());
          line.put("body", r.body());
        } catch (IOException | IllegalArgumentException e) {
          d.reportFailure(service, in.id());
          line.put("error", e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage());
        }
        emit(line);
      }
      return 0;
    }
  }

  // ---- watch ----

  static int watch(Flags f) throws Exception {
    String agent = f.required("agent");
    String namespace = f.required("namespace");
    String key = f.required("key");
    double timeoutS = f.number("timeout_s", 30);
    String owner = "kess-example-" + ProcessHandle.current().pid();
    String cacheDir = f.get("cache_dir", "");
    if (cacheDir.isEmpty()) {
      cacheDir = cacheDirFromAgent(AgentAddress.parse(agent), owner, namespace, key);
      if (cacheDir == null) {
        System.err.println("cannot learn the cache dir from the agent; give --cache_dir");
        return 1;
      }
    }
    CountDownLatch stop = new CountDownLatch(1);
    onTerm(stop::countDown);
    try (ConfigClient client = ConfigClient.builder()
            .cacheDir(Path.of(cacheDir))
            .agent(agent)
            .owner(owner)
            .pollInterval(Duration.ofMillis(500))
            .build();
        WatchHandle w = client.watch(namespace, key, v -> {
          Map<String, Object> line = new LinkedHashMap<>();
          line.put("revision", v.revision());
          line.put("value", v.valueAsString());
          if (v.deleted()) line.put("deleted", true);
          emit(line);
        })) {
      stop.await((long) (timeoutS * 1000), TimeUnit.MILLISECONDS);
    }
    return 0;
  }

  // The agent's subscription answer names the file; the cache dir is three up.
  private static String cacheDirFromAgent(AgentAddress agent, String owner, String namespace, String key) {
    Map<String, Object> config = new LinkedHashMap<>();
    config.put("namespace", namespace);
    config.put("key", key);
    Map<String, Object> req = new LinkedHashMap<>();
    req.put("app", owner);
    req.put("configs", List.of(config));
    try {
      String answer = AgentApi.request(agent, "POST", "/v1/subscriptions", Json.write(req), Duration.ofSeconds(10));
      Object subs = Json.parseObject(answer).get("subscriptions");
      if (!(subs instanceof List) || ((List<?>) subs).isEmpty()) return null;
      Object path = ((Map<?, ?>) ((List<?>) subs).get(0)).get("path");
      if (!(path instanceof String)) return null;
      Path p = Path.of((String) path).getParent();
      for (int i = 0; i < 2 && p != null; i++) p = p.getParent();
      return p == null ? null : p.toString();
    } catch (IOException | ClassCastException e) {
      System.err.println("subscription failed: " + e.getMessage());
      return null;
    }
  }
}
