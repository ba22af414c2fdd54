package kess;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Runs the shared conformance vectors (clients/conformance/README.md) against
 * this client: every file of vectors/MANIFEST that a runner reads.
 * The vectors' directory comes from -Dkess.conformance.dir (run_tests.sh).
 */
class ConformanceTest {
  private static final Path DIR = Path.of(System.getProperty("kess.conformance.dir",
      "../conformance/vectors"));
  private static final double TOLERANCE = 1e-9;

  @SuppressWarnings("unchecked")
  private static Map<String, Object> load(String name) throws IOException {
    Path p = DIR.resolve(name);
    assertTrue(Files.exists(p), "conformance vector " + p + " is missing");
    return (Map<String, Object>) Json.parse(Files.readString(p));
  }

  @SuppressWarnings("unchecked")
  private static List<Map<String, Object>> list(Map<String, Object> o, String field) {
    Object v = o.get(field);
    return v == null ? List.of() : (List<Map<String, Object>>) v;
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> obj(Map<String, Object> o, String field) {
    return (Map<String, Object>) o.get(field);
  }

  @SuppressWarnings("unchecked")
  private static List<String> strings(Object v) {
    return v == null ? List.of() : (List<String>) v;
  }

  private static long hex(Object s) {
    return Long.parseUnsignedLong((String) s, 16);
  }

  private static long num(Object v) {
    return ((Number) v).longValue();
  }

  private static double dbl(Object v) {
    return ((Number) v).doubleValue();
  }

  // ---- hashes.json ----

  @Test
  void hashes() throws IOException {
    Map<String, Object> h = load("hashes.json");
    for (Map<String, Object> c : list(h, "stable_hash")) {
      byte[] input = Base64.getDecoder().decode((String) c.get("input_b64"));
      assertEquals(hex(c.get("stable_hash")), StableHash.of(input), (String) c.get("input_b64"));
    }
    for (Map<String, Object> c : list(h, "hash_pair")) {
      long kh = StableHash.of((String) c.get("key"));
      long ih = StableHash.of((String) c.get("id"));
      assertEquals(hex(c.get("key_hash")), kh);
      assertEquals(hex(c.get("id_hash")), ih);
      long pair = StableHash.pair(kh, ih);
      assertEquals(hex(c.get("pair")), pair);
      assertEquals(dbl(c.get("neg_log2")), HrwBalancer.negLog2(pair), TOLERANCE);
    }
    for (Map<String, Object> c : list(h, "neg_log2")) {
      assertEquals(dbl(c.get("neg_log2")), HrwBalancer.negLog2(hex(c.get("h"))), TOLERANCE, (String) c.get("h"));
    }
    for (Map<String, Object> c : list(h, "fast_random")) {
      FastRandom r = new FastRandom(hex(c.get("seed")));
      for (String next : strings(c.get("next"))) assertEquals(hex(next), r.next());
      @SuppressWarnings("unchecked")
      List<Number> units = (List<Number>) c.get("then_unit_double");
      for (Number u : units) assertEquals(u.doubleValue(), r.unitDouble(), TOLERANCE);
    }
    for (Map<String, Object> c : list(h, "alias_tables")) {
      @SuppressWarnings("unchecked")
      List<Number> weights = (List<Number>) c.get("weights");
      List<RouteInstance> instances = new ArrayList<>();
      for (int i = 0; i < weights.size(); i++) {
        instances.add(new RouteInstance(String.format("i%05d", i), "h", "127.0.0.1:1", "dc1",
            weights.get(i).intValue(), InstanceState.HEALTHY, "up", Map.of(), 0, "", ""));
      }
      RouteSnapshot.Group g = RouteSnapshot.build(new RouteTable("svc", 1, instances))
          .groups(InstanceState.HEALTHY).all();
      @SuppressWarnings("unchecked")
      List<Number> threshold = (List<Number>) c.get("threshold");
      @SuppressWarnings("unchecked")
      List<Number> alias = (List<Number>) c.get("alias");
      for (int i = 0; i < weights.size(); i++) {
        assertEquals(threshold.get(i).longValue(), g.threshold[i], "threshold " + i + " of " + weights);
        assertEquals(alias.get(i).intValue(), g.alias[i], "alias " + i + " of " + weights);
      }
      FastRandom r = new FastRandom(0x000000006b657373L);
      @SuppressWarnings("unchecked")
      List<Number> draws = (List<Number>) c.get("draws_seeded");
      for (Number d : draws) assertEquals(d.intValue(), g.draw(r.next()));
    }
  }

  // ---- pick scenarios ----

  private static RouteSnapshot table(String service) throws IOException {
    CacheEntry e = CacheEntry.read(DIR.resolve("cache"), CacheKey.route(service));
    RouteTable t = e.absent() ? new RouteTable(service, e.revision(), List.of()) : RouteTable.parse(e.value());
    return RouteSnapshot.build(t);
  }

  private static LoadBalancers.Options balancerOptions(Map<String, Object> policy) {
    String dc = (String) policy.getOrDefault("local_datacenter", "");
    int min = policy.containsKey("min_local_healthy") ? (int) num(policy.get("min_local_healthy")) : 1;
    String inner = (String) policy.getOrDefault("inner", "weighted_random");
    return new LoadBalancers.Options(dc, min, inner);
  }

  private static FailureTracker.Options trackerOptions(Map<String, Object> o) {
    return new FailureTracker.Options(Duration.ofMillis(num(o.get("initial_ejection_ms"))),
        Duration.ofMillis(num(o.get("max_ejection_ms"))), dbl(o.get("recovering_weight")),
        (int) num(o.get("successes_to_reset")), Duration.ofMillis(num(o.get("forget_after_ms"))));
  }

  private static boolean usesHrw(Map<String, Object> policy) {
    return "hrw".equals(policy.get("name")) || "hrw".equals(policy.get("inner"));
  }

  /** Checks one `expect` (3.2) or failover `check` (3.3) against the picking core. */
  private static void checkExpect(String name, Map<String, Object> expect, RouteSnapshot snap,
      Map<String, Object> policy, Availability av, long now, List<String> keys) {
    LoadBalancer balancer = LoadBalancers.create((String) policy.get("name"), balancerOptions(policy));
    String tier = (String) expect.get("tier");
    List<Map<String, Object>> eligible = list(expect, "eligible");
    Map<String, Double> shares = new TreeMap<>();
    for (Map<String, Object> e : eligible) shares.put((String) e.get("id"), dbl(e.get("share")));
    boolean hrw = usesHrw(policy);
    String probeKey = hrw && !keys.isEmpty() ? keys.get(0) : "";

    if (tier.equals("none")) {
      assertNull(LoadBalancers.selectInstance(balancer, snap, av, probeKey, now, new FastRandom(1)), name);
      return;
    }
    RouteInstance probe = LoadBalancers.selectInstance(balancer, snap, av, probeKey, now, new FastRandom(1));
    assertNotNull(probe, name);
    if (tier.equals("last_resort")) {
      assertEquals(1, eligible.size(), name);
      for (int i = 0; i < 100; i++) {
        String k = hrw && !keys.isEmpty() ? keys.get(i % keys.size()) : "";
        assertEquals(eligible.get(0).get("id"),
            LoadBalancers.selectInstance(balancer, snap, av, k, now, new FastRandom(i)).id(), name);
      }
    } else {
      assertEquals(tier, probe.state().wireName(), name + ": tier");
    }
    if (expect.containsKey("factors")) {
      @SuppressWarnings("unchecked")
      Map<String, Object> factors = (Map<String, Object>) expect.get("factors");
      Map<String, Double> actual = new TreeMap<>();
      for (int i = 0; i < snap.size(); i++) {
        double f = av == null ? 1.0 : av.factor(i, now);
        if (Math.abs(f - 1.0) > TOLERANCE) actual.put(snap.instance(i).id(), f);
      }
      assertEquals(new TreeMap<>(factors).keySet(), actual.keySet(), name + ": factors");
      for (Map.Entry<String, Object> f : factors.entrySet()) {
        assertEquals(dbl(f.getValue()), actual.get(f.getKey()), TOLERANCE, name + ": factor of " + f.getKey());
      }
    }
    if (hrw) {
      List<String> picks = strings(expect.get("hrw_picks"));
      assertEquals(keys.size(), picks.size(), name);
      for (int i = 0; i < keys.size(); i++) {
        RouteInstance p = LoadBalancers.selectInstance(balancer, snap, av, keys.get(i), now, null);
        assertEquals(picks.get(i), p.id(), name + ": key " + keys.get(i));
        assertTrue(shares.containsKey(p.id()), name + ": " + p.id() + " is not eligible");
      }
      return;
    }
    // weighted_random: the seeded sequence, then the empirical shares.
    if (expect.containsKey("random_sequence")) {
      Map<String, Object> seq = obj(expect, "random_sequence");
      FastRandom r = new FastRandom(hex(seq.get("seed")));
      List<String> picks = strings(seq.get("picks"));
      for (int i = 0; i < picks.size(); i++) {
        assertEquals(picks.get(i), LoadBalancers.selectInstance(balancer, snap, av, "", now, r).id(),
            name + ": random_sequence[" + i + "]");
      }
    }
    int draws = EMPIRICAL_DRAWS;
    Map<String, Integer> counts = new HashMap<>();
    FastRandom r = new FastRandom(0x5eed);
    for (int i = 0; i < draws; i++) {
      String id = LoadBalancers.selectInstance(balancer, snap, av, "", now, r).id();
      assertTrue(shares.containsKey(id), name + ": picked " + id + ", not eligible");
      counts.merge(id, 1, Integer::sum);
    }
    for (Map.Entry<String, Double> e : shares.entrySet()) {
      double p = e.getValue();
      double o = counts.getOrDefault(e.getKey(), 0) / (double) draws;
      double bound = SIGMAS * Math.sqrt(p * (1 - p) / draws) + 1.0 / draws;
      assertTrue(Math.abs(o - p) <= bound, name + ": share of " + e.getKey() + " is " + o + ", expected " + p);
    }
  }

  private static int EMPIRICAL_DRAWS = 100000;
  private static double SIGMAS = 6.0;

  private static Stream<DynamicTest> scenarios(String file) throws IOException {
    Map<String, Object> doc = load(file);
    Map<String, Object> empirical = obj(doc, "empirical");
    if (empirical != null) {
      EMPIRICAL_DRAWS = (int) num(empirical.get("draws"));
      SIGMAS = dbl(empirical.get("sigmas"));
    }
    List<Map<String, Object>> scenarios = list(doc, "scenarios");
    assertFalse(scenarios.isEmpty(), file + " has no scenarios");
    return scenarios.stream().map(s -> DynamicTest.dynamicTest((String) s.get("name"), () -> runScenario(s)));
  }

  private static void runScenario(Map<String, Object> s) throws IOException {
    String name = (String) s.get("name");
    String service = (String) s.get("service");
    RouteSnapshot snap = table(service);
    Map<String, Object> policy = obj(s, "policy");
    List<String> keys = strings(s.get("keys"));
    Map<String, Object> failover = obj(s, "failover");
    Availability av = null;
    long now = 0;
    if (failover != null) {
      FailureTracker t = new FailureTracker(trackerOptions(obj(failover, "options")));
      for (Map<String, Object> r : list(failover, "reports")) {
        if (r.get("result").equals("failure")) {
          t.reportFailure((String) r.get("id"), num(r.get("t_ms")));
        } else {
          t.reportSuccess((String) r.get("id"), num(r.get("t_ms")));
        }
      }
      now = num(failover.get("now_ms"));
      av = t.build(snap, now);
    }
    checkExpect(name, obj(s, "expect"), snap, policy, av, now, keys);
    // The same HRW picks through the whole client (Discovery on the cache dir).
    if (usesHrw(policy) && !"none".equals(obj(s, "expect").get("tier"))) {
      AtomicLong clock = new AtomicLong(0);
      Discovery.Builder b = Discovery.builder().cacheDir(DIR.resolve("cache")).clock(clock::get)
          .pollInterval(Duration.ofHours(1));
      LoadBalancers.Options o = balancerOptions(policy);
      if (!o.localDatacenter().isEmpty()) b.localDatacenter(o.localDatacenter());
      b.minLocalHealthy(o.minLocalHealthy()).localFirstInner(o.localFirstInner());
      if (failover != null) b.failover(trackerOptions(obj(failover, "options")));
      try (Discovery d = b.build()) {
        if (failover != null) {
          for (Map<String, Object> r : list(failover, "reports")) {
            clock.set(num(r.get("t_ms")));
            if (r.get("result").equals("failure")) {
              d.reportFailure(service, (String) r.get("id"));
            } else {
              d.reportSuccess(service, (String) r.get("id"));
            }
          }
          clock.set(num(failover.get("now_ms")));
        }
        LoadBalancer lb = d.balancer((String) policy.get("name"));
        List<String> picks = strings(obj(s, "expect").get("hrw_picks"));
        for (int i = 0; i < keys.size(); i++) {
          Optional<RouteInstance> p = d.select(service, keys.get(i), lb);
          assertEquals(picks.get(i), p.orElseThrow().id(), name + " (Discovery): key " + keys.get(i));
        }
      }
    }
  }

  @TestFactory
  Stream<DynamicTest> hrwScenarios() throws IOException {
    return scenarios("hrw.json");
  }

  @TestFactory
  Stream<DynamicTest> weightedRandomScenarios() throws IOException {
    return scenarios("weighted_random.json");
  }

  @TestFactory
  Stream<DynamicTest> localFirstScenarios() throws IOException {
    return scenarios("local_first.json");
  }

  @TestFactory
  Stream<DynamicTest> tierScenarios() throws IOException {
    return scenarios("tiers.json");
  }

  // ---- failover.json ----

  @TestFactory
  Stream<DynamicTest> failoverSequences() throws IOException {
    Map<String, Object> doc = load("failover.json");
    return list(doc, "sequences").stream().map(seq -> DynamicTest.dynamicTest((String) seq.get("name"), () -> {
      String name = (String) seq.get("name");
      RouteSnapshot snap = table((String) seq.get("service"));
      Map<String, Object> policy = obj(seq, "policy");
      FailureTracker t = new FailureTracker(trackerOptions(obj(seq, "options")));
      List<String> keys = strings(seq.get("keys"));
      List<String> reported = new ArrayList<>();
      int step = 0;
      for (Map<String, Object> st : list(seq, "steps")) {
        String at = name + " step " + step++;
        long now = num(st.get("t_ms"));
        if (st.containsKey("report")) {
          String id = (String) st.get("id");
          if (!reported.contains(id)) reported.add(id);
          boolean changed = st.get("report").equals("failure") ? t.reportFailure(id, now) : t.reportSuccess(id, now);
          assertEquals(st.get("changed"), changed, at + ": changed");
          continue;
        }
        Map<String, Object> check = obj(st, "check");
        Availability av = t.build(snap, now);
        checkExpect(at, check, snap, policy, av, now, keys);
        @SuppressWarnings("unchecked")
        Map<String, Object> failures = (Map<String, Object>) check.get("failures");
        if (failures != null) {
          Map<String, Long> actual = new TreeMap<>();
          for (String id : reported) {
            if (t.failures(id) > 0) actual.put(id, (long) t.failures(id));
          }
          Map<String, Long> expected = new TreeMap<>();
          for (Map.Entry<String, Object> f : failures.entrySet()) expected.put(f.getKey(), num(f.getValue()));
          assertEquals(expected, actual, at + ": failures");
        }
      }
    }));
  }

  // ---- config_files.json ----

  /** A sequence step's file put at the key's path, or that file removed where it is null. */
  private static void placeStep(Path cacheDir, CacheKey key, Map<String, Object> step)
      throws IOException {
    Object file = step.get("file");
    if (file == null) {
      Files.deleteIfExists(cacheDir.resolve(key.relativePath()));
    } else {
      put(cacheDir, key, DIR.resolve((String) file));
    }
  }

  /** The revisions a sequence step says a watcher is told about. */
  private static List<Long> deliveredRevisions(Map<String, Object> step) {
    List<Long> expected = new ArrayList<>();
    @SuppressWarnings("unchecked")
    List<Number> want = (List<Number>) step.get("delivered");
    for (Number n : want) expected.add(n.longValue());
    return expected;
  }

  private static void put(Path cacheDir, CacheKey key, Path source) throws IOException {
    Path dest = cacheDir.resolve(key.relativePath());
    Files.createDirectories(dest.getParent());
    Path tmp = dest.getParent().resolve("." + dest.getFileName() + ".tmp-" + System.nanoTime());
    Files.copy(source, tmp);
    Files.move(tmp, dest, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  private static void checkValue(String at, Map<String, Object> expect, ConfigValue v) {
    String outcome = (String) expect.get("outcome");
    assertEquals(num(expect.get("revision")), v.revision(), at + ": revision");
    if (outcome.equals("absent")) {
      assertTrue(v.deleted(), at + ": a tombstone");
      return;
    }
    assertFalse(v.deleted(), at);
    assertArrayEquals(Base64.getDecoder().decode((String) expect.get("value_b64")), v.value(), at + ": value");
    if (expect.containsKey("content_type")) assertEquals(expect.get("content_type"), v.contentType(), at);
    if (expect.containsKey("mtime_ms")) assertEquals(num(expect.get("mtime_ms")), v.mtimeMs(), at);
  }

  @TestFactory
  Stream<DynamicTest> configFiles() throws IOException {
    Map<String, Object> doc = load("config_files.json");
    return list(doc, "cases").stream().map(c -> DynamicTest.dynamicTest((String) c.get("name"), () -> {
      String name = (String) c.get("name");
      Path dir = Files.createTempDirectory("kess-conf");
      CacheKey key = CacheKey.config((String) c.get("namespace"), (String) c.get("key"));
      put(dir, key, DIR.resolve((String) c.get("file")));
      Map<String, Object> expect = obj(c, "expect");
      String outcome = (String) expect.get("outcome");
      try (ConfigClient client = ConfigClient.builder().cacheDir(dir).pollInterval(Duration.ofHours(1)).build()) {
        if (outcome.equals("rejected")) {
          FormatException e = assertThrows(FormatException.class, () -> client.version(key.namespace(), key.key()), name);
          assertEquals(expect.get("reason"), e.reason(), name + ": " + e.getMessage());
          FormatException raw = assertThrows(FormatException.class, () -> CacheEntry.read(dir, key), name);
          assertEquals(expect.get("reason"), raw.reason(), name);
        } else {
          checkValue(name, expect, client.version(key.namespace(), key.key()).orElseThrow());
          assertEquals(outcome.equals("absent"), client.get(key.namespace(), key.key()).isEmpty(), name);
        }
      }
    }));
  }

  // ---- config_sequences.json ----

  @TestFactory
  Stream<DynamicTest> configSequences() throws IOException {
    Map<String, Object> doc = load("config_sequences.json");
    return list(doc, "sequences").stream().map(seq -> DynamicTest.dynamicTest((String) seq.get("name"), () -> {
      String name = (String) seq.get("name");
      Path dir = Files.createTempDirectory("kess-seq");
      CacheKey key = CacheKey.config((String) seq.get("namespace"), (String) seq.get("key"));
      List<Long> delivered = new CopyOnWriteArrayList<>();
      // Polling alone: each step is looked at by pollNow() only.
      try (ConfigClient client = ConfigClient.builder().cacheDir(dir).pollInterval(Duration.ofHours(1))
              .watchDirectories(false).build();
          WatchHandle w = client.watch(key.namespace(), key.key(), v -> delivered.add(v.revision()))) {
        client.pollNow();
        int step = 0;
        for (Map<String, Object> st : list(seq, "steps")) {
          String at = name + " step " + step++ + " (" + st.get("description") + ")";
          delivered.clear();
          placeStep(dir, key, st);
          client.pollNow();
          assertEquals(deliveredRevisions(st), new ArrayList<>(delivered), at + ": delivered");
          Map<String, Object> held = obj(st, "held");
          String outcome = (String) held.get("outcome");
          if (outcome.equals("none")) {
            if (held.get("error").equals("not_found")) {
              assertTrue(client.version(key.namespace(), key.key()).isEmpty(), at);
            } else {
              FormatException e = assertThrows(FormatException.class,
                  () -> client.version(key.namespace(), key.key()), at);
              assertEquals(held.get("reason"), e.reason(), at);
            }
          } else {
            checkValue(at, held, client.version(key.namespace(), key.key()).orElseThrow());
          }
        }
      }
    }));
  }

  // ---- route_files.json ----

  @TestFactory
  Stream<DynamicTest> routeFiles() throws IOException {
    Map<String, Object> doc = load("route_files.json");
    return list(doc, "cases").stream().map(c -> DynamicTest.dynamicTest((String) c.get("name"), () -> {
      String name = (String) c.get("name");
      String service = (String) c.get("service");
      Path dir = Files.createTempDirectory("kess-route");
      CacheKey key = CacheKey.route(service);
      put(dir, key, DIR.resolve((String) c.get("file")));
      Map<String, Object> expect = obj(c, "expect");
      try (Discovery d = Discovery.builder().cacheDir(dir).pollInterval(Duration.ofHours(1)).build()) {
        Optional<RouteTable> t = d.table(service);
        if (expect.get("outcome").equals("table")) {
          assertEquals(num(expect.get("revision")), t.orElseThrow().revision(), name);
          List<String> ids = new ArrayList<>();
          for (RouteInstance in : t.get().instances()) ids.add(in.id());
          assertEquals(strings(expect.get("ids")), ids, name);
          return;
        }
        assertTrue(t.isEmpty(), name + ": no table is held");
        // Which check refused it, with the same functions Discovery uses.
        String reason;
        try {
          CacheEntry e = CacheEntry.read(dir, key);
          RouteTable parsed = RouteTable.parse(e.value());
          reason = parsed.service().equals(service) ? "accepted" : "wrong_service";
        } catch (FormatException e) {
          reason = e.reason().equals("invalid_table") ? "invalid_table" : "garbled_file";
        }
        assertEquals(expect.get("reason"), reason, name);
      }
    }));
  }

  // ---- route_sequences.json ----

  @TestFactory
  Stream<DynamicTest> routeSequences() throws IOException {
    Map<String, Object> doc = load("route_sequences.json");
    List<Map<String, Object>> sequences = list(doc, "sequences");
    assertFalse(sequences.isEmpty(), "route_sequences.json has no sequences");
    return sequences.stream().map(seq -> DynamicTest.dynamicTest((String) seq.get("name"), () -> {
      String name = (String) seq.get("name");
      String service = (String) seq.get("service");
      Path dir = Files.createTempDirectory("kess-route-seq");
      CacheKey key = CacheKey.route(service);
      List<Long> delivered = new CopyOnWriteArrayList<>();
      // Polling alone (no directory watch, which would read a new file on
      // the client's thread): each step is looked at by pollNow() only.
      try (Discovery d = Discovery.builder().cacheDir(dir).pollInterval(Duration.ofHours(1))
              .watchDirectories(false).build();
          WatchHandle w = d.watch(service, t -> delivered.add(t.revision()))) {
        d.pollNow();
        int step = 0;
        for (Map<String, Object> st : list(seq, "steps")) {
          String at = name + " step " + step++ + " (" + st.get("description") + ")";
          delivered.clear();
          placeStep(dir, key, st);
          d.pollNow();
          assertEquals(deliveredRevisions(st), new ArrayList<>(delivered), at + ": delivered");
          Map<String, Object> held = obj(st, "held");
          Optional<RouteTable> t = d.table(service);
          Optional<RouteInstance> picked = d.select(service);
          if (held.get("outcome").equals("none")) {
            assertTrue(t.isEmpty(), at + ": no table is held");
            assertTrue(picked.isEmpty(), at + ": nothing to pick");
            continue;
          }
          assertEquals("table", held.get("outcome"), at);
          assertEquals(num(held.get("revision")), t.orElseThrow().revision(), at + ": revision");
          List<String> ids = new ArrayList<>();
          for (RouteInstance in : t.get().instances()) ids.add(in.id());
          assertEquals(strings(held.get("ids")), ids, at + ": ids");
          // select() picks from that same table.
          if (ids.isEmpty()) {
            assertTrue(picked.isEmpty(), at + ": picked from an empty table");
          } else {
            assertTrue(ids.contains(picked.orElseThrow().id()), at + ": picked " + picked.get().id());
          }
        }
      }
    }));
  }

  // ---- tables.json ----

  @TestFactory
  Stream<DynamicTest> tables() throws IOException {
    Map<String, Object> doc = load("tables.json");
    List<Map<String, Object>> tables = list(doc, "tables");
    assertFalse(tables.isEmpty(), "tables.json has no tables");
    return tables.stream().map(c -> DynamicTest.dynamicTest((String) c.get("service"), () -> {
      String service = (String) c.get("service");
      Path cache = DIR.resolve("cache");
      CacheKey key = CacheKey.route(service);
      assertEquals(DIR.resolve((String) c.get("file")), cache.resolve(key.relativePath()), service);
      CacheEntry e = CacheEntry.read(cache, key);
      assertEquals(num(c.get("revision")), e.revision(), service);
      assertEquals(c.get("tombstone"), e.absent(), service + ": tombstone");
      try (Discovery d = Discovery.builder().cacheDir(cache).pollInterval(Duration.ofHours(1)).build()) {
        RouteTable t = d.table(service).orElseThrow();
        assertEquals(service, t.service());
        assertEquals(num(c.get("revision")), t.revision(), service);
        assertEquals(num(c.get("instances")), t.instances().size(), service + ": instances");
        for (int i = 1; i < t.instances().size(); i++) {
          assertTrue(t.instances().get(i - 1).id().compareTo(t.instances().get(i).id()) < 0, service + ": id order");
        }
      }
    }));
  }

  /**
   * The index files of clients/conformance/README.md section 3 that this
   * class runs (the files under cache/, configs/, config_sequences/,
   * route_files/ and route_sequences/ are read through them).
   */
  private static final List<String> RUN_FILES = List.of("config_files.json", "config_sequences.json",
      "failover.json", "hashes.json", "hrw.json", "local_first.json", "route_files.json",
      "route_sequences.json", "tables.json", "tiers.json", "weighted_random.json");

  /** A vector file added to MANIFEST fails here until this class runs it. */
  @Test
  void runsEveryVectorFile() throws IOException {
    List<String> top = new ArrayList<>();
    for (String line : Files.readAllLines(DIR.resolve("MANIFEST"))) {
      String f = line.trim();
      if (!f.isEmpty() && !f.contains("/")) top.add(f);
    }
    top.sort(null);
    assertEquals(RUN_FILES, top);
  }

  @Test
  void everyManifestFileExists() throws IOException {
    for (String line : Files.readAllLines(DIR.resolve("MANIFEST"))) {
      if (line.isBlank()) continue;
      if (!Files.exists(DIR.resolve(line.trim()))) fail("missing vector file " + line);
    }
  }
}
