package kess;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small strict JSON (RFC 8259) parser and writer; the JDK has none.
 *
 * <p>Parsing maps objects to {@code Map<String, Object>} (insertion order,
 * unmodifiable), arrays to {@code List<Object>}, strings to {@code String},
 * integers without fraction or exponent to {@code Long} (or
 * {@code BigInteger} beyond 64 bits), other numbers to {@code Double},
 * {@code true}/{@code false} to {@code Boolean} and {@code null} to Java
 * {@code null}. Anything else (trailing commas, single quotes, comments,
 * unescaped control characters, lone surrogates, text after the value,
 * nesting deeper than 512) is a {@link FormatException}.
 *
 * <p>Thread-safety: stateless static methods.
 */
public final class Json {
  private static final int MAX_DEPTH = 512;

  private final String s;
  private int pos;

  private Json(String s) {
    this.s = s;
  }

  /** Parses one JSON document. */
  public static Object parse(String text) throws FormatException {
    Json p = new Json(text);
    p.skipSpace();
    Object v = p.value(0);
    p.skipSpace();
    if (p.pos != text.length()) throw p.error("text after the JSON value");
    return v;
  }

  /** Parses a document that must be an object. */
  @SuppressWarnings("unchecked")
  public static Map<String, Object> parseObject(String text) throws FormatException {
    Object v = parse(text);
    if (!(v instanceof Map)) throw new FormatException("not a JSON object");
    return (Map<String, Object>) v;
  }

  private FormatException error(String why) {
    return new FormatException("invalid JSON at offset " + pos + ": " + why);
  }

  private void skipSpace() {
    while (pos < s.length()) {
      char c = s.charAt(pos);
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
      pos++;
    }
  }

  private Object value(int depth) throws FormatException {
    if (depth > MAX_DEPTH) throw error("nested too deeply");
    if (pos >= s.length()) throw error("unexpected end");
    char c = s.charAt(pos);
    switch (c) {
      case '{':
        return object(depth);
      case '[':
        return array(depth);
      case '"':
        return string();
      case 't':
        literal("true");
        return Boolean.TRUE;
      case 'f':
        literal("false");
        return Boolean.FALSE;
      case 'n':
        literal("null");
        return null;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return number();
        throw error("unexpected character");
    }
  }

  private void literal(String word) throws FormatException {
    if (!s.startsWith(word, pos)) throw error("expected " + word);
    pos += word.length();
  }

  private Map<String, Object> object(int depth) throws FormatException {
    pos++;  // {
    Map<String, Object> map = new LinkedHashMap<>();
    skipSpace();
    if (pos < s.length() && s.charAt(pos) == '}') {
      pos++;
      return Collections.unmodifiableMap(map);
    }
    while (true) {
      skipSpace();
      if (pos >= s.length() || s.charAt(pos) != '"') throw error("expected a member name");
      String name = string();
      skipSpace();
      if (pos >= s.length() || s.charAt(pos) != ':') throw error("expected ':'");
      pos++;
      skipSpace();
      map.put(name, value(depth + 1));
      skipSpace();
      if (pos >= s.length()) throw error("unexpected end in an object");
      char c = s.charAt(pos++);
      if (c == '}') return Collections.unmodifiableMap(map);
      if (c != ',') throw error("expected ',' or '}'");
    }
  }

  private List<Object> array(int depth) throws FormatException {
    pos++;  // [
    List<Object> list = new ArrayList<>();
    skipSpace();
    if (pos < s.length() && s.charAt(pos) == ']') {
      pos++;
      return Collections.unmodifiableList(list);
    }
    while (true) {
      skipSpace();
      list.add(value(depth + 1));
      skipSpace();
      if (pos >= s.length()) throw error("unexpected end in an array");
      char c = s.charAt(pos++);
      if (c == ']') return Collections.unmodifiableList(list);
      if (c != ',') throw error("expected ',' or ']'");
    }
  }

