package kess;

/**
 * How available each instance of one {@link RouteSnapshot} is as a function
 * of time (built by {@link FailureTracker#build}): 0 while ejected,
 * recoveringWeight..1 while recovering, else 1.
 *
 * <p>Immutable.
 */
public final class Availability {
  private final long[] ejectedMs;
  private final long[] untilMs;
  private final long[] recoveredMs;
  private final double recoveringWeight;
  private final long activeUntilMs;

  Availability(long[] ejectedMs, long[] untilMs, long[] recoveredMs, double recoveringWeight) {
    this.ejectedMs = ejectedMs;
    this.untilMs = untilMs;
    this.recoveredMs = recoveredMs;
    this.recoveringWeight = recoveringWeight;
    long active = 0;
    for (long r : recoveredMs) active = Math.max(active, r);
    this.activeUntilMs = active;
  }

  /** Whether any instance is ejected or recovering at {@code nowMs}. */
  public boolean activeAt(long nowMs) {
    return nowMs < activeUntilMs;
  }

  /** The share of its weight instance {@code index} gets at {@code nowMs}. */
  public double factor(int index, long nowMs) {
    if (nowMs >= recoveredMs[index]) return 1.0;
    if (nowMs < untilMs[index]) return 0.0;
    double ramp = (double) (nowMs - untilMs[index]) / (double) (recoveredMs[index] - untilMs[index]);
    return recoveringWeight + (1.0 - recoveringWeight) * ramp;
  }

  /** When instance {@code index}'s current ejection began (0: none). */
  public long ejectedMs(int index) {
    return ejectedMs[index];
  }
}
