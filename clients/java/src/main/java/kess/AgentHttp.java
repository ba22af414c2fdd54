package kess;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;

/**
 * A minimal HTTP/1.1 client for the agent's local API, over TCP or the unix
 * socket (java.net.http cannot do the latter): one request per connection
 * ({@code Connection: close}), a deadline for the whole exchange, and
 * {@link #cancel()} from another thread (a long poll is aborted when the
 * selection changes or the client closes).
 *
 * <p>Thread-safety: one call runs on one thread; {@link #cancel()} may be
 * called from any thread.
 */
final class AgentHttp {
  /** An HTTP answer. */
  record Response(int status, String body) {}

  /** Thrown by {@link #execute} after {@link #cancel()}. */
  static final class CancelledException extends IOException {
    private static final long serialVersionUID = 1L;

    CancelledException() {
      super("cancelled");
    }
  }

  private static final int MAX_RESPONSE = 64 << 20;

  private final AgentAddress address;
  private final String method;
  private final String target;
  private final String appHeader;
  private final byte[] body;
  private volatile boolean cancelled;
  private volatile Selector selector;

  AgentHttp(AgentAddress address, String method, String target, String appHeader, byte[] body) {
    this.address = address;
    this.method = method;
    this.target = target;
    this.appHeader = appHeader;
    this.body = body;
  }

  /** One request; IOException on connection errors, timeouts and malformed answers. */
  static Response call(AgentAddress address, String method, String target, String body,
      Duration timeout) throws IOException {
    return new AgentHttp(address, method, target, null,
        body == null ? null : body.getBytes(StandardCharsets.UTF_8)).execute(timeout);
  }

  /** Aborts a running or future {@link #execute}. */
  void cancel() {
    cancelled = true;
    Selector s = selector;
    if (s != null) s.wakeup();
  }

  Response execute(Duration timeout) throws IOException {
    long deadline = System.nanoTime() + timeout.toNanos();
    StringBuilder head = new StringBuilder();
    head.append(method).append(' ').append(target).append(" HTTP/1.1\r\n");
    head.append("Host: ").append(address.hostHeader()).append("\r\n");
    head.append("Connection: close\r\n");
    head.append("Accept: application/json\r\n");
    if (appHeader != null) head.append("X-Kess-App: ").append(appHeader).append("\r\n");
    if (body != null) {
      head.append("Content-Type: application/json\r\n");
      head.append("Content-Length: ").append(body.length).append("\r\n");
    } else if (!method.equals("GET")) {
      head.append("Content-Length: 0\r\n");
    }
    head.append("\r\n");
    byte[] headBytes = head.toString().getBytes(StandardCharsets.ISO_8859_1);
    ByteBuffer out = ByteBuffer.allocate(headBytes.length + (body == null ? 0 : body.length));
    out.put(headBytes);
    if (body != null) out.put(body);
    out.flip();

    try (Selector sel = Selector.open();
        SocketChannel ch = address.isUnixSocket()
            ? SocketChannel.open(StandardProtocolFamily.UNIX)
            : SocketChannel.open()) {
      selector = sel;
      if (cancelled) throw new CancelledException();
      ch.configureBlocking(false);
      SelectionKey key;
      if (!ch.connect(address.socketAddress())) {
        key = ch.register(sel, SelectionKey.OP_CONNECT);
        while (!ch.finishConnect()) await(sel, deadline);
        key.interestOps(SelectionKey.OP_WRITE);
      } else {
        key = ch.register(sel, SelectionKey.OP_WRITE);
      }
      while (out.hasRemaining()) {
        if (ch.write(out) == 0) await(sel, deadline);
      }
      key.interestOps(SelectionKey.OP_READ);
      ByteArrayOutputStream in = new ByteArrayOutputStream();
      ByteBuffer buf = ByteBuffer.allocate(16384);
      while (true) {
        buf.clear();
        int n = ch.read(buf);
        if (n < 0) break;
        if (n == 0) {
          Response done = tryParse(in.toByteArray(), false);
          if (done != null) return done;
          await(sel, deadline);
          continue;
        }
        in.write(buf.array(), 0, n);
        if (in.size() > MAX_RESPONSE) throw new IOException("agent answer too large");
      }
      Response r = tryParse(in.toByteArray(), true);
      if (r == null) throw new IOException("agent closed the connection before a full answer");
      return r;
    } finally {
      selector = null;
    }
  }

