package kess;

import java.time.Duration;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;

/**
 * Caller-side failover, the rules of the C++ SDK (sdk/failure_tracker.cc):
 *
 * <ul>
 *   <li>the k-th failure in a row (k = 1, 2, ...) ejects the instance for
 *       {@code min(initialEjection * 2^(k-1), maxEjection)} (1 s, 2 s, 4 s, ...
 *       30 s by default); then it is "recovering" for as long again, its
 *       effective weight ramping linearly from {@code recoveringWeight} (10 %)
 *       of its weight to all of it;
 *   <li>failures reported while it is ejected are ignored (calls already in
 *       flight);
 *   <li>{@code successesToReset} successes in a row forget its failures, as
 *       does a quiet period of {@code forgetAfter} after its recovery ended
 *       (checked by every report and by {@link #build}).
 * </ul>
 *
 * <p>State is kept by instance id, so it survives new table versions. Time is
 * the caller's, in milliseconds; durations are rounded up to whole ms.
 *
 * <p>Thread-safety: not thread-safe ({@link Discovery} locks around it).
 */
public final class FailureTracker {
  /**
   * The failover settings.
   *
   * @param initialEjection the first ejection
   * @param maxEjection the longest ejection
   * @param recoveringWeight the share of its weight an instance gets when its
   *     ejection ends, in (0, 1]
   * @param successesToReset successes in a row that forget its failures
   * @param forgetAfter quiet time after the recovery that forgets them
   */
  public record Options(Duration initialEjection, Duration maxEjection, double recoveringWeight,
      int successesToReset, Duration forgetAfter) {
    /** The C++ SDK's defaults: 1 s, 30 s, 0.1, 3, 60 s. */
    public static Options defaults() {
      return new Options(Duration.ofSeconds(1), Duration.ofSeconds(30), 0.1, 3,
          Duration.ofSeconds(60));
    }

    /** Throws IllegalArgumentException unless 0 < initial <= max and 0 < recovering <= 1. */
    public Options {
      if (initialEjection.isNegative() || initialEjection.isZero()
          || maxEjection.compareTo(initialEjection) < 0
          || !(recoveringWeight > 0 && recoveringWeight <= 1)) {
        throw new IllegalArgumentException(
            "failover: need 0 < initialEjection <= maxEjection and 0 < recoveringWeight <= 1");
      }
    }
  }

  private static final class Record {
    int failures;
    int successes;
    long ejectedMs;
    long untilMs;
    long recoveredMs;
  }

  private final Options options;
  private final Map<String, Record> records = new TreeMap<>();

  public FailureTracker(Options options) {
    this.options = options;
  }

  static long ceilMs(Duration d) {
    long ms = d.toMillis();
    return d.minusMillis(ms).isZero() ? ms : ms + 1;
  }

  // Quiet for forgetAfter since `r` recovered, at `nowMs`.
  private boolean forgotten(Record r, long nowMs) {
    return nowMs >= r.recoveredMs + ceilMs(options.forgetAfter());
  }

  /** Records a failed call; returns whether the availability changed. */
  public boolean reportFailure(String instanceId, long nowMs) {
    Record r = records.get(instanceId);
    // Quiet for forgetAfter since it recovered: it starts over, whether or
    // not a build() forgot the record in between.
    if (r == null || forgotten(r, nowMs)) {
      r = new Record();
      records.put(instanceId, r);
    }
    if (r.failures > 0 && nowMs < r.untilMs) return false;
    r.failures++;
    r.successes = 0;
    Duration ejection = options.initialEjection();
    for (int i = 1; i < r.failures && ejection.compareTo(options.maxEjection()) < 0; i++) {
      ejection = ejection.multipliedBy(2);
    }
    if (ejection.compareTo(options.maxEjection()) > 0) ejection = options.maxEjection();
    long duration = ceilMs(ejection);
    r.ejectedMs = nowMs;
    r.untilMs = nowMs + duration;
    r.recoveredMs = nowMs + 2 * duration;
    return true;
  }

  /** Records a successful call; returns whether the availability changed. */
  public boolean reportSuccess(String instanceId, long nowMs) {
    Record r = records.get(instanceId);
    if (r == null) return false;
    if (forgotten(r, nowMs)) {  // nothing left to forget
      records.remove(instanceId);
      return false;
    }
    if (++r.successes < options.successesToReset()) return false;
    boolean changed = nowMs < r.recoveredMs;
    records.remove(instanceId);
    return changed;
  }

  /**
   * The availability of {@code snapshot}'s instances at {@code nowMs}; null
   * when none is ejected or recovering. Forgets records that are due.
   */
  public Availability build(RouteSnapshot snapshot, long nowMs) {
    for (Iterator<Record> it = records.values().iterator(); it.hasNext(); ) {
      if (forgotten(it.next(), nowMs)) it.remove();
    }
    if (records.isEmpty()) return null;
    long[] ejected = new long[snapshot.size()];
    long[] until = new long[snapshot.size()];
    long[] recovered = new long[snapshot.size()];
    boolean any = false;
    for (Map.Entry<String, Record> e : records.entrySet()) {
      int index = snapshot.indexOf(e.getKey());
      Record r = e.getValue();
      if (index < 0 || nowMs >= r.recoveredMs) continue;
      ejected[index] = r.ejectedMs;
      until[index] = r.untilMs;
      recovered[index] = r.recoveredMs;
      any = true;
    }
    if (!any) return null;
    return new Availability(ejected, until, recovered, options.recoveringWeight());
  }

  /** Consecutive failures on record for {@code instanceId} (0 = none). */
  public int failures(String instanceId) {
    Record r = records.get(instanceId);
    return r == null ? 0 : r.failures;
  }
}
