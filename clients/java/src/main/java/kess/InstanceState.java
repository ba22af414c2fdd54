package kess;

/**
 * An instance's state in a route table (docs/route-table.md). Consumers pick
 * healthy instances; suspect ones only when no healthy one is available;
 * disabled ones never. An instance whose health checks are critical is
 * listed as suspect by the route-table leader (within its protection
 * threshold; the others stay healthy with check_status "critical").
 */
public enum InstanceState {
  HEALTHY("healthy"),
  SUSPECT("suspect"),
  DISABLED("disabled");

  private final String wireName;

  InstanceState(String wireName) {
    this.wireName = wireName;
  }

  /** The name in the route table JSON. */
  public String wireName() {
    return wireName;
  }

  /** The state named {@code name}, or null if there is none. */
  public static InstanceState fromWireName(String name) {
    for (InstanceState s : values()) {
      if (s.wireName.equals(name)) return s;
    }
    return null;
  }
}
