#include "sdk/testing/test_util.h"

#include <stdlib.h>

#include "common/http_server.h"

namespace kess {
namespace sdk {
namespace testing {

std::string MakeTempDir(const std::string& prefix) {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl =
      std::string(base ? base : "/tmp") + "/" + prefix + "XXXXXX";
  return mkdtemp(tmpl.data()) == nullptr ? "" : tmpl;
}

absl::StatusOr<std::unique_ptr<FakeAgent>> FakeAgent::Start(int port) {
  std::unique_ptr<FakeAgent> agent(new FakeAgent());
  HttpServer::Options options;
  options.port = port;
  options.registry = &agent->registry_;
  KESS_ASSIGN_OR_RETURN(agent->server_, HttpServer::Create(options));
  FakeAgent* raw = agent.get();
  agent->server_->Handle(
      "POST", "/v1/subscriptions", [raw](const HttpRequest& request) {
        absl::MutexLock lock(&raw->mu_);
        raw->last_body_ = request.body;
        raw->post_bodies_.push_back(request.body);
        ++raw->posts_;
        return HttpResponse::Json(200, "{\"subscriptions\":[]}");
      });
  agent->server_->Handle(
      "DELETE", "/v1/subscriptions", [raw](const HttpRequest& request) {
        absl::MutexLock lock(&raw->mu_);
        raw->delete_bodies_.push_back(request.body);
        return HttpResponse::Json(200, "{\"subscriptions\":[]}");
      });
  KESS_RETURN_IF_ERROR(agent->server_->Start());
  return agent;
}

int FakeAgent::posts() const {
  absl::MutexLock lock(&mu_);
  return posts_;
}

std::vector<std::string> FakeAgent::delete_bodies() const {
  absl::MutexLock lock(&mu_);
  return delete_bodies_;
}

std::vector<std::string> FakeAgent::post_bodies() const {
  absl::MutexLock lock(&mu_);
  return post_bodies_;
}

std::string FakeAgent::last_body() const {
  absl::MutexLock lock(&mu_);
  return last_body_;
}

}  // namespace testing
}  // namespace sdk
}  // namespace kess
