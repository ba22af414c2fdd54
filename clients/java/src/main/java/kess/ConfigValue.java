package kess;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * One version of a config, as {@link ConfigClient} delivers it. A config
 * deleted upstream arrives as a version with {@link #deleted()} set and an
 * empty value.
 *
 * <p>Immutable; {@link #value()} returns a copy.
 */
public final class ConfigValue {
  private final String namespace;
  private final String key;
  private final long revision;
  private final boolean deleted;
  private final byte[] value;
  private final String contentType;
  private final long mtimeMs;

  ConfigValue(CacheEntry entry) {
    this.namespace = entry.key().namespace();
    this.key = entry.key().key();
    this.revision = entry.revision();
    this.deleted = entry.absent();
    this.value = entry.valueNoCopy();
    this.contentType = entry.contentType();
    this.mtimeMs = entry.mtimeMs();
  }

  public String namespace() {
    return namespace;
  }

  public String key() {
    return key;
  }

  public long revision() {
    return revision;
  }

  /** True when the config was deleted upstream at {@link #revision()}. */
  public boolean deleted() {
    return deleted;
  }

  /** The raw value bytes (a copy). */
  public byte[] value() {
    return value.clone();
  }

  /** The value decoded as UTF-8. */
  public String valueAsString() {
    return new String(value, StandardCharsets.UTF_8);
  }

  public String contentType() {
    return contentType;
  }

  /** When the change was committed upstream (Unix ms). */
  public long mtimeMs() {
    return mtimeMs;
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof ConfigValue)) return false;
    ConfigValue v = (ConfigValue) o;
    return namespace.equals(v.namespace) && key.equals(v.key) && revision == v.revision
        && deleted == v.deleted && Arrays.equals(value, v.value)
        && contentType.equals(v.contentType) && mtimeMs == v.mtimeMs;
  }

  @Override
  public int hashCode() {
    return Long.hashCode(revision) * 31 + key.hashCode();
  }

  @Override
  public String toString() {
    return namespace + "/" + key + "@" + revision + (deleted ? " (deleted)" : "");
  }
}
