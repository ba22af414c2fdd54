package kess;

import java.io.IOException;

/** The agent answered a request with an error status (4xx or 5xx). */
public class AgentException extends IOException {
  private static final long serialVersionUID = 1L;
  private final int status;

  public AgentException(int status, String message) {
    super(message);
    this.status = status;
  }

  /** The HTTP status of the agent's answer. */
  public int status() {
    return status;
  }
}
