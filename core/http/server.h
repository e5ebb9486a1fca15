// The plain-HTTP server adapter of the OCSP, CRL and SCEP daemons, over
// libmicrohttpd (ARCHITECTURE.md "Why two HTTP stacks"). It only moves
// bytes, enforces the limits it is given and maps failures to status codes
// (STYLE.md 1, 4): the protocol lives in an http_handler, which sees the
// values of message.h and nothing of libmicrohttpd.
//
// What a client gets that the handler never sees:
//  - 413 (and the connection closed) for a body whose Content-Length is over
//    max_body_bytes, before any of it is read; a chunked body that grows
//    past the limit has its connection closed without an answer, because
//    libmicrohttpd 0.9.75 cannot queue a response in the middle of a body;
//  - 431 from libmicrohttpd (and the connection closed) when the request
//    line and header fields do not fit in max_header_bytes; 400 for
//    requests it cannot parse;
//  - 500 with an empty body when the handler throws (it should not: STYLE.md
//    7) or returns a response the adapter cannot send (see http_response);
//  - the connection closed after read_timeout without any bytes from the
//    client, idle keep-alive connections included.
// HEAD is answered by the handler like any method; libmicrohttpd sends the
// headers of its response (Content-Length included) and never the body.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/http/message.h"
#include "core/util/error.h"

struct MHD_Daemon;  // libmicrohttpd's, kept out of this header

namespace wotca {

// Called concurrently from the server's threads, one call per request; it
// must not block for long (each blocked call holds one thread and every
// connection that thread serves) and must not call stop() on its own server.
using http_handler = std::function<http_response(const http_request&)>;

// The defaults suit a public responder on a small machine; the daemons take
// every one from their configuration.
struct http_limits {
  std::size_t max_body_bytes = 65536;
  // A body over max_body_bytes is read and dropped, up to this many bytes,
  // so that 413 can follow it and every client reads the answer (see
  // server.cpp); beyond it, the connection is closed.
  std::size_t max_discarded_bytes = 1 << 20;
  // libmicrohttpd's memory per connection: it holds the request line, the
  // header fields and the read buffer, so it bounds the header size.
  std::size_t max_header_bytes = 32768;
  // The longest time a connection may stay without a byte received while a
  // request is read or while it idles between keep-alive requests; 0
  // disables it. It is a per-silence limit: a client dripping one byte per
  // interval is not cut off (libmicrohttpd 0.9.75 has no whole-request
  // deadline), max_connections bounds what such clients can hold.
  std::chrono::seconds read_timeout{10};
  unsigned threads = 0;  // 0: one per core
  unsigned max_connections = 10000;
};

class http_server {
 public:
  // Listens on `host` (an IPv4 or IPv6 literal, the latter with or without
  // brackets; "0.0.0.0" for every IPv4 address, "::" for every IPv4 and IPv6
  // address) and `port` (0: the kernel picks; port() says which), and calls
  // `handler` for every request until stop(). The port is bound without
  // SO_REUSEPORT, so a port another process (or server) listens on is an
  // error, never a silently shared one.
  // Errors: errc::invalid_input for a host that is no IP literal or an empty
  // handler; errc::io when libmicrohttpd cannot listen (port in use, no
  // permission, no such address), with the reason it gave.
  [[nodiscard]] static result<std::unique_ptr<http_server>> start(const std::string& host, std::uint16_t port,
                                                                 const http_limits& limits, http_handler handler);

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;
  ~http_server();  // stop()

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

  // Requests whose handling starts after this returns go to `handler`;
  // those already running finish with the old one, and no connection is
  // dropped (the daemons swap handlers on SIGHUP). An empty handler makes
  // every request answer 500. Safe to call from any thread.
  void set_handler(http_handler handler);

  // Closes the listening socket and every connection, and returns once all
  // server threads have ended (handlers running finish first). Idempotent;
  // call it from one thread, never from a handler of this server.
  void stop() noexcept;

 private:
  struct callbacks;  // libmicrohttpd's C callbacks, defined in server.cpp

  http_server(const http_limits& limits, std::shared_ptr<const http_handler> handler);
  [[nodiscard]] std::shared_ptr<const http_handler> current_handler() const noexcept;

  http_limits limits_;
  // Copied once per request under the mutex (held for a reference-count
  // increment, never during a handler call): a swap never waits for requests
  // in flight, and a request keeps the handler it started with alive until
  // it is done. Not std::atomic<std::shared_ptr>: GCC 12's load() releases
  // its internal lock with a relaxed store, a data race ThreadSanitizer
  // reports and weakly ordered CPUs could act on.
  mutable std::mutex handler_mutex_;
  std::shared_ptr<const http_handler> handler_;
  MHD_Daemon* daemon_ = nullptr;
  std::uint16_t port_ = 0;
};

}  // namespace wotca
