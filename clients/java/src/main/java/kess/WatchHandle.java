package kess;

/**
 * A running watch. {@link #close()} stops it: the callback is not called
 * again (close waits for a running callback unless called from within it),
 * and when it was the last watch of its key or namespace in this client, the
 * subscription is removed at the agent for this client's owner (the cache
 * files stay). Idempotent.
 */
public interface WatchHandle extends AutoCloseable {
  @Override
  void close();
}
