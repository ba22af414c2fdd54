package kess;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigClientTest {
  private static ConfigClient.Builder filesOnly(Path dir) {
    return ConfigClient.builder().cacheDir(dir).pollInterval(Duration.ofMillis(20));
  }

  @Test
  void keepsTheLastGoodValue(@TempDir Path dir) throws Exception {
    TestCache.writeConfig(dir, "shop", "db", 5, "v5");
    try (ConfigClient c = filesOnly(dir).build()) {
      List<ConfigValue> seen = new CopyOnWriteArrayList<>();
      try (WatchHandle w = c.watch("shop", "db", seen::add)) {
        assertTrue(TestCache.waitFor(() -> seen.size() == 1));
        assertEquals("v5", c.get("shop", "db").orElseThrow().valueAsString());
        // Garbage, a CRC mismatch, an unknown format, an older revision, a
        // vanished file: the value stays.
        CacheKey k = CacheKey.config("shop", "db");
        String v6 = TestCache.entryJson(k, 6, false, "v6".getBytes(StandardCharsets.UTF_8));
        for (String bad : new String[] {"{garbage", v6.replace("\"v6\"", "\"v7\""),
            v6.replace("\"format\":1", "\"format\":9"), v6.substring(0, 40)}) {
          long errors = c.readErrors();
          TestCache.writeRaw(dir, k, bad);
          assertTrue(TestCache.waitFor(() -> c.readErrors() > errors));
          assertEquals("v5", c.get("shop", "db").orElseThrow().valueAsString());
        }
        TestCache.writeConfig(dir, "shop", "db", 4, "v4");
        Files.delete(dir.resolve(k.relativePath()));
        c.pollNow();
        assertEquals("v5", c.get("shop", "db").orElseThrow().valueAsString());
        TestCache.writeConfig(dir, "shop", "db", 8, "v8");
        assertTrue(TestCache.waitFor(() -> seen.size() == 2));
        assertEquals(8, seen.get(1).revision());
        // A tombstone: delivered as deleted, get() is empty.
        TestCache.deleteConfig(dir, "shop", "db", 9);
        assertTrue(TestCache.waitFor(() -> seen.size() == 3));
        assertTrue(seen.get(2).deleted());
        assertTrue(c.get("shop", "db").isEmpty());
      }
    }
  }

  @Test
  void unwatchedGetReadsTheFileAndGarbledWithoutGoodThrows(@TempDir Path dir) throws Exception {
    try (ConfigClient c = filesOnly(dir).build()) {
      assertTrue(c.get("shop", "db").isEmpty());
      TestCache.writeConfig(dir, "shop", "db", 1, "x");
      assertEquals("x", c.get("shop", "db").orElseThrow().valueAsString());
      TestCache.writeRaw(dir, CacheKey.config("shop", "bad"), "nope");
      assertThrows(FormatException.class, () -> c.get("shop", "bad"));
      try (WatchHandle w = c.watch("shop", "bad", v -> {})) {
        assertThrows(FormatException.class, () -> c.get("shop", "bad"));
      }
      assertThrows(IllegalArgumentException.class, () -> c.get("shop", "../etc"));
      assertThrows(IllegalArgumentException.class, () -> c.watch("a/b", "c", v -> {}));
    }
  }

  @Test
  void namespaceWatchSeesNewKeysAndIgnoresDotFiles(@TempDir Path dir) throws Exception {
    TestCache.writeConfig(dir, "ns", "a", 1, "A");
    Files.writeString(dir.resolve("configs/ns/.b.json.tmp-1-1"), "partial");
    Map<String, String> held = new java.util.concurrent.ConcurrentHashMap<>();
    try (ConfigClient c = filesOnly(dir).build();
        WatchHandle w = c.watchNamespace("ns", v -> held.put(v.key(), v.deleted() ? "<deleted>" : v.valueAsString()))) {
      assertTrue(TestCache.waitFor(() -> "A".equals(held.get("a"))));
      TestCache.writeConfig(dir, "ns", "b", 2, "B");
      assertTrue(TestCache.waitFor(() -> "B".equals(held.get("b"))));
      TestCache.deleteConfig(dir, "ns", "a", 3);
      assertTrue(TestCache.waitFor(() -> "<deleted>".equals(held.get("a"))));
      assertEquals(2, held.size());
    }
  }

  @Test
  void subscribesWatchesThroughTheAgentAndUnsubscribesOnClose(@TempDir Path dir) throws Exception {
    try (FakeAgent agent = new FakeAgent()) {
      List<ConfigValue> seen = new CopyOnWriteArrayList<>();
      ConfigClient c = ConfigClient.builder().cacheDir(dir).agent(agent.address())
          .owner("test-owner").pollInterval(Duration.ofSeconds(30)).watchTimeout(Duration.ofSeconds(1)).build();
      WatchHandle w = c.watch("shop", "db", seen::add);
      assertTrue(TestCache.waitFor(() -> !agent.requests("POST", "/v1/subscriptions").isEmpty()));
      Map<String, Object> sub = Json.parseObject(agent.requests("POST", "/v1/subscriptions").get(0).body());
      assertEquals("test-owner", sub.get("app"));
      assertEquals(List.of(Map.of("namespace", "shop", "key", "db")), sub.get("configs"));
      assertTrue(TestCache.waitFor(() -> !agent.requests("GET", "/v1/watch?").isEmpty()));
      assertTrue(agent.requests("GET", "/v1/watch?").get(0).target().contains("config=shop/db"));
      // A change reported by the watch (no file written: poll interval 30 s).
      CacheKey k = CacheKey.config("shop", "db");
      agent.pushWatchChanges(List.of(Json.parseObject(TestCache.entryJson(k, 11, false, "w11".getBytes(StandardCharsets.UTF_8)))));
      assertTrue(TestCache.waitFor(() -> seen.size() == 1));
      assertEquals("w11", seen.get(0).valueAsString());
      assertTrue(c.agentWatchHealthy());
      // Later calls carry the index and epoch of the answer.
      assertTrue(TestCache.waitFor(() -> agent.requests("GET", "/v1/watch?").stream()
          .anyMatch(r -> r.target().contains("index=2") && r.target().contains("epoch=00000000000000aa"))));
      // A garbled change is not applied; an older one neither.
      String bad = TestCache.entryJson(k, 12, false, "x".getBytes(StandardCharsets.UTF_8)).replace("\"x\"", "\"y\"");
      agent.pushWatchChanges(List.of(Json.parseObject(bad)));
      agent.pushWatchChanges(List.of(Json.parseObject(TestCache.entryJson(k, 10, false, "old".getBytes(StandardCharsets.UTF_8)))));
      agent.pushWatchChanges(List.of(Json.parseObject(TestCache.entryJson(k, 13, false, "w13".getBytes(StandardCharsets.UTF_8)))));
      assertTrue(TestCache.waitFor(() -> seen.size() == 2));
      assertEquals("w13", seen.get(1).valueAsString());
      assertEquals("w13", c.get("shop", "db").orElseThrow().valueAsString());
      // Every request names a local Host.
      for (FakeAgent.Request r : agent.requests()) assertEquals("127.0.0.1:" + agent.port(), r.host());
      w.close();
      assertTrue(TestCache.waitFor(() -> !agent.requests("DELETE", "/v1/subscriptions").isEmpty()));
      Map<String, Object> del = Json.parseObject(agent.requests("DELETE", "/v1/subscriptions").get(0).body());
      assertEquals("test-owner", del.get("app"));
      c.close();
    }
  }

  @Test
  void fallsBackToPollingWhenTheAgentIsDown(@TempDir Path dir) throws Exception {
    int deadPort;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      deadPort = s.getLocalPort();
    }
    List<ConfigValue> seen = new CopyOnWriteArrayList<>();
    try (ConfigClient c = ConfigClient.builder().cacheDir(dir).agent("127.0.0.1:" + deadPort)
            .pollInterval(Duration.ofMillis(20)).build();
        WatchHandle w = c.watch("shop", "db", seen::add)) {
      TestCache.writeConfig(dir, "shop", "db", 1, "one");
      assertTrue(TestCache.waitFor(() -> seen.size() == 1));
      TestCache.writeConfig(dir, "shop", "db", 2, "two");
      assertTrue(TestCache.waitFor(() -> seen.size() == 2));
      assertFalse(c.agentWatchHealthy());
      assertTrue(c.subscribeErrors() > 0);
    }
  }

  @Test
  void directoryWatchSeesNewFilesWithoutPolling(@TempDir Path dir) throws Exception {
    java.nio.file.Files.createDirectories(dir.resolve("configs/ns"));
    List<ConfigValue> seen = new CopyOnWriteArrayList<>();
    try (ConfigClient c = ConfigClient.builder().cacheDir(dir).pollInterval(Duration.ofHours(1)).build();
        WatchHandle w = c.watch("ns", "k", seen::add)) {
      Thread.sleep(200);  // the first poll ran
      TestCache.writeConfig(dir, "ns", "k", 1, "one");
      assertTrue(TestCache.waitFor(() -> seen.size() == 1));
      TestCache.writeConfig(dir, "ns", "k", 2, "two");
      assertTrue(TestCache.waitFor(() -> seen.size() == 2));
    }
    // Without it, a poll interval of an hour sees nothing new.
    List<ConfigValue> none = new CopyOnWriteArrayList<>();
    try (ConfigClient c = ConfigClient.builder().cacheDir(dir).pollInterval(Duration.ofHours(1))
            .watchDirectories(false).build();
        WatchHandle w = c.watch("ns", "k", none::add)) {
      assertTrue(TestCache.waitFor(() -> none.size() == 1));
      TestCache.writeConfig(dir, "ns", "k", 3, "three");
      Thread.sleep(500);
      assertEquals(1, none.size());
    }
  }

  @Test
  void aThrowingCallbackDoesNotStopTheOthers(@TempDir Path dir) throws Exception {
    TestCache.writeConfig(dir, "ns", "k", 1, "one");
    List<Long> seen = new CopyOnWriteArrayList<>();
    try (ConfigClient c = filesOnly(dir).build();
        WatchHandle bad = c.watch("ns", "k", v -> {
          throw new IllegalStateException("application bug");
        });
        WatchHandle good = c.watch("ns", "k", v -> seen.add(v.revision()))) {
      assertTrue(TestCache.waitFor(() -> seen.size() == 1));
      TestCache.writeConfig(dir, "ns", "k", 2, "two");
      assertTrue(TestCache.waitFor(() -> seen.size() == 2));
    }
  }

  @Test
  void addingAWatchInterruptsTheWaitingAgentCall(@TempDir Path dir) throws Exception {
    try (FakeAgent agent = new FakeAgent();
        ConfigClient c = ConfigClient.builder().cacheDir(dir).agent(agent.address())
            .pollInterval(Duration.ofHours(1)).watchTimeout(Duration.ofSeconds(30)).build();
        WatchHandle a = c.watch("ns", "a", v -> {})) {
      assertTrue(TestCache.waitFor(() -> !agent.requests("GET", "/v1/watch?config=ns/a").isEmpty()));
      List<ConfigValue> seen = new CopyOnWriteArrayList<>();
      try (WatchHandle b = c.watchNamespace("other", seen::add)) {
        // A new call names both; the fake answers a call after at most 2 s,
        // so only an interrupted call gets here within 1.5 s.
        long start = System.nanoTime();
        assertTrue(TestCache.waitFor(() -> agent.requests("GET", "/v1/watch?").stream()
            .anyMatch(r -> r.target().contains("namespace=other"))));
        assertTrue(System.nanoTime() - start < 1_500_000_000L);
        // A key of the namespace that only the agent's watch reports (after
        // the fake's handler of the interrupted call gave up: it would take
        // the change and answer a closed connection).
        Thread.sleep(2100);
        CacheKey k = CacheKey.config("other", "new-key");
        agent.pushWatchChanges(List.of(Json.parseObject(
            TestCache.entryJson(k, 5, false, "n".getBytes(StandardCharsets.UTF_8)))));
        assertTrue(TestCache.waitFor(() -> seen.size() == 1));
        assertEquals("new-key", seen.get(0).key());
      }
    }
  }

  @Test
  void closingAWatchFromItsCallbackWorks(@TempDir Path dir) throws Exception {
    TestCache.writeConfig(dir, "a", "b", 1, "x");
    try (ConfigClient c = filesOnly(dir).build()) {
      WatchHandle[] h = new WatchHandle[1];
      List<Long> seen = new CopyOnWriteArrayList<>();
      synchronized (h) {
        h[0] = c.watch("a", "b", v -> {
          seen.add(v.revision());
          synchronized (h) {
            h[0].close();
          }
        });
      }
      assertTrue(TestCache.waitFor(() -> seen.size() == 1));
      TestCache.writeConfig(dir, "a", "b", 2, "y");
      c.pollNow();
      Thread.sleep(100);
      assertEquals(List.of(1L), seen);
    }
  }
}
