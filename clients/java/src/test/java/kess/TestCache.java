package kess;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Test helper: writes cache files as the agent does (temp file, rename). */
final class TestCache {
  private TestCache() {}

  /** The JSON of one cache file (utf8 when the value is valid UTF-8 without NUL, else base64). */
  static String entryJson(CacheKey key, long revision, boolean absent, byte[] value) {
    Map<String, Object> doc = new LinkedHashMap<>();
    doc.put("format", 1);
    if (key.type() == CacheKey.Type.CONFIG) {
      doc.put("type", "config");
      doc.put("namespace", key.namespace());
      doc.put("key", key.key());
    } else {
      doc.put("type", "route");
      doc.put("service", key.service());
    }
    doc.put("revision", revision);
    doc.put("absent", absent);
    doc.put("crc32", CacheEntry.crc32(value));
    String text = new String(value, StandardCharsets.UTF_8);
    boolean utf8 = java.util.Arrays.equals(text.getBytes(StandardCharsets.UTF_8), value) && text.indexOf('\0') < 0;
    doc.put("encoding", utf8 ? "utf8" : "base64");
    doc.put("value", utf8 ? text : Base64.getEncoder().encodeToString(value));
    doc.put("content_type", "text/plain");
    doc.put("mtime_ms", 1700000000000L);
    doc.put("written_ms", 1700000000123L);
    return Json.write(doc);
  }

  static void writeRaw(Path cacheDir, CacheKey key, String content) throws IOException {
    Path path = cacheDir.resolve(key.relativePath());
    Files.createDirectories(path.getParent());
    Path tmp = path.getParent().resolve("." + path.getFileName() + ".tmp-" + System.nanoTime());
    Files.writeString(tmp, content);
    Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  static void writeConfig(Path cacheDir, String ns, String key, long revision, String value) throws IOException {
    CacheKey k = CacheKey.config(ns, key);
    writeRaw(cacheDir, k, entryJson(k, revision, false, value.getBytes(StandardCharsets.UTF_8)));
  }

  static void deleteConfig(Path cacheDir, String ns, String key, long revision) throws IOException {
    CacheKey k = CacheKey.config(ns, key);
    writeRaw(cacheDir, k, entryJson(k, revision, true, new byte[0]));
  }

  /** A route table instance as JSON. */
  static Map<String, Object> instance(String id, String dc, int weight, String state) {
    Map<String, Object> in = new LinkedHashMap<>();
    in.put("id", id);
    in.put("host", "host-" + id);
    in.put("address", "127.0.0.1:" + (20000 + Math.abs(id.hashCode() % 10000)));
    in.put("datacenter", dc);
    in.put("weight", weight);
    in.put("state", state);
    in.put("health", "up");
    in.put("metadata", Map.of());
    in.put("registered_ms", 1700000000000L);
    return in;
  }

  static String tableJson(String service, long revision, List<Map<String, Object>> instances) {
    Map<String, Object> t = new LinkedHashMap<>();
    t.put("format", 1);
    t.put("service", service);
    t.put("revision", revision);
    t.put("instances", instances);
    return Json.write(t);
  }

  static void writeTable(Path cacheDir, String service, long revision, List<Map<String, Object>> instances)
      throws IOException {
    CacheKey k = CacheKey.route(service);
    writeRaw(cacheDir, k, entryJson(k, revision, false,
        tableJson(service, revision, instances).getBytes(StandardCharsets.UTF_8)));
  }

  /** Waits up to 10 s for {@code condition}; false if it never held. */
  static boolean waitFor(java.util.function.BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (System.nanoTime() < deadline) {
      if (condition.getAsBoolean()) return true;
      Thread.sleep(5);
    }
    return condition.getAsBoolean();
  }
}
