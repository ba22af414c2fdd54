package kess;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Test helper: a fake of the agent's local API on 127.0.0.1 (an ephemeral
 * port): records every request; answers subscriptions, registrations, TTL
 * updates and deregistrations with 200 (or the status set); answers GET
 * /v1/watch from a queue of changes, or times out after the request's
 * timeout (at most 2 s).
 */
final class FakeAgent implements AutoCloseable {
  /** One request as received. */
  record Request(String method, String target, String body, String host) {}

  private final HttpServer server;
  private final ExecutorService executor = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "fake-agent");
    t.setDaemon(true);
    return t;
  });
  private final List<Request> requests = new ArrayList<>();
  private final LinkedBlockingQueue<List<Map<String, Object>>> watchChanges = new LinkedBlockingQueue<>();
  private volatile int ttlStatus = 200;
  private volatile int registerStatus = 200;
  private long index = 1;

  FakeAgent() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
    server.createContext("/", this::handle);
    server.setExecutor(executor);
    server.start();
  }

  String address() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  int port() {
    return server.getAddress().getPort();
  }

  void setTtlStatus(int status) {
    ttlStatus = status;
  }

  void setRegisterStatus(int status) {
    registerStatus = status;
  }

  /** The next watch call answers with these changes (cache file objects). */
  void pushWatchChanges(List<Map<String, Object>> changes) {
    watchChanges.add(changes);
  }

  synchronized List<Request> requests() {
    return new ArrayList<>(requests);
  }

  /** Requests whose method is {@code method} and whose target starts with {@code prefix}. */
  synchronized List<Request> requests(String method, String prefix) {
    List<Request> out = new ArrayList<>();
    for (Request r : requests) {
      if (r.method().equals(method) && r.target().startsWith(prefix)) out.add(r);
    }
    return out;
  }

  private void handle(HttpExchange ex) throws IOException {
    String method = ex.getRequestMethod();
    String target = ex.getRequestURI().toString();
    String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
    synchronized (this) {
      requests.add(new Request(method, target, body, ex.getRequestHeaders().getFirst("Host")));
    }
    String path = ex.getRequestURI().getPath();
    try {
      if (path.equals("/v1/subscriptions")) {
        reply(ex, 200, "{\"app\":\"x\",\"subscriptions\":[],\"namespaces\":[]}");
      } else if (path.equals("/v1/watch") && method.equals("GET")) {
        watch(ex);
      } else if (path.startsWith("/v1/services/")) {
        if (method.equals("PUT")) {
          reply(ex, registerStatus, registerStatus == 200 ? "{}" : "{\"error\":{\"code\":\"X\",\"message\":\"no\"}}");
        } else {
          reply(ex, 200, "{\"deregistered\":\"x\"}");
        }
      } else if (path.startsWith("/v1/checks/")) {
        int s = ttlStatus;
        reply(ex, s, s == 200 ? "{\"check\":\"x\",\"status\":\"passing\"}" : "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"no\"}}");
      } else {
        reply(ex, 404, "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"no\"}}");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      ex.close();
    }
  }

  private void watch(HttpExchange ex) throws IOException, InterruptedException {
    long timeoutMs = 2000;
    String query = ex.getRequestURI().getRawQuery();
    for (String part : query == null ? new String[0] : query.split("&")) {
      if (part.startsWith("timeout=") && part.endsWith("ms")) {
        timeoutMs = Math.min(timeoutMs, Long.parseLong(part.substring(8, part.length() - 2)));
      }
    }
    List<Map<String, Object>> changes = watchChanges.poll(timeoutMs, TimeUnit.MILLISECONDS);
    long i;
    synchronized (this) {
      if (changes != null) index++;
      i = index;
    }
    Map<String, Object> answer = new java.util.LinkedHashMap<>();
    answer.put("epoch", "00000000000000aa");
    answer.put("index", i);
    answer.put("full", false);
    answer.put("timed_out", changes == null);
    answer.put("changes", changes == null ? List.of() : changes);
    reply(ex, 200, Json.write(answer));
  }

  private static void reply(HttpExchange ex, int status, String body) throws IOException {
    byte[] data = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", "application/json");
    ex.sendResponseHeaders(status, data.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(data);
    }
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }
}
