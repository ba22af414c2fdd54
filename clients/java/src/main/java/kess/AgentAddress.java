package kess;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;

/**
 * Where the host's kess agent serves its local API (docs/agent-api.md): TCP
 * ({@code http://127.0.0.1:7310}, or {@code 127.0.0.1:7310}) or its unix
 * socket ({@code unix:/run/kess/agent.sock}).
 *
 * <p>Immutable.
 */
public final class AgentAddress {
  private final String host;  // TCP; null for a unix socket
  private final int port;
  private final Path socket;  // unix socket; null for TCP

  private AgentAddress(String host, int port, Path socket) {
    this.host = host;
    this.port = port;
    this.socket = socket;
  }

  /**
   * Parses {@code http://HOST:PORT[/]}, {@code HOST:PORT} or
   * {@code unix:PATH}. IllegalArgumentException otherwise.
   */
  public static AgentAddress parse(String address) {
    if (address.startsWith("unix:")) {
      String path = address.substring("unix:".length());
      if (path.startsWith("//")) path = path.substring(2);
      if (path.isEmpty()) throw new IllegalArgumentException("empty unix socket path");
      return new AgentAddress(null, 0, Path.of(path));
    }
    String rest = address;
    if (rest.startsWith("http://")) rest = rest.substring("http://".length());
    while (rest.endsWith("/")) rest = rest.substring(0, rest.length() - 1);
    int colon = rest.lastIndexOf(':');
    if (colon <= 0) throw new IllegalArgumentException("agent address \"" + address + "\" is not host:port");
    String h = rest.substring(0, colon);
    if (h.startsWith("[") && h.endsWith("]")) h = h.substring(1, h.length() - 1);
    int p;
    try {
      p = Integer.parseInt(rest.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("agent address \"" + address + "\" has no port");
    }
    if (p < 1 || p > 65535) throw new IllegalArgumentException("agent port out of range: " + p);
    return new AgentAddress(h, p, null);
  }

  /** The agent's TCP API at {@code host:port}. */
  public static AgentAddress tcp(String host, int port) {
    return new AgentAddress(host, port, null);
  }

  /** The agent's unix-domain socket. */
  public static AgentAddress unixSocket(Path path) {
    return new AgentAddress(null, 0, path);
  }

  public boolean isUnixSocket() {
    return socket != null;
  }

  SocketAddress socketAddress() {
    return socket != null ? UnixDomainSocketAddress.of(socket) : new InetSocketAddress(host, port);
  }

  /** The Host header: the agent answers only local names over TCP. */
  String hostHeader() {
    if (socket != null) return "localhost";
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
  }

  @Override
  public String toString() {
    return socket != null ? "unix:" + socket : "http://" + hostHeader();
  }
}
