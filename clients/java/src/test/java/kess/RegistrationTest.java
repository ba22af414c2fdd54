package kess;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RegistrationTest {
  @Test
  void registersRenewsAndDeregisters() throws Exception {
    try (FakeAgent agent = new FakeAgent()) {
      Registration r = Registration.builder().agent(agent.address()).service("checkout").id("c-1")
          .address("127.0.0.1:8080").weight(50).owner("deploy").metadata("version", "1.2")
          .httpCheck("http://127.0.0.1:8080/health", Duration.ofSeconds(1), Duration.ofMillis(500))
          .ttlCheck("c-1-ttl", Duration.ofMillis(300)).register();
      List<FakeAgent.Request> puts = agent.requests("PUT", "/v1/services/checkout/instances/c-1");
      assertEquals(1, puts.size());
      Map<String, Object> body = Json.parseObject(puts.get(0).body());
      assertEquals("127.0.0.1:8080", body.get("address"));
      assertEquals(50L, body.get("weight"));
      assertEquals("deploy", body.get("owner"));
      assertEquals(Map.of("version", "1.2"), body.get("metadata"));
      List<?> checks = (List<?>) body.get("checks");
      assertEquals(Map.of("kind", "http", "url", "http://127.0.0.1:8080/health", "interval", "1s", "timeout", "500ms"),
          checks.get(0));
      assertEquals(Map.of("id", "c-1-ttl", "kind", "ttl", "ttl", "300ms"), checks.get(1));
      // Renewals every ttl / 3, with the owner.
      assertTrue(TestCache.waitFor(() -> r.renewals() >= 3));
      assertTrue(agent.requests("PUT", "/v1/checks/c-1-ttl/pass?owner=deploy").size() >= 3);
      // The agent lost it: registered again.
      agent.setTtlStatus(404);
      assertTrue(TestCache.waitFor(() -> r.reRegistrations() >= 1));
      assertTrue(agent.requests("PUT", "/v1/services/checkout/instances/c-1").size() >= 2);
      agent.setTtlStatus(200);
      r.close();
      assertEquals(1, agent.requests("DELETE", "/v1/services/checkout/instances/c-1?owner=deploy").size());
      int after = agent.requests("PUT", "/v1/checks/").size();
      Thread.sleep(400);
      assertEquals(after, agent.requests("PUT", "/v1/checks/").size());
      r.close();  // idempotent
      assertEquals(1, agent.requests("DELETE", "/v1/services/").size());
    }
  }

  @Test
  void refusalsAndBadSettings() throws Exception {
    try (FakeAgent agent = new FakeAgent()) {
      agent.setRegisterStatus(409);
      AgentException e = assertThrows(AgentException.class, () -> Registration.builder().agent(agent.address())
          .service("s").id("i").address("127.0.0.1:1").register());
      assertEquals(409, e.status());
      assertThrows(IllegalArgumentException.class, () -> Registration.builder().agent(agent.address())
          .service("s").id("i").address("nope").register());
      assertThrows(IllegalArgumentException.class, () -> Registration.builder().agent(agent.address())
          .service("s").id("i").address("127.0.0.1:1").weight(0).register());
    }
  }
}
