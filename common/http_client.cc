#include "common/http_client.h"

#include <istream>
#include <memory>
#include <ostream>

#include "Poco/Exception.h"
#include "Poco/Net/HTTPClientSession.h"
#include "Poco/Net/HTTPRequest.h"
#include "Poco/Net/HTTPResponse.h"
#include "Poco/Net/NetException.h"
#include "Poco/Net/SocketAddress.h"
#include "Poco/Net/StreamSocket.h"
#include "Poco/StreamCopier.h"
#include "Poco/String.h"
#include "absl/strings/match.h"
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
    const std::vector<std::pair<std::string, std::string>>& headers,
    HttpFailure* failure) {
  HttpFailure ignored;
  if (failure == nullptr) failure = &ignored;
  *failure = HttpFailure();
  const bool unix_socket = absl::StartsWith(address, "unix:");
  const size_t colon = address.rfind(':');
  int port = 0;
  std::string host = colon == std::string::npos ? "" : address.substr(0, colon);
  if (!host.empty() && host.front() == '[') {
    host = host.size() >= 3 && host.back() == ']'
               ? host.substr(1, host.size() - 2)
               : "";
  }
  if (!unix_socket && (host.empty() || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port <= 0 || port > 65535)) {
    failure->reason = "not host:port";
    return absl::InvalidArgumentError(
        absl::StrCat("bad HTTP address \"", address, "\" (want host:port)"));
  }
  if (unix_socket && address.size() <= 5) {
    failure->reason = "no socket path";
    return absl::InvalidArgumentError(
        absl::StrCat("bad HTTP address \"", address, "\" (want unix:<path>)"));
  }
  const std::string what =
      unix_socket ? absl::StrCat(method, " ", address, " ", uri)
                  : absl::StrCat(method, " http://", address, uri);
  const std::string timed_out =
      absl::StrCat("timed out after ", absl::FormatDuration(timeout));
  try {
    const int64_t us = absl::ToInt64Microseconds(timeout);
    const Poco::Timespan span(us / 1000000, us % 1000000);
    std::unique_ptr<Poco::Net::HTTPClientSession> session_holder;
    if (unix_socket) {
      Poco::Net::StreamSocket socket;
      socket.connect(Poco::Net::SocketAddress(
                         Poco::Net::SocketAddress::UNIX_LOCAL,
                         address.substr(5)),
                     span);
      session_holder = std::make_unique<Poco::Net::HTTPClientSession>(socket);
    } else {
      session_holder = std::make_unique<Poco::Net::HTTPClientSession>(
          host, static_cast<Poco::UInt16>(port));
    }
    Poco::Net::HTTPClientSession& session = *session_holder;
    session.setTimeout(span, span, span);
    Poco::Net::HTTPRequest request(method, uri,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    if (unix_socket) request.setHost("localhost");
    request.setContentLength(static_cast<std::streamsize>(body.size()));
    if (!body.empty()) request.setContentType("application/json");
    for (const auto& [name, value] : headers) request.set(name, value);
    std::ostream& out = session.sendRequest(request);
    out.write(body.data(), static_cast<std::streamsize>(body.size()));
    out.flush();
    if (!out) {
      failure->reason = "sending the request failed";
      return absl::UnavailableError(absl::StrCat(what, ": ", failure->reason));
    }
    failure->sent = true;
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
  } catch (const Poco::Net::ConnectionRefusedException&) {
    failure->reason = "connection refused";
    return absl::UnavailableError(absl::StrCat(what, ": ", failure->reason));
  } catch (const Poco::TimeoutException& e) {
    failure->reason = timed_out;
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": no answer within ", absl::FormatDuration(timeout),
                     " (", e.displayText(), ")"));
  } catch (const Poco::Exception& e) {
    failure->reason = e.displayText();
    return absl::UnavailableError(absl::StrCat(what, ": ", e.displayText()));
  } catch (const std::exception& e) {
    failure->reason = e.what();
    return absl::UnavailableError(absl::StrCat(what, ": ", e.what()));
  }
}

}  // namespace kess
