// An OpenSSL BIO over a connected socket whose writes never raise SIGPIPE
// (send with MSG_NOSIGNAL): a library must not depend on the process
// ignoring the signal. Every SSL object of kess uses it: the transport's
// and the HTTP server's (tls/tls_context.h) and HttpCall's HTTPS
// (http_client.h).
//
//   SSL* ssl = SSL_new(ctx);
//   if (!SetSocketBio(ssl, fd)) { SSL_free(ssl); ... }
//
// Thread-safety: the BIO, like the socket, is used by one thread at a time.
#pragma once

typedef struct ssl_st SSL;

namespace kess {

// Gives `ssl` a socket BIO on `fd` (not owned: closing it stays the
// caller's) for reading and writing. False if OpenSSL cannot allocate.
bool SetSocketBio(SSL* ssl, int fd);

}  // namespace kess
