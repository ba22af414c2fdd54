package kess;

/**
 * The kess name rules (namespaces, keys, services, datacenters, hosts): 1..128
 * ASCII letters, digits, {@code . _ -}, starting with a letter or digit,
 * never containing {@code ..}. So a name is always a safe file name.
 *
 * <p>Thread-safety: stateless static methods.
 */
public final class Names {
  /** The longest valid name, in bytes. */
  public static final int MAX_LENGTH = 128;

  private Names() {}

  /** Whether {@code name} follows the rules. */
  public static boolean isValid(String name) {
    if (name == null || name.isEmpty() || name.length() > MAX_LENGTH) return false;
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      if (!(isAlnum(c) || c == '.' || c == '_' || c == '-')) return false;
    }
    return isAlnum(name.charAt(0)) && !name.contains("..");
  }

  /**
   * Throws {@link IllegalArgumentException} naming {@code what} ("namespace",
   * "key", "service", ...) when {@code name} is invalid.
   */
  public static String check(String what, String name) {
    if (!isValid(name)) {
      String shown = name == null ? "null" : name.length() > 64 ? name.substring(0, 64) + "..." : name;
      throw new IllegalArgumentException(
          what + " \"" + shown + "\" is invalid (1..128 of A-Z a-z 0-9 . _ -, starting with a"
              + " letter or digit, no \"..\")");
    }
    return name;
  }

  private static boolean isAlnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  }
}
