package kess;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * One version of one cache file (format 1, docs/file-cache.md): a config
 * value or a route table, as the agent writes it to disk and as {@code GET
 * /v1/watch} reports it. Decoding verifies everything the C++ reader does
 * (model/file_cache/format.cc): the format number, the type, the names, the
 * field types, the encoding and the CRC-32 of the value bytes. Unknown extra
 * fields are ignored.
 *
 * <p>Immutable; {@link #value()} returns a copy.
 */
public final class CacheEntry {
  /** The only cache file format this reader accepts. */
  public static final long FORMAT = 1;

  private final CacheKey key;
  private final long revision;
  private final boolean absent;
  private final byte[] value;
  private final String contentType;
  private final long mtimeMs;
  private final long writtenMs;

  private CacheEntry(CacheKey key, long revision, boolean absent, byte[] value,
      String contentType, long mtimeMs, long writtenMs) {
    this.key = key;
    this.revision = revision;
    this.absent = absent;
    this.value = value;
    this.contentType = contentType;
    this.mtimeMs = mtimeMs;
    this.writtenMs = writtenMs;
  }

  /**
   * Reads and decodes {@code <cacheDir>/<key's relative path>}, checking that
   * the file holds {@code key}. NoSuchFileException when there is no file
   * (not fetched yet), FormatException when it is garbled.
   */
  public static CacheEntry read(Path cacheDir, CacheKey key) throws IOException {
    key.validate();
    CacheEntry entry;
    Path path = cacheDir.resolve(key.relativePath());
    try {
      entry = decode(Files.readAllBytes(path));
    } catch (FormatException e) {
      throw new FormatException(e.reason(), path + ": " + e.getMessage());
    }
    if (!entry.key().equals(key)) {
      throw new FormatException("key_mismatch", path + ": holds " + entry.key() + ", expected " + key);
    }
    return entry;
  }

  /** Decodes a cache file's bytes. Throws FormatException when it is garbled. */
  public static CacheEntry decode(byte[] file) throws FormatException {
    String text;
    try {
      text = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(file))
          .toString();
    } catch (CharacterCodingException e) {
      throw garbled("not_json", "not UTF-8");
    }
    Map<String, Object> doc;
    try {
      doc = Json.parseObject(text);
    } catch (FormatException e) {
      throw garbled("not_json", "not JSON: " + e.getMessage());
    }
    return fromJson(doc);
  }

  /** Decodes a parsed cache file object (also one change of a watch answer). */
  public static CacheEntry fromJson(Map<String, Object> doc) throws FormatException {
    long format = integer(doc, "format");
    if (format != FORMAT) throw garbled("unknown_format", "unknown format version " + format);
    String type = string(doc, "type");
    CacheKey key;
    if (type.equals("config")) {
      key = CacheKey.config(string(doc, "namespace"), string(doc, "key"));
    } else if (type.equals("route")) {
      key = CacheKey.route(string(doc, "service"));
    } else {
      throw garbled("unknown_type", "unknown type \"" + type + "\"");
    }
    try {
      key.validate();
    } catch (IllegalArgumentException e) {
      throw garbled("invalid_name", e.getMessage());
    }
    long revision = integer(doc, "revision");
    boolean absent = bool(doc, "absent");
    long crc = integer(doc, "crc32");
    String encoding = string(doc, "encoding");
    String text = string(doc, "value");
    byte[] value;
    if (encoding.equals("utf8")) {
      value = text.getBytes(StandardCharsets.UTF_8);
    } else if (encoding.equals("base64")) {
      try {
        value = Base64.getDecoder().decode(text);
      } catch (IllegalArgumentException e) {
        throw garbled("bad_base64", "\"value\" is not valid base64");
      }
    } else {
      throw garbled("unknown_encoding", "unknown encoding \"" + encoding + "\"");
    }
    String contentType = string(doc, "content_type");
    long mtimeMs = integer(doc, "mtime_ms");
    long writtenMs = integer(doc, "written_ms");
    long actual = crc32(value);
    if (crc != actual) {
      throw garbled("crc_mismatch", "crc32 of the value is " + actual + ", the file says " + crc);
    }
    return new CacheEntry(key, revision, absent, value, contentType, mtimeMs, writtenMs);
  }

  /** zlib's CRC-32 of {@code bytes} (unsigned). */
  public static long crc32(byte[] bytes) {
    CRC32 crc = new CRC32();
    crc.update(bytes);
    return crc.getValue();
  }

  private static FormatException garbled(String reason, String why) {
    return new FormatException(reason, "garbled cache file: " + why);
  }

  private static Object field(Map<String, Object> doc, String name) throws FormatException {
    if (!doc.containsKey(name)) throw garbled("missing_field", "missing field \"" + name + "\"");
    return doc.get(name);
  }

  private static long integer(Map<String, Object> doc, String name) throws FormatException {
    Object v = field(doc, name);
    if (!(v instanceof Long)) throw garbled("wrong_type", "\"" + name + "\" is not an integer");
    return (Long) v;
  }

  private static String string(Map<String, Object> doc, String name) throws FormatException {
    Object v = field(doc, name);
    if (!(v instanceof String)) throw garbled("wrong_type", "\"" + name + "\" is not a string");
    return (String) v;
  }

  private static boolean bool(Map<String, Object> doc, String name) throws FormatException {
    Object v = field(doc, name);
    if (!(v instanceof Boolean)) throw garbled("wrong_type", "\"" + name + "\" is not a boolean");
    return (Boolean) v;
  }

  public CacheKey key() {
    return key;
  }

  /** The global kess revision of the change; strictly increasing per file. */
  public long revision() {
    return revision;
  }

  /** True for a tombstone: deleted upstream at {@link #revision()}. */
  public boolean absent() {
    return absent;
  }

  /** The raw value bytes (a copy). */
  public byte[] value() {
    return value.clone();
  }

  /** The value as UTF-8 text. */
  public String valueAsString() {
    return new String(value, StandardCharsets.UTF_8);
  }

  byte[] valueNoCopy() {
    return value;
  }

  public String contentType() {
    return contentType;
  }

  /** When the change was committed upstream (Unix ms). */
  public long mtimeMs() {
    return mtimeMs;
  }

  /** When the agent wrote the file (Unix ms). */
  public long writtenMs() {
    return writtenMs;
  }

  @Override
  public String toString() {
    return key + " revision " + revision + (absent ? " (deleted)" : "");
  }
}
