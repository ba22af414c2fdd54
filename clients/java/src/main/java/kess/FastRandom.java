package kess;

import java.security.SecureRandom;

/**
 * A small fast PRNG (wyrand) for load-balancer picks, the same sequence as
 * the C++ SDK's FastRandom for the same seed. Not cryptographic.
 *
 * <p>Thread-safety: an instance is not thread-safe; {@link #threadLocal()}
 * returns the calling thread's own one (seeded from SecureRandom).
 */
public final class FastRandom {
  private static final ThreadLocal<FastRandom> LOCAL =
      ThreadLocal.withInitial(() -> new FastRandom(new SecureRandom().nextLong()));

  private long state;

  public FastRandom(long seed) {
    this.state = seed;
  }

  /** The calling thread's instance. */
  public static FastRandom threadLocal() {
    return LOCAL.get();
  }

  /** The next 64 random bits. */
  public long next() {
    state += 0xa0761d6478bd642fL;
    long a = state;
    long b = state ^ 0xe7037ed1a0b428dbL;
    long lo = a * b;
    long hi = Math.multiplyHigh(a, b) + ((a >> 63) & b) + ((b >> 63) & a);  // unsigned
    return hi ^ lo;
  }

  /** Uniform in [0, 1). */
  public double unitDouble() {
    return (next() >>> 11) * 0x1.0p-53;
  }
}
