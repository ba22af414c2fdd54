package kess.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import kess.CacheEntry;
import kess.CacheKey;
import kess.Discovery;
import kess.Json;
import kess.LoadBalancer;
import kess.RouteSnapshot;
import kess.RouteTable;

/**
 * What the Java client costs. Prints one JSON line:
 *
 * <pre>
 * {"language":"java","pick_wr_ns":..,"pick_hrw_ns":..,"pick_hrw_weighted_ns":..,
 *  "load_parse_5000_ms":..,"idle_rss_kib":..}
 *
 *   pick_wr_ns            Discovery.select() by weighted random on a table of
 *                         --instances instances, weights 50..200
 *   pick_hrw_ns           Discovery.select() by HRW on a table of --instances
 *                         instances at the default weight, every key new
 *   pick_hrw_weighted_ns  the same on the table with weights 50..200
 *   load_parse_5000_ms    read + verify + parse + build the snapshot of one
 *                         file of --table_instances instances (median)
 *   idle_rss_kib          the process's resident set after loading the first
 *                         table (the JVM included)
 * </pre>
 *
 * Every measurement follows a warm-up of the same code (the JIT compiles it
 * first); the tables are the ones clients/python/kess_bench.py writes.
 *
 * <pre>
 * clients/java/kess-bench --instances 1000 --table_instances 5000
 * </pre>
 */
public final class KessBench {
  private KessBench() {}

  static Path writeTable(Path cacheDir, String service, int n, boolean weighted) throws IOException {
    List<Object> instances = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      Map<String, Object> in = new LinkedHashMap<>();
      in.put("id", String.format("%s-%05d", service, i));
      in.put("host", "host-" + (i % 200));
      in.put("address", "127.0.0.1:" + (10000 + i % 50000));
      in.put("datacenter", "dc" + (i % 3 + 1));
      in.put("weight", weighted ? 50 + (i % 4) * 50 : 100);
      in.put("state", i % 50 != 0 ? "healthy" : "suspect");
      in.put("health", "up");
      in.put("metadata", Map.of("version", "1.4." + (i % 7)));
      in.put("registered_ms", 1795314842000L + i);
      instances.add(in);
    }
    Map<String, Object> table = new LinkedHashMap<>();
    table.put("format", 1);
    table.put("service", service);
    table.put("revision", 42);
    table.put("instances", instances);
    byte[] value = Json.write(table).getBytes(StandardCharsets.UTF_8);
    Map<String, Object> doc = new LinkedHashMap<>();
    doc.put("format", 1);
    doc.put("type", "route");
    doc.put("service", service);
    doc.put("revision", 42);
    doc.put("absent", false);
    doc.put("crc32", CacheEntry.crc32(value));
    doc.put("encoding", "utf8");
    doc.put("value", new String(value, StandardCharsets.UTF_8));
    doc.put("content_type", "application/json");
    doc.put("mtime_ms", 1700000000000L);
    doc.put("written_ms", 1700000000123L);
    Path path = cacheDir.resolve(CacheKey.route(service).relativePath());
    Files.createDirectories(path.getParent());
    Files.writeString(path, Json.write(doc));
    return path;
  }

  static long rssKib() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
    }
    return 0;
  }

  private static long sink;

  static double wrNs(Discovery d, String service, int picks) {
    long start = System.nanoTime();
    for (int i = 0; i < picks; i++) sink += d.select(service).orElseThrow().weight();
    return (System.nanoTime() - start) / (double) picks;
  }

  static double hrwNs(Discovery d, String service, LoadBalancer hrw, String[] keys) {
    long start = System.nanoTime();
    for (String k : keys) sink += d.select(service, k, hrw).orElseThrow().weight();
    return (System.nanoTime() - start) / (double) keys.length;
  }

  static String[] keys(String prefix, int n) {
    String[] k = new String[n];
    for (int i = 0; i < n; i++) k[i] = prefix + i;
    return k;
  }

  public static void main(String[] argv) throws Exception {
    int instances = 1000;
    int tableInstances = 5000;
    int picks = 2_000_000;
    int hrwKeys = 20_000;
    int loadRounds = 9;
    for (int i = 0; i + 1 < argv.length; i += 2) {
      String name = argv[i];
      int v = Integer.parseInt(argv[i + 1]);
      switch (name) {
        case "--instances": instances = v; break;
        case "--table_instances": tableInstances = v; break;
        case "--picks": picks = v; break;
        case "--hrw_keys": hrwKeys = v; break;
        case "--load_rounds": loadRounds = v; break;
        default: throw new IllegalArgumentException("unknown flag " + name);
      }
    }
    Path cacheDir = Files.createTempDirectory("kess-bench");
    try {
      writeTable(cacheDir, "bench", instances, false);
      writeTable(cacheDir, "weighted", instances, true);
      writeTable(cacheDir, "big", tableInstances, true);

      double pickWr;
      double pickHrw;
      double pickHrwWeighted;
      long idleRss;
      try (Discovery d = Discovery.builder().cacheDir(cacheDir).pollInterval(Duration.ofSeconds(60)).build()) {
        d.select("bench").orElseThrow();  // loads the table
        System.gc();
        idleRss = rssKib();
        d.select("weighted").orElseThrow();
        LoadBalancer hrw = d.balancer("hrw");
        // Warm-up: the same calls, other keys.
        wrNs(d, "weighted", picks / 2);
        hrwNs(d, "bench", hrw, keys("warm-", hrwKeys));
        hrwNs(d, "weighted", hrw, keys("warm-", hrwKeys));
        pickWr = wrNs(d, "weighted", picks);
        pickHrw = hrwNs(d, "bench", hrw, keys("user-", hrwKeys));
        pickHrwWeighted = hrwNs(d, "weighted", hrw, keys("user-", hrwKeys));
      }

      double[] times = new double[loadRounds];
      CacheKey key = CacheKey.route("big");
      for (int warm = 0; warm < 5; warm++) {
        sink += RouteSnapshot.build(RouteTable.parse(CacheEntry.read(cacheDir, key).value())).size();
      }
      for (int i = 0; i < loadRounds; i++) {
        long start = System.nanoTime();
        RouteSnapshot s = RouteSnapshot.build(RouteTable.parse(CacheEntry.read(cacheDir, key).value()));
        times[i] = (System.nanoTime() - start) / 1e6;
        sink += s.size();
      }
      Arrays.sort(times);

      Map<String, Object> out = new LinkedHashMap<>();
      out.put("language", "java");
      out.put("pick_wr_ns", Math.round(pickWr));
      out.put("pick_hrw_ns", Math.round(pickHrw));
      out.put("pick_hrw_weighted_ns", Math.round(pickHrwWeighted));
      out.put("load_parse_5000_ms", Math.round(times[loadRounds / 2] * 10) / 10.0);
      out.put("idle_rss_kib", idleRss);
      out.put("instances", instances);
      out.put("table_instances", tableInstances);
      out.put("java", System.getProperty("java.version"));
      System.out.println(Json.write(out));
      if (sink == 42) System.err.println();  // keeps the picks from being optimized away
    } finally {
      try (Stream<Path> walk = Files.walk(cacheDir)) {
        walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }
}
