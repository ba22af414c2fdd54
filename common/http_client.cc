#include "common/http_client.h"

#include <istream>

#include "Poco/Exception.h"
#include "Poco/Net/HTTPClientSession.h"
#include "Poco/Net/HTTPRequest.h"
#include "Poco/Net/HTTPResponse.h"
#include "Poco/Net/NetException.h"
#include "Poco/StreamCopier.h"
#include "Poco/String.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kess {

std::string HttpReply::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

absl::StatusOr<HttpReply> HttpCall(
    const std::string& address, const std::string& method,
    const std::string& uri, const std::string& body, absl::Duration timeout,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port <= 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad HTTP address \"", address, "\" (want host:port)"));
  }
  const std::string what = absl::StrCat(method, " http://", address, uri);
  try {
    Poco::Net::HTTPClientSession session(address.substr(0, colon),
                                         static_cast<Poco::UInt16>(port));
    const int64_t us = absl::ToInt64Microseconds(timeout);
    session.setTimeout(Poco::Timespan(us / 1000000, us % 1000000));
    Poco::Net::HTTPRequest request(method, uri,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    request.setContentLength(static_cast<std::streamsize>(body.size()));
    if (!body.empty()) request.setContentType("application/json");
    for (const auto& [name, value] : headers) request.set(name, value);
    session.sendRequest(request).write(
        body.data(), static_cast<std::streamsize>(body.size()));
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    HttpReply reply;
    reply.status = response.getStatus();
    reply.content_type = response.getContentType();
    for (const auto& [name, value] : response) {
      reply.headers[Poco::toLower(name)] = value;
    }
    Poco::StreamCopier::copyToString(in, reply.body);
    return reply;
  } catch (const Poco::TimeoutException& e) {
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": no answer within ", absl::FormatDuration(timeout),
                     " (", e.displayText(), ")"));
  } catch (const Poco::Exception& e) {
    return absl::UnavailableError(absl::StrCat(what, ": ", e.displayText()));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(what, ": ", e.what()));
  }
}

}  // namespace kess
