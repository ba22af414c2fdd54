package kess;

import java.util.Map;

/**
 * One instance of a service in a route table (docs/route-table.md).
 *
 * @param id unique within the service
 * @param host the host id of its machine
 * @param address {@code host:port} to call
 * @param datacenter where it runs
 * @param weight 1..10000, relative
 * @param state healthy, suspect or disabled
 * @param health the application's own word (up, warming_up, draining, ...)
 * @param metadata free string map (unmodifiable)
 * @param registeredMs wall clock of first registration (Unix ms)
 * @param checkStatus "", passing, warning or critical
 * @param checkOutput the output of the check result that last changed it
 */
public record RouteInstance(
    String id,
    String host,
    String address,
    String datacenter,
    int weight,
    InstanceState state,
    String health,
    Map<String, String> metadata,
    long registeredMs,
    String checkStatus,
    String checkOutput) {
  public RouteInstance {
    metadata = Map.copyOf(metadata);
  }
}
