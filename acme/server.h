// wotca-acme's transport: HTTP/1.1 over TLS with Boost.Beast and Asio
// (STYLE.md 1: it only moves bytes, enforces limits and maps failures to
// status codes; the protocol is the handler's). Shaped like Beast's
// example/http/server/async-ssl: a listener accepts on a strand, a session
// per connection does the TLS handshake, then reads and writes requests in
// turn (keep-alive), all on N threads running one io_context.
//
// Limits (STYLE.md 4): a request's header block is bounded by
// `max_header_bytes` (431 and close), its body by `max_body_bytes` (413 and
// close); each read, including the wait for the next keep-alive request and
// the TLS handshake, must finish within `read_timeout` or the connection is
// closed. TLS 1.2 and 1.3 only; ALPN offers http/1.1.
//
// No Boost in this header: main and tests see only values.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "acme/exchange.h"
#include "core/config/config.h"
#include "core/pki/ossl.h"
#include "core/util/error.h"

namespace wotca::acme {

// The server's certificate chain and key.
struct tls_identity {
  x509_ptr leaf;
  std::vector<x509_ptr> chain;  // intermediates, leaf's issuer first; not the root
  evp_pkey_ptr key;
};

// Loads data/public/acme-tls.pem (the leaf, optionally followed by its
// chain) and data/keys/acme-tls.key (mode 0600). If the PEM file holds only
// the leaf, public/class3.pem (its issuer) is sent as the chain. Checks that
// the key is the leaf's.
[[nodiscard]] result<tls_identity> load_tls_identity(const config& c);

struct tls_server_limits {
  std::size_t max_header_bytes = 16384;
  std::size_t max_body_bytes = 65536;
  std::chrono::seconds read_timeout{30};
  unsigned threads = 0;  // 0: one per core
};

// The limits of `acme.*` (max_request_bytes, read_timeout_seconds, threads;
// threads 0 becomes four per core, at least four).
[[nodiscard]] tls_server_limits limits_from(const acme_config& c);

using exchange_handler = std::function<http_exchange_response(const http_exchange_request&)>;
// A handler that may answer later: it calls the responder exactly once,
// from any thread (see exchange_responder).
using async_exchange_handler = std::function<void(const http_exchange_request&, exchange_responder)>;
// Adds headers to a problem the server answers by itself (a request over a
// limit, not HTTP/1.1, a handler that threw): the protocol's (Replay-Nonce).
using error_decorator = std::function<void(http_exchange_response&)>;

class tls_server {
 public:
  // Binds `host`:`port` (0: any free port), builds the TLS context from
  // `identity` and starts the threads. errc::io naming the address if it
  // cannot be bound, errc::crypto if OpenSSL refuses the identity. The
  // handler is called on the server's threads, concurrently, and must not
  // throw (an exception becomes a 500 and a log line).
  [[nodiscard]] static result<std::unique_ptr<tls_server>> start(const std::string& host, std::uint16_t port,
                                                                 const tls_server_limits& limits,
                                                                 const tls_identity& identity, exchange_handler handler);
  virtual ~tls_server() = default;

  // The bound port (the real one when 0 was asked).
  [[nodiscard]] virtual std::uint16_t port() const = 0;
  // Connections accepted from now on use the new handler; requests under
  // way finish with the old one.
  virtual void set_handler(exchange_handler handler) = 0;
  virtual void set_async_handler(async_exchange_handler handler) = 0;
  // Replaces the decorator of the server's own problem answers (none at
  // first); like the handler, on SIGHUP.
  virtual void set_error_decorator(error_decorator decorate) = 0;
  // Calls `fn` on one of the server's threads after `delay` (an
  // exchange_timer); never, if the server stops first.
  virtual void after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
  // A new TLS context for connections accepted from now on (SIGHUP); open
  // connections keep theirs. On error nothing changes.
  [[nodiscard]] virtual result<void> set_identity(const tls_identity& identity) = 0;
  // Prometheus text: connections, requests, handshake failures, timeouts,
  // requests refused by a limit.
  [[nodiscard]] virtual std::string metrics() const = 0;
  // Stops accepting, closes every connection and joins the threads.
  // Idempotent; the destructor calls it.
  virtual void stop() = 0;
};

}  // namespace wotca::acme
