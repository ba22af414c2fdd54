package kess;

/**
 * A strategy that picks one instance of a {@link RouteSnapshot} for a call.
 * Built-ins (see {@link LoadBalancers}): "weighted_random", "hrw",
 * "local_first". Which instances a balancer sees is decided for all of them
 * by {@link LoadBalancers#selectInstance}: healthy ones, then suspect ones,
 * never disabled ones; ejected ones have {@code ctx.factor(index) == 0}.
 *
 * <p>Thread-safety: {@link #select} must be thread-safe.
 */
@FunctionalInterface
public interface LoadBalancer {
  /**
   * Picks one member of {@code ctx.group()} whose factor is above 0, in
   * proportion to weight x factor (or by the balancer's own rule); null when
   * no member is available (the next tier is tried then).
   */
  RouteInstance select(RouteSnapshot snapshot, SelectContext ctx);
}
