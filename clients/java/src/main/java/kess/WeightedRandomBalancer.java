package kess;

/**
 * "weighted_random": probability proportional to weight (times the failover
 * factor). One PRNG draw into the group's alias table; while some instances
 * are ejected or recovering, a draw is accepted with probability factor (up
 * to 8 draws), then an exact O(n) pass. The same steps as the C++ SDK.
 */
final class WeightedRandomBalancer implements LoadBalancer {
  private static final int REJECTION_DRAWS = 8;

  @Override
  public RouteInstance select(RouteSnapshot snapshot, SelectContext ctx) {
    RouteSnapshot.Group group = ctx.group();
    if (group.isEmpty()) return null;
    FastRandom random = ctx.rng();
    if (ctx.availability() == null) {
      return snapshot.instance(group.members[group.draw(random.next())]);
    }
    for (int i = 0; i < REJECTION_DRAWS; i++) {
      int index = group.members[group.draw(random.next())];
      double factor = ctx.factor(index);
      if (factor >= 1.0 || (factor > 0 && random.unitDouble() < factor)) {
        return snapshot.instance(index);
      }
    }
    return exact(snapshot, ctx, random);
  }

  private static RouteInstance exact(RouteSnapshot snapshot, SelectContext ctx, FastRandom random) {
    RouteSnapshot.Group group = ctx.group();
    double total = 0;
    for (int i = 0; i < group.size(); i++) {
      total += ctx.factor(group.members[i]) / group.inverseWeight[i];
    }
    if (total <= 0) return null;
    double r = random.unitDouble() * total;
    int last = 0;
    for (int i = 0; i < group.size(); i++) {
      double w = ctx.factor(group.members[i]) / group.inverseWeight[i];
      if (w <= 0) continue;
      last = i;
      if (r < w) break;
      r -= w;
    }
    return snapshot.instance(group.members[last]);
  }
}
