package kess;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One version of a service's route table (docs/route-table.md): the
 * instances consumers may call, sorted by id. Parsing applies the same rules
 * as the C++ codec (model/route_table.cc): format 1, valid names, weights in
 * 1..10000, {@code host:port} addresses, a health word, a known check status,
 * at most 64 metadata entries, no duplicate ids; unknown fields are ignored.
 * A table that breaks them is a {@link FormatException} with reason
 * {@code invalid_table}.
 *
 * @param service the service name
 * @param revision the global revision of the write
 * @param instances sorted by id (unmodifiable)
 */
public record RouteTable(String service, long revision, List<RouteInstance> instances) {
  /** The route table format this reader accepts. */
  public static final long FORMAT = 1;
  /** The largest instance weight. */
  public static final int MAX_WEIGHT = 10000;
  /** The longest check output, in bytes. */
  public static final int MAX_CHECK_OUTPUT = 256;

  public RouteTable {
    List<RouteInstance> sorted = new ArrayList<>(instances);
    sorted.sort(Comparator.comparing(RouteInstance::id));
    instances = List.copyOf(sorted);
  }

  /** Parses a route table document (the value of a route cache file). */
  public static RouteTable parse(String json) throws FormatException {
    Map<String, Object> o;
    try {
      o = Json.parseObject(json);
    } catch (FormatException e) {
      throw invalid("route table: " + e.getMessage());
    }
    String where = "route table";
    Object format = o.get("format");
    if (!(format instanceof Long)) throw invalid(where + ": field \"format\" is missing or not an integer");
    if ((Long) format != FORMAT) {
      throw invalid(where + ": format " + format + " is not supported (expected 1)");
    }
    String service = requiredString(o, "service", where);
    if (!Names.isValid(service)) throw invalid(where + ": service name \"" + service + "\" is invalid");
    long revision = optionalLong(o, "revision", where, 0);
    Object list = o.get("instances");
    if (!(list instanceof List)) throw invalid(where + ": field \"instances\" must be an array");
    List<RouteInstance> instances = new ArrayList<>();
    Set<String> ids = new HashSet<>();
    int i = 0;
    for (Object item : (List<?>) list) {
      String at = where + ": instances[" + i++ + "]";
      if (!(item instanceof Map)) throw invalid(at + " is not an object");
      @SuppressWarnings("unchecked")
      RouteInstance in = instance((Map<String, Object>) item, at);
      validate(in, at);
      if (!ids.add(in.id())) throw invalid(at + ": duplicate instance id \"" + in.id() + "\"");
      instances.add(in);
    }
    return new RouteTable(service, revision, instances);
  }

  /** Parses the value bytes of a route cache file. */
  public static RouteTable parse(byte[] json) throws FormatException {
    return parse(new String(json, StandardCharsets.UTF_8));
  }

  private static RouteInstance instance(Map<String, Object> o, String where)
      throws FormatException {
    String id = requiredString(o, "id", where);
    String host = requiredString(o, "host", where);
    String address = requiredString(o, "address", where);
    String datacenter = requiredString(o, "datacenter", where);
    Object weight = o.get("weight");
    if (weight == null) throw invalid(where + ": field \"weight\" is missing");
    if (!(weight instanceof Long) || (Long) weight > Integer.MAX_VALUE
        || (Long) weight < Integer.MIN_VALUE) {
      throw invalid(where + ": field \"weight\" has the wrong type");
    }
    String stateName = optionalString(o, "state", where, "healthy");
    InstanceState state = InstanceState.fromWireName(stateName);
    if (state == null) throw invalid(where + ": unknown state \"" + stateName + "\"");
    String health = optionalString(o, "health", where, "");
    long registeredMs = optionalLong(o, "registered_ms", where, 0);
    String checkStatus = optionalString(o, "check_status", where, "");
    String checkOutput = optionalString(o, "check_output", where, "");
    Map<String, String> metadata = new LinkedHashMap<>();
    Object meta = o.get("metadata");
    if (meta != null) {
      if (!(meta instanceof Map)) throw invalid(where + ": field \"metadata\" must be an object");
      for (Map.Entry<?, ?> e : ((Map<?, ?>) meta).entrySet()) {
        if (!(e.getValue() instanceof String)) {
          throw invalid(where + ": metadata \"" + e.getKey() + "\" must be a string");
        }
        metadata.put((String) e.getKey(), (String) e.getValue());
      }
    }
    return new RouteInstance(id, host, address, datacenter, (int) (long) (Long) weight, state,
        health, metadata, registeredMs, checkStatus, checkOutput);
  }

