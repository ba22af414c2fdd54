package kess;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DiscoveryTest {
  @Test
  void picksFromTheCacheAndKeepsTheLastGoodTable(@TempDir Path dir) throws Exception {
    TestCache.writeTable(dir, "pay", 10, List.of(
        TestCache.instance("p1", "dc1", 100, "healthy"),
        TestCache.instance("p2", "dc2", 100, "healthy"),
        TestCache.instance("p3", "dc1", 100, "disabled")));
    try (Discovery d = Discovery.builder().cacheDir(dir).localDatacenter("dc1").balancer("local_first")
        .pollInterval(Duration.ofMillis(20)).build()) {
      for (int i = 0; i < 200; i++) assertEquals("p1", d.select("pay").orElseThrow().id());
      assertEquals(10, d.table("pay").orElseThrow().revision());
      // Another service's table, garbage, an invalid table: kept.
      TestCache.writeTable(dir, "pay", 11, List.of());
      d.pollNow();
      CacheKey k = CacheKey.route("pay");
      TestCache.writeRaw(dir, k, TestCache.entryJson(k, 12, false,
          TestCache.tableJson("other", 12, List.of()).getBytes()));
      d.pollNow();
      assertEquals(11, d.table("pay").orElseThrow().revision());  // the empty table is valid
      TestCache.writeRaw(dir, k, TestCache.entryJson(k, 13, false, "{\"format\":1}".getBytes()));
      d.pollNow();
      assertEquals(11, d.table("pay").orElseThrow().revision());
      assertTrue(d.readErrors() >= 2);
      TestCache.writeTable(dir, "pay", 14, List.of(TestCache.instance("p9", "dc2", 5, "suspect")));
      d.pollNow();
      assertEquals("p9", d.select("pay").orElseThrow().id());  // suspect, remote: the only one
      // A tombstone: no instances.
      TestCache.writeRaw(dir, k, TestCache.entryJson(k, 15, true, new byte[0]));
      d.pollNow();
      assertTrue(d.select("pay").isEmpty());
      assertEquals(0, d.table("pay").orElseThrow().instances().size());
      assertTrue(d.select("missing").isEmpty());
      assertThrows(IllegalArgumentException.class, () -> d.select("../x"));
    }
  }

  @Test
  void failoverEjectsAndBringsBack(@TempDir Path dir) throws Exception {
    TestCache.writeTable(dir, "svc", 1, List.of(
        TestCache.instance("a", "dc1", 100, "healthy"), TestCache.instance("b", "dc1", 100, "healthy")));
    AtomicLong now = new AtomicLong(1_000_000);
    try (Discovery d = Discovery.builder().cacheDir(dir).clock(now::get).build()) {
      d.reportFailure("svc", "a");
      for (int i = 0; i < 300; i++) assertEquals("b", d.select("svc").orElseThrow().id());
      now.addAndGet(100);
      d.reportFailure("svc", "b");  // every one ejected: the least recently ejected
      assertEquals("a", d.select("svc").orElseThrow().id());
      now.addAndGet(900);  // a's ejection is over: it ramps up from 10 %
      int a = 0;
      for (int i = 0; i < 2000; i++) if (d.select("svc").orElseThrow().id().equals("a")) a++;
      assertEquals(2000, a);  // b is still ejected (its ejection began later)
      now.addAndGet(5000);
      d.reportSuccess("svc", "b");
      d.reportSuccess("svc", "b");
      d.reportSuccess("svc", "b");
      assertEquals(0, d.failures("svc", "b"));
      assertEquals(1, d.failures("svc", "a"));
      // HRW through Discovery: the same key, the same instance.
      LoadBalancer hrw = d.balancer("hrw");
      String first = d.select("svc", "user-1", hrw).orElseThrow().id();
      for (int i = 0; i < 50; i++) assertEquals(first, d.select("svc", "user-1", hrw).orElseThrow().id());
    }
  }

  @Test
  void watchSeesEveryNewTable(@TempDir Path dir) throws Exception {
    try (Discovery d = Discovery.builder().cacheDir(dir).pollInterval(Duration.ofMillis(20)).build()) {
      List<Long> revisions = new CopyOnWriteArrayList<>();
      try (WatchHandle w = d.watch("svc", t -> revisions.add(t.revision()))) {
        TestCache.writeTable(dir, "svc", 3, List.of(TestCache.instance("a", "dc1", 1, "healthy")));
        assertTrue(TestCache.waitFor(() -> revisions.contains(3L)));
        TestCache.writeTable(dir, "svc", 4, List.of(TestCache.instance("b", "dc1", 1, "healthy")));
        assertTrue(TestCache.waitFor(() -> revisions.contains(4L)));
        assertTrue(TestCache.waitFor(() -> d.select("svc").map(RouteInstance::id).orElse("").equals("b")));
      }
      assertNotEquals(0, revisions.size());
    }
  }

  @Test
  void badOptionsAreRefused(@TempDir Path dir) {
    assertThrows(IllegalArgumentException.class, () -> Discovery.builder().cacheDir(dir).balancer("local_first").build());
    assertThrows(IllegalArgumentException.class, () -> Discovery.builder().cacheDir(dir).balancer("nope").build());
    assertThrows(IllegalArgumentException.class, () -> Discovery.builder().balancer("hrw").build());
  }
}
