package kess;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BalancerTest {
  private static RouteInstance in(String id, String dc, int weight, InstanceState state) {
    return new RouteInstance(id, "h-" + id, "127.0.0.1:1000", dc, weight, state, "up", Map.of(), 0, "", "");
  }

  private static RouteSnapshot snapshot(RouteInstance... instances) {
    return RouteSnapshot.build(new RouteTable("svc", 1, List.of(instances)));
  }

  private static final LoadBalancers.Options OPTS = new LoadBalancers.Options("dc1", 1, "weighted_random");

  @Test
  void stableHashIsTheCppOne() {
    // FNV-1a-64 of "" is the offset basis (the C++ constant); then
    // splitmix64's finalizer.
    long h = 1469598103934665603L;
    h ^= h >>> 30;
    h *= 0xbf58476d1ce4e5b9L;
    h ^= h >>> 27;
    h *= 0x94d049bb133111ebL;
    h ^= h >>> 31;
    assertEquals(h, StableHash.of(""));
    assertEquals(0x552d3fb62b3c344fL, h);
    assertNotEquals(StableHash.of("a"), StableHash.of("b"));
  }

  @Test
  void negLog2IsAccurate() {
    FastRandom r = new FastRandom(7);
    for (int i = 0; i < 10000; i++) {
      long h = r.next();
      double u = ((double) (h >>> 11) + 0.5) * 0x1.0p-53;
      assertEquals(-Math.log(u) / Math.log(2), HrwBalancer.negLog2(h), 1e-9);
    }
  }

  @Test
  void weightedRandomFollowsTheWeights() {
    RouteSnapshot s = snapshot(in("a", "dc1", 1, InstanceState.HEALTHY),
        in("b", "dc1", 10, InstanceState.HEALTHY), in("c", "dc1", 89, InstanceState.HEALTHY));
    LoadBalancer wr = LoadBalancers.create("weighted_random", OPTS);
    FastRandom r = new FastRandom(12345);
    Map<String, Integer> counts = new HashMap<>();
    int n = 200_000;
    for (int i = 0; i < n; i++) {
      counts.merge(LoadBalancers.selectInstance(wr, s, null, "", 0, r).id(), 1, Integer::sum);
    }
    // 6 sigma of a binomial.
    double[] p = {0.01, 0.10, 0.89};
    String[] ids = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
      double sigma = Math.sqrt(n * p[i] * (1 - p[i]));
      assertEquals(n * p[i], counts.getOrDefault(ids[i], 0), 6 * sigma, ids[i]);
    }
  }

  @Test
  void hrwIsStableAndMovesOnlyTheNewInstancesKeys() {
    List<RouteInstance> twenty = new ArrayList<>();
    for (int i = 0; i < 20; i++) twenty.add(in("i" + i, "dc1", 100, InstanceState.HEALTHY));
    RouteSnapshot before = RouteSnapshot.build(new RouteTable("svc", 1, twenty));
    List<RouteInstance> more = new ArrayList<>(twenty);
    more.add(in("new", "dc1", 100, InstanceState.HEALTHY));
    RouteSnapshot after = RouteSnapshot.build(new RouteTable("svc", 2, more));
    LoadBalancer hrw = LoadBalancers.create("hrw", OPTS);
    int moved = 0;
    int n = 20000;
    for (int k = 0; k < n; k++) {
      String key = "user-" + k;
      String a = LoadBalancers.selectInstance(hrw, before, null, key, 0, null).id();
      assertEquals(a, LoadBalancers.selectInstance(hrw, before, null, key, 0, null).id());
      String b = LoadBalancers.selectInstance(hrw, after, null, key, 0, null).id();
      if (!a.equals(b)) {
        moved++;
        assertEquals("new", b);
      }
    }
    assertEquals(n / 21.0, moved, 6 * Math.sqrt(n / 21.0));
  }

  @Test
  void hrwWeightedPathAgreesWithTheDefinition() {
    // Mixed weights take the bounded path; it must equal a plain argmin.
    List<RouteInstance> list = new ArrayList<>();
    for (int i = 0; i < 30; i++) list.add(in("w" + i, "dc1", 1 + i * 300, InstanceState.HEALTHY));
    RouteSnapshot s = RouteSnapshot.build(new RouteTable("svc", 1, list));
    LoadBalancer hrw = LoadBalancers.create("hrw", OPTS);
    for (int k = 0; k < 2000; k++) {
      String key = "k" + k;
      long kh = StableHash.of(key);
      String best = null;
      double bestScore = Double.POSITIVE_INFINITY;
      for (RouteInstance i : s.table().instances()) {
        double score = HrwBalancer.negLog2(StableHash.pair(kh, StableHash.of(i.id()))) / i.weight();
        if (score < bestScore) {
          bestScore = score;
          best = i.id();
        }
      }
      assertEquals(best, LoadBalancers.selectInstance(hrw, s, null, key, 0, null).id());
    }
  }

  @Test
  void hrwPruningNeverChangesThePickOnALargeTable() {
    // 1,000 members of weights 50..200: the bound skips the logarithm for
    // almost all of them. The pick must be the plain argmin of
    // NegLog2(h) * (1.0 / w) (the C++ formula), ties to the smaller id.
    List<RouteInstance> list = new ArrayList<>();
    for (int i = 0; i < 1000; i++) {
      list.add(in(String.format("m%04d", i), "dc1", 50 + (i % 4) * 50, InstanceState.HEALTHY));
    }
    RouteSnapshot s = RouteSnapshot.build(new RouteTable("svc", 1, list));
    LoadBalancer hrw = LoadBalancers.create("hrw", OPTS);
    List<RouteInstance> sorted = s.table().instances();
    for (int k = 0; k < 3000; k++) {
      String key = "user-" + k;
      long kh = StableHash.of(key);
      String best = null;
      double bestScore = Double.POSITIVE_INFINITY;
      for (RouteInstance i : sorted) {
        double score = HrwBalancer.negLog2(StableHash.pair(kh, StableHash.of(i.id()))) * (1.0 / i.weight());
        if (score < bestScore) {
          bestScore = score;
          best = i.id();
        }
      }
      assertEquals(best, LoadBalancers.selectInstance(hrw, s, null, key, 0, null).id(), key);
    }
  }

  @Test
  void tiersHealthyThenSuspectNeverDisabled() {
    LoadBalancer wr = LoadBalancers.create("weighted_random", OPTS);
    RouteSnapshot mixed = snapshot(in("h", "dc1", 1, InstanceState.HEALTHY),
        in("s", "dc1", 10000, InstanceState.SUSPECT), in("d", "dc1", 10000, InstanceState.DISABLED));
    for (int i = 0; i < 1000; i++) {
      assertEquals("h", LoadBalancers.selectInstance(wr, mixed, null, "", 0, null).id());
    }
    RouteSnapshot noHealthy = snapshot(in("s", "dc1", 1, InstanceState.SUSPECT),
        in("d", "dc1", 10000, InstanceState.DISABLED));
    for (int i = 0; i < 1000; i++) {
      assertEquals("s", LoadBalancers.selectInstance(wr, noHealthy, null, "", 0, null).id());
    }
    assertNull(LoadBalancers.selectInstance(wr, snapshot(in("d", "dc1", 1, InstanceState.DISABLED)), null, "", 0, null));
    assertNull(LoadBalancers.selectInstance(wr, snapshot(), null, "", 0, null));
  }

  @Test
  void localFirstFallsOverBelowTheMinimum() {
    RouteSnapshot s = snapshot(in("a1", "dc1", 100, InstanceState.HEALTHY),
        in("a2", "dc1", 100, InstanceState.HEALTHY), in("b1", "dc2", 100, InstanceState.HEALTHY));
    LoadBalancer two = LoadBalancers.create("local_first", new LoadBalancers.Options("dc1", 2, "weighted_random"));
    LoadBalancer three = LoadBalancers.create("local_first", new LoadBalancers.Options("dc1", 3, "weighted_random"));
    boolean sawRemote = false;
    for (int i = 0; i < 2000; i++) {
      assertTrue(LoadBalancers.selectInstance(two, s, null, "", 0, null).datacenter().equals("dc1"));
      sawRemote |= LoadBalancers.selectInstance(three, s, null, "", 0, null).datacenter().equals("dc2");
    }
    assertTrue(sawRemote);
    // An ejected local instance does not count as available.
    FailureTracker t = new FailureTracker(FailureTracker.Options.defaults());
    t.reportFailure("a1", 1000);
    Availability av = t.build(s, 1000);
    boolean remote = false;
    for (int i = 0; i < 2000; i++) {
      RouteInstance p = LoadBalancers.selectInstance(two, s, av, "", 1500, null);
      assertNotEquals("a1", p.id());
      remote |= p.datacenter().equals("dc2");
    }
    assertTrue(remote);
    assertThrows(IllegalArgumentException.class,
        () -> LoadBalancers.create("local_first", new LoadBalancers.Options("dc1", 1, "local_first")));
    assertThrows(IllegalArgumentException.class, () -> LoadBalancers.create("nope", OPTS));
  }

  @Test
  void everyoneEjectedPicksTheLeastRecentlyEjected() {
    RouteSnapshot s = snapshot(in("a", "dc1", 100, InstanceState.HEALTHY), in("b", "dc1", 100, InstanceState.HEALTHY),
        in("s", "dc1", 100, InstanceState.SUSPECT));
    FailureTracker t = new FailureTracker(FailureTracker.Options.defaults());
    t.reportFailure("b", 1000);
    t.reportFailure("a", 1100);
    t.reportFailure("s", 900);
    Availability av = t.build(s, 1200);
    LoadBalancer wr = LoadBalancers.create("weighted_random", OPTS);
    assertEquals("b", LoadBalancers.selectInstance(wr, s, av, "", 1200, null).id());
    // Once a's and b's ejections end (1 s), they are picked again.
    assertTrue(LoadBalancers.selectInstance(wr, s, av, "", 2200, null).state() == InstanceState.HEALTHY);
  }

  @Test
  void registryTakesCustomStrategies() {
    LoadBalancers.register("first_member_test", o -> (snap, ctx) -> snap.instance(ctx.group().member(0)));
    assertThrows(IllegalArgumentException.class, () -> LoadBalancers.register("hrw", o -> null));
    RouteSnapshot s = snapshot(in("x", "dc1", 1, InstanceState.HEALTHY), in("y", "dc1", 1, InstanceState.HEALTHY));
    assertEquals("x", LoadBalancers.selectInstance(LoadBalancers.create("first_member_test", OPTS), s, null, "", 0, null).id());
    assertTrue(LoadBalancers.names().contains("first_member_test"));
  }

  @Test
  void failureTrackerBacksOffRampsAndForgets() {
    FailureTracker.Options o = FailureTracker.Options.defaults();
    FailureTracker t = new FailureTracker(o);
    RouteSnapshot s = snapshot(in("a", "dc1", 100, InstanceState.HEALTHY));
    assertTrue(t.reportFailure("a", 0));
    Availability av = t.build(s, 0);
    assertEquals(0.0, av.factor(0, 999));
    assertEquals(0.1, av.factor(0, 1000), 1e-12);
    assertEquals(0.55, av.factor(0, 1500), 1e-12);
    assertEquals(1.0, av.factor(0, 2000));
    assertTrue(av.activeAt(1999));
    assertTrue(!av.activeAt(2000));
    // Failures while ejected are ignored.
    assertTrue(!t.reportFailure("a", 500));
    assertEquals(1, t.failures("a"));
    // The second failure in a row ejects for 2 s, the sixth for 30 s at most.
    assertTrue(t.reportFailure("a", 1000));
    assertEquals(0.0, t.build(s, 2999).factor(0, 2999));
    assertEquals(0.1, t.build(s, 3000).factor(0, 3000), 1e-12);
    long now = 3000;
    for (int k = 3; k <= 7; k++) {
      t.reportFailure("a", now);
      now += Math.min(1000L << (k - 1), 30_000);
    }
    assertEquals(7, t.failures("a"));
    Availability last = t.build(s, now - 1);
    assertEquals(0.0, last.factor(0, now - 1));
    assertEquals(0.1, last.factor(0, now), 1e-12);
    // Three successes forget everything.
    assertTrue(!t.reportSuccess("a", now));
    assertTrue(!t.reportSuccess("a", now));
    assertTrue(t.reportSuccess("a", now));
    assertEquals(0, t.failures("a"));
    assertNull(t.build(s, now));
    // A quiet minute after the recovery forgets too: the next ejection is 1 s.
    t.reportFailure("a", 100_000);
    t.reportFailure("a", 101_000);  // 2 s: recovered at 105 s
    assertEquals(2, t.failures("a"));
    assertTrue(t.reportFailure("a", 165_000));
    assertEquals(1, t.failures("a"));
    assertEquals(0.1, t.build(s, 166_000).factor(0, 166_000), 1e-12);
    assertThrows(IllegalArgumentException.class,
        () -> new FailureTracker.Options(Duration.ZERO, Duration.ofSeconds(1), 0.1, 3, Duration.ofSeconds(1)));
  }
}