  private static void validate(RouteInstance in, String at) throws FormatException {
    if (!Names.isValid(in.id())) throw invalid(at + ": id \"" + in.id() + "\" is invalid");
    if (!Names.isValid(in.host())) throw invalid(at + ": host \"" + in.host() + "\" is invalid");
    if (!Names.isValid(in.datacenter())) {
      throw invalid(at + ": datacenter \"" + in.datacenter() + "\" is invalid");
    }
    if (in.weight() < 1 || in.weight() > MAX_WEIGHT) {
      throw invalid(at + ": weight " + in.weight() + " is outside 1..10000");
    }
    if (!validAddress(in.address())) {
      throw invalid(at + ": address must be host:port with a port in 1..65535");
    }
    if (!validHealth(in.health())) {
      throw invalid(at + ": health must be a lower-case word of a-z and _ (at most 32)");
    }
    String cs = in.checkStatus();
    if (!(cs.isEmpty() || cs.equals("passing") || cs.equals("warning") || cs.equals("critical"))) {
      throw invalid(at + ": check_status \"" + cs + "\" is not one of passing, warning, critical");
    }
    String out = in.checkOutput();
    if (out.length() > MAX_CHECK_OUTPUT) throw invalid(at + ": check_output is too long");
    for (int i = 0; i < out.length(); i++) {
      char c = out.charAt(i);
      if (!((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n')) {
        throw invalid(at + ": check_output must be printable ASCII, tab and newline");
      }
    }
    if (in.metadata().size() > 64) throw invalid(at + ": at most 64 metadata entries");
    for (Map.Entry<String, String> e : in.metadata().entrySet()) {
      if (!Names.isValid(e.getKey())) throw invalid(at + ": metadata key \"" + e.getKey() + "\" is invalid");
      if (e.getValue().getBytes(StandardCharsets.UTF_8).length > 1024) {
        throw invalid(at + ": metadata \"" + e.getKey() + "\" is longer than 1024 bytes");
      }
    }
  }

  /** {@code host:port}: a non-empty host part and a port in 1..65535, at most 256 bytes. */
  static boolean validAddress(String address) {
    int colon = address.lastIndexOf(':');
    if (colon <= 0 || colon + 1 >= address.length() || address.length() > 256) return false;
    int port = 0;
    for (int i = colon + 1; i < address.length(); i++) {
      char c = address.charAt(i);
      if (c < '0' || c > '9' || port >= 100000) return false;
      port = port * 10 + (c - '0');
    }
    return port >= 1 && port <= 65535;
  }

  private static boolean validHealth(String health) {
    if (health.isEmpty() || health.length() > 32) return false;
    for (int i = 0; i < health.length(); i++) {
      char c = health.charAt(i);
      if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
    }
    return true;
  }

  private static String requiredString(Map<String, Object> o, String name, String where)
      throws FormatException {
    Object v = o.get(name);
    if (v == null) throw invalid(where + ": field \"" + name + "\" is missing");
    if (!(v instanceof String)) throw invalid(where + ": field \"" + name + "\" has the wrong type");
    return (String) v;
  }

  private static String optionalString(Map<String, Object> o, String name, String where,
      String otherwise) throws FormatException {
    Object v = o.get(name);
    if (v == null) return otherwise;
    if (!(v instanceof String)) throw invalid(where + ": field \"" + name + "\" has the wrong type");
    return (String) v;
  }

  private static long optionalLong(Map<String, Object> o, String name, String where,
      long otherwise) throws FormatException {
    Object v = o.get(name);
    if (v == null) return otherwise;
    if (!(v instanceof Long)) throw invalid(where + ": field \"" + name + "\" has the wrong type");
    return (Long) v;
  }

  private static FormatException invalid(String why) {
    return new FormatException("invalid_table", why);
  }
}
