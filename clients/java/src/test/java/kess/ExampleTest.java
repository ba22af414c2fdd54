package kess;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** kess.example.KessExample as a process: the command line of clients/README.md. */
class ExampleTest {
  private static Process start(String... args) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-cp");
    cmd.add(System.getProperty("kess.jar", System.getProperty("java.class.path")));
    cmd.add("kess.example.KessExample");
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
  }

  private static List<String> lines(Process p, int n, long timeoutMs) throws IOException, InterruptedException {
    List<String> out = new ArrayList<>();
    BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    long deadline = System.currentTimeMillis() + timeoutMs;
    while (out.size() < n && System.currentTimeMillis() < deadline) {
      String line = r.readLine();
      if (line == null) break;
      out.add(line);
    }
    return out;
  }

  @Test
  void providerRegistersServesAndDeregistersOnSigterm() throws Exception {
    try (FakeAgent agent = new FakeAgent()) {
      Process p = start("provider", "--agent", agent.address(), "--service", "demo", "--id", "demo-1",
          "--port", "0");
      try {
        assertEquals(List.of("ready"), lines(p, 1, 20_000));
        List<FakeAgent.Request> puts = agent.requests("PUT", "/v1/services/demo/instances/demo-1");
        assertEquals(1, puts.size());
        Map<String, Object> body = Json.parseObject(puts.get(0).body());
        String address = (String) body.get("address");
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://" + address + "/")).build(),
            HttpResponse.BodyHandlers.ofString());
        assertEquals("java demo-1\n", r.body());
        assertEquals(200, http.send(HttpRequest.newBuilder(URI.create("http://" + address + "/health")).build(),
            HttpResponse.BodyHandlers.ofString()).statusCode());
        List<?> checks = (List<?>) body.get("checks");
        assertEquals("http", ((Map<?, ?>) checks.get(0)).get("kind"));
        assertEquals("1s", ((Map<?, ?>) checks.get(0)).get("interval"));
        assertEquals("ttl", ((Map<?, ?>) checks.get(1)).get("kind"));
        p.destroy();  // SIGTERM
        assertTrue(p.waitFor(20, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue());
        assertEquals(1, agent.requests("DELETE", "/v1/services/demo/instances/demo-1?owner=kess-example-").size());
      } finally {
        p.destroyForcibly();
      }
    }
  }

  @Test
  void pickPrintsTheHrwLocalFirstChoice(@TempDir Path dir) throws Exception {
    TestCache.writeTable(dir, "svc", 5, List.of(TestCache.instance("a1", "dc1", 100, "healthy"),
        TestCache.instance("a2", "dc1", 300, "healthy"), TestCache.instance("b1", "dc2", 100, "healthy")));
    Process p = start("pick", "--cache_dir", dir.toString(), "--service", "svc", "--local_dc", "dc1",
        "--keys", "k1,k2,k3", "--wait_s", "5");
    List<String> out = lines(p, 3, 20_000);
    assertTrue(p.waitFor(20, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue());
    try (Discovery d = Discovery.builder().cacheDir(dir).localDatacenter("dc1").balancer("local_first")
        .localFirstInner("hrw").build()) {
      String[] keys = {"k1", "k2", "k3"};
      for (int i = 0; i < 3; i++) {
        Map<String, Object> line = Json.parseObject(out.get(i));
        assertEquals(keys[i], line.get("key"));
        assertEquals(d.select("svc", keys[i]).orElseThrow().id(), line.get("instance"));
        assertTrue(((String) line.get("instance")).startsWith("a"));
      }
    }
    Process none = start("pick", "--cache_dir", dir.toString(), "--service", "nosuch", "--local_dc", "dc1",
        "--keys", "k1", "--wait_s", "0.2");
    assertTrue(none.waitFor(20, TimeUnit.SECONDS));
    assertEquals(1, none.exitValue());
  }

  @Test
  void callReportsBodiesAndErrors(@TempDir Path dir) throws Exception {
    int deadPort;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      deadPort = s.getLocalPort();
    }
    Map<String, Object> dead = TestCache.instance("dead", "dc1", 100, "healthy");
    dead = new java.util.LinkedHashMap<>(dead);
    dead.put("address", "127.0.0.1:" + deadPort);
    TestCache.writeTable(dir, "svc", 5, List.of(dead));
    Process p = start("call", "--cache_dir", dir.toString(), "--service", "svc", "--local_dc", "dc1",
        "--count", "2", "--wait_s", "5");
    List<String> out = lines(p, 2, 20_000);
    assertTrue(p.waitFor(20, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue());
    assertEquals(2, out.size());
    for (String line : out) {
      Map<String, Object> o = Json.parseObject(line);
      assertEquals("dead", o.get("instance"));  // the only one: the last resort
      assertTrue(o.containsKey("error"), line);
    }
  }

  @Test
  void callPrintsTheBodyOfTheCalledInstance(@TempDir Path dir) throws Exception {
    com.sun.net.httpserver.HttpServer server =
        com.sun.net.httpserver.HttpServer.create(new java.net.InetSocketAddress("127.0.0.1", 0), 8);
    server.createContext("/", ex -> {
      byte[] b = "test up\n".getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(200, b.length);
      ex.getResponseBody().write(b);
      ex.close();
    });
    server.start();
    try {
      Map<String, Object> up = new java.util.LinkedHashMap<>(TestCache.instance("up", "dc1", 100, "healthy"));
      up.put("address", "127.0.0.1:" + server.getAddress().getPort());
      TestCache.writeTable(dir, "svc", 5, List.of(up, TestCache.instance("remote", "dc2", 100, "healthy")));
      Process p = start("call", "--cache_dir", dir.toString(), "--service", "svc", "--local_dc", "dc1",
          "--count", "3", "--wait_s", "5");
      List<String> out = lines(p, 3, 20_000);
      assertTrue(p.waitFor(20, TimeUnit.SECONDS));
      assertEquals(0, p.exitValue());
      assertEquals(3, out.size());
      for (String line : out) assertEquals("{\"instance\":\"up\",\"body\":\"test up\\n\"}", line);
    } finally {
      server.stop(0);
    }
  }

  @Test
  void watchPrintsTheHeldValueAndEveryChange(@TempDir Path dir) throws Exception {
    TestCache.writeConfig(dir, "ns", "k", 3, "three");
    try (FakeAgent agent = new FakeAgent()) {
      Process p = start("watch", "--agent", agent.address(), "--namespace", "ns", "--key", "k",
          "--timeout_s", "3", "--cache_dir", dir.toString());
      try {
        List<String> first = lines(p, 1, 20_000);
        assertEquals(List.of("{\"revision\":3,\"value\":\"three\"}"), first);
        CacheKey k = CacheKey.config("ns", "k");
        agent.pushWatchChanges(List.of(Json.parseObject(
            TestCache.entryJson(k, 4, false, "four".getBytes(StandardCharsets.UTF_8)))));
        assertEquals(List.of("{\"revision\":4,\"value\":\"four\"}"), lines(p, 1, 20_000));
        assertTrue(p.waitFor(20, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue());
        Map<String, Object> sub = Json.parseObject(agent.requests("POST", "/v1/subscriptions").get(0).body());
        assertTrue(((String) sub.get("app")).startsWith("kess-example-"));
        assertTrue(TestCache.waitFor(() -> !agent.requests("DELETE", "/v1/subscriptions").isEmpty()));
      } finally {
        p.destroyForcibly();
      }
    }
  }
}