  private void await(Selector sel, long deadline) throws IOException {
    long left = deadline - System.nanoTime();
    if (left <= 0) throw new SocketTimeoutException("agent did not answer in time");
    sel.select(Math.max(1, left / 1_000_000));
    sel.selectedKeys().clear();
    if (cancelled) throw new CancelledException();
  }

  // A complete answer in `data`, or null if more is needed. At EOF an answer
  // without Content-Length ends there.
  private static Response tryParse(byte[] data, boolean eof) throws IOException {
    int end = -1;
    for (int i = 0; i + 3 < data.length; i++) {
      if (data[i] == '\r' && data[i + 1] == '\n' && data[i + 2] == '\r' && data[i + 3] == '\n') {
        end = i;
        break;
      }
    }
    if (end < 0) return null;
    String[] lines = new String(data, 0, end, StandardCharsets.ISO_8859_1).split("\r\n");
    String[] status = lines[0].split(" ", 3);
    if (status.length < 2 || !status[0].startsWith("HTTP/1.")) {
      throw new IOException("malformed status line from the agent: " + lines[0]);
    }
    int code;
    try {
      code = Integer.parseInt(status[1]);
    } catch (NumberFormatException e) {
      throw new IOException("malformed status line from the agent: " + lines[0]);
    }
    long length = -1;
    boolean chunked = false;
    for (int i = 1; i < lines.length; i++) {
      int colon = lines[i].indexOf(':');
      if (colon < 0) continue;
      String name = lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT);
      String value = lines[i].substring(colon + 1).trim();
      if (name.equals("content-length")) {
        try {
          length = Long.parseLong(value);
        } catch (NumberFormatException e) {
          throw new IOException("bad Content-Length from the agent");
        }
      } else if (name.equals("transfer-encoding") && value.toLowerCase(Locale.ROOT).contains("chunked")) {
        chunked = true;
      }
    }
    int start = end + 4;
    if (chunked) {
      ByteArrayOutputStream body = new ByteArrayOutputStream();
      int p = start;
      while (true) {
        int lineEnd = indexOfCrlf(data, p);
        if (lineEnd < 0) return eofOrNull(eof);
        String sizeText = new String(data, p, lineEnd - p, StandardCharsets.ISO_8859_1);
        int semi = sizeText.indexOf(';');
        if (semi >= 0) sizeText = sizeText.substring(0, semi);
        int size;
        try {
          size = Integer.parseInt(sizeText.trim(), 16);
        } catch (NumberFormatException e) {
          throw new IOException("bad chunk size from the agent");
        }
        p = lineEnd + 2;
        if (size == 0) return new Response(code, body.toString(StandardCharsets.UTF_8));
        if (p + size + 2 > data.length) return eofOrNull(eof);
        body.write(data, p, size);
        p += size + 2;
      }
    }
    if (length >= 0) {
      if (data.length - start < length) return eofOrNull(eof);
      return new Response(code, new String(data, start, (int) length, StandardCharsets.UTF_8));
    }
    if (!eof) return null;
    return new Response(code, new String(data, start, data.length - start, StandardCharsets.UTF_8));
  }

  private static Response eofOrNull(boolean eof) throws IOException {
    if (eof) throw new IOException("truncated answer from the agent");
    return null;
  }

  private static int indexOfCrlf(byte[] data, int from) {
    for (int i = from; i + 1 < data.length; i++) {
      if (data[i] == '\r' && data[i + 1] == '\n') return i;
    }
    return -1;
  }
}