  private String string() throws FormatException {
    pos++;  // opening quote
    StringBuilder out = null;
    int start = pos;
    while (true) {
      if (pos >= s.length()) throw error("unterminated string");
      char c = s.charAt(pos);
      if (c == '"') {
        String tail = s.substring(start, pos);
        pos++;
        String result = out == null ? tail : out.append(tail).toString();
        checkSurrogates(result);
        return result;
      }
      if (c < 0x20) throw error("control character in a string");
      if (c != '\\') {
        pos++;
        continue;
      }
      if (out == null) out = new StringBuilder();
      out.append(s, start, pos);
      pos++;
      if (pos >= s.length()) throw error("unterminated escape");
      char e = s.charAt(pos++);
      switch (e) {
        case '"': out.append('"'); break;
        case '\\': out.append('\\'); break;
        case '/': out.append('/'); break;
        case 'b': out.append('\b'); break;
        case 'f': out.append('\f'); break;
        case 'n': out.append('\n'); break;
        case 'r': out.append('\r'); break;
        case 't': out.append('\t'); break;
        case 'u': {
          if (pos + 4 > s.length()) throw error("short \\u escape");
          int code = 0;
          for (int i = 0; i < 4; i++) {
            int d = Character.digit(s.charAt(pos + i), 16);
            if (d < 0) throw error("bad \\u escape");
            code = code * 16 + d;
          }
          pos += 4;
          out.append((char) code);
          break;
        }
        default:
          throw error("unknown escape");
      }
      start = pos;
    }
  }

  private void checkSurrogates(String v) throws FormatException {
    for (int i = 0; i < v.length(); i++) {
      char c = v.charAt(i);
      if (Character.isHighSurrogate(c)) {
        if (i + 1 >= v.length() || !Character.isLowSurrogate(v.charAt(i + 1))) {
          throw error("lone surrogate in a string");
        }
        i++;
      } else if (Character.isLowSurrogate(c)) {
        throw error("lone surrogate in a string");
      }
    }
  }

  private Object number() throws FormatException {
    int start = pos;
    if (s.charAt(pos) == '-') pos++;
    if (pos >= s.length()) throw error("bad number");
    if (s.charAt(pos) == '0') {
      pos++;
    } else if (s.charAt(pos) >= '1' && s.charAt(pos) <= '9') {
      while (pos < s.length() && isDigit(s.charAt(pos))) pos++;
    } else {
      throw error("bad number");
    }
    boolean integral = true;
    if (pos < s.length() && s.charAt(pos) == '.') {
      integral = false;
      pos++;
      if (pos >= s.length() || !isDigit(s.charAt(pos))) throw error("bad fraction");
      while (pos < s.length() && isDigit(s.charAt(pos))) pos++;
    }
    if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
      integral = false;
      pos++;
      if (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) pos++;
      if (pos >= s.length() || !isDigit(s.charAt(pos))) throw error("bad exponent");
      while (pos < s.length() && isDigit(s.charAt(pos))) pos++;
    }
    String text = s.substring(start, pos);
    if (!integral) return Double.parseDouble(text);
    if (text.length() <= 18) return Long.parseLong(text);
    BigInteger big = new BigInteger(text);
    return big.bitLength() < 64 ? (Object) big.longValue() : big;
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  // ---- writing ----

  /** {@code v} as a JSON string literal (quotes included). */
  public static String quote(String v) {
    StringBuilder b = new StringBuilder(v.length() + 2);
    appendQuoted(b, v);
    return b.toString();
  }

  private static void appendQuoted(StringBuilder b, String v) {
    b.append('"');
    for (int i = 0; i < v.length(); i++) {
      char c = v.charAt(i);
      switch (c) {
        case '"': b.append("\\\""); break;
        case '\\': b.append("\\\\"); break;
        case '\n': b.append("\\n"); break;
        case '\r': b.append("\\r"); break;
        case '\t': b.append("\\t"); break;
        default:
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
      }
    }
    b.append('"');
  }

  /**
   * Serializes maps (string keys), lists, strings, numbers, booleans and
   * null as compact JSON.
   */
  public static String write(Object v) {
    StringBuilder b = new StringBuilder();
    write(b, v);
    return b.toString();
  }

  private static void write(StringBuilder b, Object v) {
    if (v == null) {
      b.append("null");
    } else if (v instanceof String) {
      appendQuoted(b, (String) v);
    } else if (v instanceof Map) {
      b.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
        if (!first) b.append(',');
        first = false;
        appendQuoted(b, String.valueOf(e.getKey()));
        b.append(':');
        write(b, e.getValue());
      }
      b.append('}');
    } else if (v instanceof List) {
      b.append('[');
      boolean first = true;
      for (Object item : (List<?>) v) {
        if (!first) b.append(',');
        first = false;
        write(b, item);
      }
      b.append(']');
    } else if (v instanceof Number || v instanceof Boolean) {
      b.append(v);
    } else {
      appendQuoted(b, v.toString());
    }
  }
}
