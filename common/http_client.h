// One HTTP/1.1 request with a timeout: what a mandator uses to forward a
// write to its leader, what the SDK uses to post its subscriptions to the
// agent, what kessctl sends to mandators, and the one HTTP client of the
// tests and benchmarks (no other HTTP client anywhere). Plain HTTP and unix
// sockets go through Poco's HTTPClientSession; HTTPS ("https://host:port")
// through OpenSSL.
//
// HTTPS always verifies the server, with no way to turn it off: its
// certificate chain against a CA bundle (HttpCallOptions::ca_file, else the
// process's default, SetDefaultHttpsCaFile: a daemon sets it from
// --tls_ca, kessctl from --ca, a test from its cluster's CA) and its name
// (the host name or IP address of the address, or
// HttpCallOptions::server_name) against the certificate's subjectAltName.
// TLS 1.2 or newer. Without any CA bundle an https:// call fails at once
// (FailedPrecondition); an untrusted or misnamed server fails its
// handshake (Unavailable, "TLS: the server's certificate ..."), before any
// byte of the request (or its Authorization header) is sent.
//
//   SetDefaultHttpsCaFile("/etc/kess/tls/ca.pem");
//   auto reply = HttpCall("https://m1.example:7300", "GET", "/api/v1/status");
//
// Thread-safe: each call uses its own connection; an HttpConnection is used
// by one thread at a time.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "common/status.h"

namespace kess {

struct HttpReply {
  int status = 0;
  std::string body;
  std::string content_type;
  std::map<std::string, std::string> headers;  // names lower-cased

  std::string Header(const std::string& lower_name) const;
};

// Why a call got no reply, for callers that fail over between servers.
struct HttpFailure {
  // The whole request was handed to the connection: a write may have been
  // applied although no answer came. False when the connection failed
  // (refused, unreachable, connect timeout) or the request could not be
  // written.
  bool sent = false;
  // Short and lower case: "connection refused", "timed out after 5s", or
  // the socket library's text.
  std::string reason;
};

// Sends `method` `uri` (path and query, already encoded) to `address`
// ("host:port", "[v6]:port" or "http://host:port" for HTTP,
// "https://host:port" for HTTPS, or "unix:<path>" for a unix-domain
// socket). InvalidArgument for a malformed address,
// Unavailable if the connection fails, DeadlineExceeded if the answer does
// not arrive within `timeout` (each of connect, send and receive). Any HTTP
// status is a reply, not an error. A JSON content type is set when `body`
// is not empty. When there is no reply and `failure` is not null, it says
// whether the request left and why it failed.
absl::StatusOr<HttpReply> HttpCall(
    const std::string& address, const std::string& method,
    const std::string& uri, const std::string& body = "",
    absl::Duration timeout = absl::Seconds(10),
    const std::vector<std::pair<std::string, std::string>>& headers = {},
    HttpFailure* failure = nullptr);

// The process-wide CA bundle (PEM file) of https:// calls that name none.
// Set once at start (a daemon's --tls_ca, kessctl's --ca); "" = none.
void SetDefaultHttpsCaFile(const std::string& ca_file);
std::string DefaultHttpsCaFile();

struct HttpCallOptions {
  // Each of connect (with the TLS handshake), send and every read.
  absl::Duration timeout = absl::Seconds(10);
  std::vector<std::pair<std::string, std::string>> headers;
  // HTTPS: the CA bundle the server's chain must verify against; "" = the
  // process default (SetDefaultHttpsCaFile).
  std::string ca_file;
  // HTTPS: the name (DNS or IP) the server's certificate must carry,
  // instead of the address's host; "" = the host.
  std::string server_name;
  // As HttpCall's `failure`.
  HttpFailure* failure = nullptr;
};

// HttpCall with options (a CA bundle of its own, a server name).
absl::StatusOr<HttpReply> HttpCall(const std::string& address,
                                   const std::string& method,
                                   const std::string& uri,
                                   const std::string& body,
                                   const HttpCallOptions& options);

// True for "https://..." addresses.
bool IsHttpsAddress(const std::string& address);

// One kept-alive HTTP/1.1 connection to "host:port", "http://host:port" or
// "https://host:port" (not unix:), for callers that send many requests to
// one server (benchmarks, kessctl's bulk commands). Requests go one after
// the other; a reply with "Connection: close", or any error, closes it and
// the next Call() connects again (with a new TLS handshake). Its own HTTP
// code for both schemes (no Poco), with HttpCall's verification.
class HttpConnection {
 public:
  HttpConnection(std::string address, HttpCallOptions options);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // As HttpCall, on this connection (connecting first when it is not open).
  // `close`: send "Connection: close" and close after the reply.
  absl::StatusOr<HttpReply> Call(const std::string& method,
                                 const std::string& uri,
                                 const std::string& body = "",
                                 bool close = false);
  // Open now (a reply may still have closed it on the server's side).
  bool open() const;
  // Connections made so far (1 + reconnects).
  int connects() const { return connects_; }

  class Impl;  // implementation detail

 private:
  std::string address_;
  HttpCallOptions options_;
  std::unique_ptr<Impl> impl_;
  int connects_ = 0;
};

}  // namespace kess
