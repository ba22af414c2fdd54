package kess;

import java.io.IOException;

/**
 * A cache file, route table or agent answer that does not follow its format
 * (garbled, truncated, a CRC-32 mismatch, an unknown format version, an
 * invalid name). Readers keep the last good version when they meet one.
 */
public class FormatException extends IOException {
  private static final long serialVersionUID = 1L;

  public FormatException(String message) {
    super(message);
  }
}
