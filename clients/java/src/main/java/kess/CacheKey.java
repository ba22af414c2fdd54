package kess;

/**
 * What one cache file holds: a config ({@code namespace}/{@code key}) or a
 * service's route table ({@code service}). Unused fields are empty strings.
 *
 * @param type config or route
 * @param namespace the config namespace (configs only)
 * @param key the config key (configs only)
 * @param service the service (routes only)
 */
public record CacheKey(Type type, String namespace, String key, String service)
    implements Comparable<CacheKey> {
  /** The two kinds of cache file. */
  public enum Type {
    CONFIG,
    ROUTE
  }

  /** A config key. Names are not validated here: see {@link #validate()}. */
  public static CacheKey config(String namespace, String key) {
    return new CacheKey(Type.CONFIG, namespace, key, "");
  }

  /** A service's route table. */
  public static CacheKey route(String service) {
    return new CacheKey(Type.ROUTE, "", "", service);
  }

  /** Throws IllegalArgumentException when a name is invalid. */
  public CacheKey validate() {
    if (type == Type.CONFIG) {
      Names.check("namespace", namespace);
      Names.check("key", key);
    } else {
      Names.check("service", service);
    }
    return this;
  }

  /** The file's path below the cache directory: configs/ns/key.json or routes/svc.json. */
  public String relativePath() {
    return type == Type.CONFIG
        ? "configs/" + namespace + "/" + key + ".json"
        : "routes/" + service + ".json";
  }

  @Override
  public int compareTo(CacheKey o) {
    int c = type.compareTo(o.type);
    if (c == 0) c = namespace.compareTo(o.namespace);
    if (c == 0) c = key.compareTo(o.key);
    if (c == 0) c = service.compareTo(o.service);
    return c;
  }

  @Override
  public String toString() {
    return type == Type.CONFIG ? "config " + namespace + "/" + key : "route " + service;
  }
}
