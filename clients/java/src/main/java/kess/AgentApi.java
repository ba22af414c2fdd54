package kess;

import java.io.IOException;
import java.time.Duration;

/**
 * Raw calls of the agent's local API (docs/agent-api.md) for what the
 * clients do not wrap: {@code GET /v1/subscriptions}, {@code GET
 * /v1/status}, a subscription whose answer you want to read, ...
 *
 * <p>Thread-safety: stateless static methods.
 */
public final class AgentApi {
  private AgentApi() {}

  /**
   * One request; returns the body of a 200 answer. {@link AgentException}
   * (with the status) for any other status, IOException when the agent is
   * unreachable or does not answer within {@code timeout}.
   */
  public static String request(AgentAddress agent, String method, String pathAndQuery,
      String jsonBody, Duration timeout) throws IOException {
    AgentHttp.Response r = AgentHttp.call(agent, method, pathAndQuery, jsonBody, timeout);
    if (r.status() != 200) {
      throw new AgentException(r.status(), "agent answered " + r.status() + ": " + r.body());
    }
    return r.body();
  }
}
