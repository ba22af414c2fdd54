package kess;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The agent's unix-domain socket (--api_socket): registration and deregistration over it. */
class UnixSocketTest {
  @Test
  void registersAndDeregistersOverTheSocket(@TempDir Path dir) throws Exception {
    Path socket = dir.resolve("agent.sock");
    List<String> requests = new CopyOnWriteArrayList<>();
    try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      server.bind(UnixDomainSocketAddress.of(socket));
      Thread t = new Thread(() -> {
        // One request per connection (the client sends Connection: close).
        for (int i = 0; i < 2; i++) {
          try (SocketChannel c = server.accept()) {
            ByteArrayOutputStream in = new ByteArrayOutputStream();
            ByteBuffer buf = ByteBuffer.allocate(4096);
            while (true) {
              String text = in.toString(StandardCharsets.UTF_8);
              int end = text.indexOf("\r\n\r\n");
              if (end >= 0) {
                int length = 0;
                for (String h : text.substring(0, end).split("\r\n")) {
                  if (h.toLowerCase().startsWith("content-length:")) length = Integer.parseInt(h.substring(15).trim());
                }
                if (in.size() >= end + 4 + length) break;
              }
              buf.clear();
              if (c.read(buf) < 0) break;
              in.write(buf.array(), 0, buf.position());
            }
            requests.add(in.toString(StandardCharsets.UTF_8));
            c.write(ByteBuffer.wrap("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
                .getBytes(StandardCharsets.UTF_8)));
          } catch (Exception e) {
            return;
          }
        }
      });
      t.setDaemon(true);
      t.start();
      try (Registration r = Registration.builder().agent("unix:" + socket).service("svc").id("i1")
          .address("127.0.0.1:9000").httpTimeout(Duration.ofSeconds(5)).register()) {
        assertEquals("svc", r.service());
      }
      t.join(10_000);
    }
    assertEquals(2, requests.size());
    assertTrue(requests.get(0).startsWith("PUT /v1/services/svc/instances/i1 HTTP/1.1\r\n"), requests.get(0));
    assertTrue(requests.get(0).contains("\r\nHost: localhost\r\n"));
    assertTrue(requests.get(0).endsWith("{\"address\":\"127.0.0.1:9000\",\"weight\":100,\"metadata\":{},\"checks\":[]}"));
    assertTrue(requests.get(1).startsWith("DELETE /v1/services/svc/instances/i1 HTTP/1.1\r\n"), requests.get(1));
  }
}
