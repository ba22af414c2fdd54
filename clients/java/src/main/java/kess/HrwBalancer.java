package kess;

/**
 * "hrw": weighted rendezvous hashing of the request key, bit for bit the C++
 * SDK's (sdk/policy/hrw.cc). For each candidate i:
 *
 * <pre>
 *   h_i     = StableHash.pair(StableHash.of(key), StableHash.of(id_i))
 *   u_i     = ((h_i &gt;&gt;&gt; 11) + 0.5) / 2^53
 *   score_i = -log2(u_i) / (w_i * f_i)
 * </pre>
 *
 * and the key goes to the smallest score (ties: the smaller id). -log2 is
 * {@link #negLog2}, a fixed polynomial, not the platform's log. With equal
 * weights and nobody recovering, the largest h wins and no log is computed.
 * An empty key picks at random by weight.
 */
public final class HrwBalancer implements LoadBalancer {
  private static final double INVERSE_LN2 = 1.4426950408889634;
  private static final long ONE_BITS = 0x3ff0000000000000L;  // the double 1.0

  /**
   * -log2(((h &gt;&gt;&gt; 11) + 0.5) / 2^53): exponent plus a degree-11 odd
   * series of atanh on the mantissa; the same operations, in the same order,
   * as the C++ HrwNegLog2, so the results are identical doubles.
   */
  public static double negLog2(long h) {
    double u = ((double) (h >>> 11) + 0.5) * 0x1.0p-53;
    long bits = Double.doubleToRawLongBits(u);
    int exponent = (int) ((bits >>> 52) & 0x7ff) - 1023;
    bits = (bits & 0x000fffffffffffffL) | 0x3ff0000000000000L;
    double m = Double.longBitsToDouble(bits);
    if (m > 1.4142135623730951) {
      m *= 0.5;
      ++exponent;
    }
    double t = (m - 1.0) / (m + 1.0);
    double t2 = t * t;
    double lnM = 2.0 * t
        * (1.0 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9 + t2 * (1.0 / 11))))));
    return -(exponent + lnM * INVERSE_LN2);
  }

  @Override
  public RouteInstance select(RouteSnapshot snapshot, SelectContext ctx) {
    RouteSnapshot.Group group = ctx.group();
    if (group.isEmpty()) return null;
    long keyHash = ctx.key() == null || ctx.key().isEmpty() ? ctx.rng().next() : StableHash.of(ctx.key());
    int n = group.size();
    int best = n;
    if (ctx.availability() == null && group.uniformWeight) {
      long bestHash = 0;
      long[] idHash = group.idHash;
      for (int i = 0; i < n; i++) {
        long h = StableHash.pair(keyHash, idHash[i]);
        if (best == n || Long.compareUnsigned(h, bestHash) > 0) {
          best = i;
          bestHash = h;
        }
      }
    } else {
      best = weighted(group, ctx, keyHash, ctx.availability() != null);
    }
    if (best == n) return null;
    return snapshot.instance(group.members[best]);
  }

  private static int weighted(RouteSnapshot.Group group, SelectContext ctx, long keyHash,
      boolean withAvailability) {
    int n = group.size();
    int best = n;
    double bestScore = Double.POSITIVE_INFINITY;
    double[] inverseWeight = group.inverseWeight;
    long[] idHash = group.idHash;
    for (int i = 0; i < n; i++) {
      double scale = inverseWeight[i];
      if (withAvailability) {
        double factor = ctx.factor(group.members[i]);
        if (factor <= 0) continue;
        scale /= factor;
      }
      long h = StableHash.pair(keyHash, idHash[i]);
      // A lower bound of 1 - u = ((~h >>> 11) + 0.5) / 2^53: its top 52
      // bits as the mantissa of a double in [1, 2), minus 1 (exact). Built
      // from bits, because a long-to-double conversion here (cvtsi2sd, with
      // its false dependency on the target register) made this loop 2.5
      // times slower. A lower bound only prunes less than the C++ code's
      // exact 1 - u, never more, so the pick is the same.
      double oneMinusU = Double.longBitsToDouble(ONE_BITS | (~h >>> 12)) - 1.0;
      if ((oneMinusU * INVERSE_LN2 - 1e-9) * scale >= bestScore) continue;
      double score = negLog2(h) * scale;
      if (score < bestScore) {
        best = i;
        bestScore = score;
      }
    }
    return best;
  }
}
