package kess;

/**
 * What one pick is about: the request key, the candidates (a group of one
 * state, possibly narrowed to one datacenter by a wrapping balancer), the
 * caller-side availability and the PRNG.
 *
 * <p>Immutable; {@link #withGroup} makes a narrowed copy.
 *
 * @param key the request key for key-affine balancers (HRW); may be empty
 * @param state the tier being picked (HEALTHY or SUSPECT)
 * @param group the candidates, a group of {@code snapshot.groups(state)}
 * @param availability caller-side failover; null: every candidate at full weight
 * @param nowMs the time the availability is read at
 * @param random null: {@link FastRandom#threadLocal()}
 */
public record SelectContext(String key, InstanceState state, RouteSnapshot.Group group,
    Availability availability, long nowMs, FastRandom random) {
  /** The share of its weight snapshot instance {@code index} gets (0 = ejected). */
  public double factor(int index) {
    return availability == null ? 1.0 : availability.factor(index, nowMs);
  }

  /** The PRNG of this pick. */
  public FastRandom rng() {
    return random != null ? random : FastRandom.threadLocal();
  }

  /** The same pick over other candidates. */
  public SelectContext withGroup(RouteSnapshot.Group narrowed) {
    return new SelectContext(key, state, narrowed, availability, nowMs, random);
  }
}
