package kess;

/**
 * "local_first": with {@code local} = the available (not ejected) members of
 * the caller's datacenter in the tier being picked, the inner balancer picks
 * among the local ones when {@code local >= max(minLocalHealthy, 1)},
 * otherwise among all datacenters (local included).
 */
final class LocalFirstBalancer implements LoadBalancer {
  private final LoadBalancer inner;
  private final String localDatacenter;
  private final int minLocal;

  LocalFirstBalancer(LoadBalancer inner, String localDatacenter, int minLocalHealthy) {
    this.inner = inner;
    this.localDatacenter = localDatacenter;
    this.minLocal = Math.max(minLocalHealthy, 1);
  }

  @Override
  public RouteInstance select(RouteSnapshot snapshot, SelectContext ctx) {
    RouteSnapshot.Group local = snapshot.groups(ctx.state()).datacenter(localDatacenter);
    if (local != null && available(local, ctx) >= minLocal) {
      return inner.select(snapshot, ctx.withGroup(local));
    }
    return inner.select(snapshot, ctx);
  }

  private static int available(RouteSnapshot.Group group, SelectContext ctx) {
    if (ctx.availability() == null) return group.size();
    int n = 0;
    for (int index : group.members) {
      if (ctx.factor(index) > 0) n++;
    }
    return n;
  }
}
