package kess;

import java.io.IOException;

/**
 * A cache file, route table or agent answer that does not follow its format
 * (garbled, truncated, a CRC-32 mismatch, an unknown format version, an
 * invalid name). Readers keep the last good version when they meet one.
 *
 * <p>{@link #reason()} is the reason class of clients/conformance (section
 * 2.1 and 2.3): {@code not_json}, {@code missing_field}, {@code wrong_type},
 * {@code unknown_format}, {@code unknown_type}, {@code invalid_name},
 * {@code unknown_encoding}, {@code bad_base64}, {@code crc_mismatch},
 * {@code key_mismatch} for cache files; {@code invalid_table} and
 * {@code wrong_service} for route tables.
 */
public class FormatException extends IOException {
  private static final long serialVersionUID = 1L;
  private final String reason;

  public FormatException(String reason, String message) {
    super(message);
    this.reason = reason;
  }

  /** A JSON syntax error ({@code not_json}). */
  public FormatException(String message) {
    this("not_json", message);
  }

  /** The reason class. */
  public String reason() {
    return reason;
  }
}
