package kess;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CacheEntryTest {
  private static final CacheKey KEY = CacheKey.config("shop", "db.timeout");

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void decodesUtf8AndBase64() throws Exception {
    CacheEntry e = CacheEntry.decode(bytes(TestCache.entryJson(KEY, 42, false, bytes("30s"))));
    assertEquals(KEY, e.key());
    assertEquals(42, e.revision());
    assertFalse(e.absent());
    assertEquals("30s", e.valueAsString());
    assertEquals("text/plain", e.contentType());
    byte[] binary = {0, (byte) 0xff, 1, 2};
    String json = TestCache.entryJson(KEY, 43, false, binary);
    assertTrue(json.contains("\"base64\""));
    assertArrayEquals(binary, CacheEntry.decode(bytes(json)).value());
  }

  @Test
  void theDocumentedExampleDecodes() throws Exception {
    String doc = "{\"format\":1,\"type\":\"config\",\"namespace\":\"shop\",\"key\":\"db.timeout\","
        + "\"revision\":42,\"absent\":false,\"crc32\":" + CacheEntry.crc32(bytes("30s"))
        + ",\"encoding\":\"utf8\",\"value\":\"30s\",\"content_type\":\"text/plain\","
        + "\"mtime_ms\":1700000000000,\"written_ms\":1700000000123,\"later_field\":[1]}";
    assertEquals("30s", CacheEntry.decode(bytes(doc)).valueAsString());
  }

  @Test
  void refusesGarbledFiles() {
    String good = TestCache.entryJson(KEY, 42, false, bytes("30s"));
    String[] bad = {
      good.replace("\"crc32\":", "\"crc32\":1"),                 // CRC mismatch
      good.replace("\"format\":1", "\"format\":2"),              // unknown format
      good.replace("\"format\":1,", ""),                         // no format
      good.replace("\"revision\":42", "\"revision\":\"42\""),    // wrong type
      good.replace("\"revision\":42", "\"revision\":42.0"),      // not an integer
      good.replace("\"utf8\"", "\"latin1\""),                    // unknown encoding
      good.replace("\"type\":\"config\"", "\"type\":\"secret\""),
      good.replace("\"namespace\":\"shop\"", "\"namespace\":\"..\""),
      good.replace("\"value\":\"30s\"", "\"value\":\"31s\""),     // tampered
      good.substring(0, good.length() / 2),                      // truncated
      "",
      "[1]",
    };
    for (String b : bad) {
      assertThrows(FormatException.class, () -> CacheEntry.decode(bytes(b)), b);
    }
    assertThrows(FormatException.class, () -> CacheEntry.decode(new byte[] {(byte) 0xc3, '{'}));
  }

  @Test
  void readChecksTheKeyAndReportsMissingFiles(@TempDir Path dir) throws Exception {
    assertThrows(NoSuchFileException.class, () -> CacheEntry.read(dir, KEY));
    TestCache.writeConfig(dir, "shop", "db.timeout", 7, "x");
    assertEquals(7, CacheEntry.read(dir, KEY).revision());
    // A file that holds another key is garbled.
    Files.copy(dir.resolve(KEY.relativePath()), dir.resolve("configs/shop/other.json"));
    assertThrows(FormatException.class, () -> CacheEntry.read(dir, CacheKey.config("shop", "other")));
    assertThrows(IllegalArgumentException.class, () -> CacheEntry.read(dir, CacheKey.config("..", "x")));
  }
}
