package kess;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {
  @Test
  void parsesEveryKind() throws Exception {
    Map<String, Object> o = Json.parseObject(
        " {\"a\":1,\"b\":-2.5e1,\"c\":\"x\\u00e9\\n\\\"\",\"d\":[true,false,null],\"e\":{}} ");
    assertEquals(1L, o.get("a"));
    assertEquals(-25.0, o.get("b"));
    assertEquals("x\u00e9\n\"", o.get("c"));
    assertEquals(java.util.Arrays.asList(true, false, null), o.get("d"));
    assertEquals(Map.of(), o.get("e"));
    assertEquals("\uD83D\uDE00", Json.parse("\"\\ud83d\\ude00\""));
    assertEquals(new java.math.BigInteger("18446744073709551616"), Json.parse("18446744073709551616"));
    assertEquals(Long.MAX_VALUE, Json.parse("9223372036854775807"));
    assertNull(Json.parse("null"));
  }

  @Test
  void rejectsWhatIsNotStrictJson() {
    for (String bad : List.of("", "{", "{\"a\":1,}", "[1,]", "{'a':1}", "01", "1.", ".5", "+1",
        "\"\t\"", "\"\\x\"", "\"\\ud83d\"", "{\"a\" 1}", "[1] 2", "tru", "nul", "-", "1e",
        "/* c */ 1", "NaN")) {
      assertThrows(FormatException.class, () -> Json.parse(bad), bad);
    }
    assertThrows(FormatException.class, () -> Json.parse("[".repeat(600) + "]".repeat(600)));
  }

  @Test
  void writesWhatItParses() throws Exception {
    String text = "{\"s\":\"a\\\"b\\\\c\\n\\u0001\",\"n\":[1,2.5,true,null],\"o\":{\"k\":\"v\"}}";
    assertEquals(text, Json.write(Json.parse(text)));
  }
}
