package kess;

import java.nio.charset.StandardCharsets;

/**
 * The fixed 64-bit hashes of HRW load balancing, bit for bit those of the
 * C++ SDK (sdk/stable_hash.h, common/rendezvous.cc), so that every process in
 * every language maps a request key to the same instance. Never seeded, never
 * changed.
 *
 * <ul>
 *   <li>{@link #of}: FNV-1a-64 over the UTF-8 bytes (prime 0x100000001b3),
 *       then splitmix64's finalizer. The offset basis is the C++ code's
 *       constant 1469598103934665603 (0x14650fb0739d0383): the standard FNV
 *       basis 14695981039346656037 with its last digit missing. Fixed
 *       forever: keys must map alike in every language.
 *   <li>{@link #fmix64}: MurmurHash3's 64-bit finalizer.
 *   <li>{@link #pair}: {@code fmix64(key ^ (id * 0x9e3779b97f4a7c15))}.
 * </ul>
 *
 * <p>Thread-safety: stateless static methods.
 */
public final class StableHash {
  private StableHash() {}

  /** StableHash of the UTF-8 bytes of {@code s}. */
  public static long of(String s) {
    return of(s.getBytes(StandardCharsets.UTF_8));
  }

  /** StableHash of {@code bytes}. */
  public static long of(byte[] bytes) {
    long h = 1469598103934665603L;  // sic: see above
    for (byte b : bytes) {
      h ^= b & 0xff;
      h *= 0x100000001b3L;
    }
    h ^= h >>> 30;
    h *= 0xbf58476d1ce4e5b9L;
    h ^= h >>> 27;
    h *= 0x94d049bb133111ebL;
    h ^= h >>> 31;
    return h;
  }

  /** MurmurHash3's fmix64. */
  public static long fmix64(long x) {
    x ^= x >>> 33;
    x *= 0xff51afd7ed558ccdL;
    x ^= x >>> 33;
    x *= 0xc4ceb9fe1a85ec53L;
    x ^= x >>> 33;
    return x;
  }

  /** The HRW score input of one (request key hash, instance id hash) pair. */
  public static long pair(long keyHash, long idHash) {
    return fmix64(keyHash ^ (idHash * 0x9e3779b97f4a7c15L));
  }
}
