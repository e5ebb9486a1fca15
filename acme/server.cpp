#include "acme/server.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <algorithm>
#include <thread>

#include "core/ca/material.h"

namespace wotca::acme {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

namespace {

void log_line(const std::string& s) {
  std::string line = "wotca-acme: " + s + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

// Every certificate after the first in a PEM file (the chain a leaf file
// may carry). An unreadable file yields none: the leaf was read already.
std::vector<x509_ptr> chain_after_leaf(const std::filesystem::path& pem) {
  std::vector<x509_ptr> out;
  std::ifstream in(pem, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  bio_ptr bio(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
  if (!bio) return out;
  bool first = true;
  while (x509_ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    if (!first) out.push_back(std::move(cert));
    first = false;
  }
  (void)drain_openssl_errors();  // the end of the file reads as an error
  return out;
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen, void*) {
  static const unsigned char ours[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, ours, sizeof ours, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;  // a client that offers no http/1.1 gets no ALPN, not an alert
}

result<std::shared_ptr<ssl::context>> make_context(const tls_identity& id) {
  if (!id.leaf || !id.key) return fail(errc::config, "acme-tls", "the TLS identity has no certificate or no key");
  try {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use |
                     ssl::context::no_compression);
    SSL_CTX* native = ctx->native_handle();
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate(native, id.leaf.get()) != 1 || SSL_CTX_use_PrivateKey(native, id.key.get()) != 1 ||
        SSL_CTX_check_private_key(native) != 1) {
      return fail(errc::crypto, "acme-tls", "OpenSSL refused the TLS certificate or key: " + drain_openssl_errors());
    }
    for (const auto& c : id.chain) {
      if (SSL_CTX_add1_chain_cert(native, c.get()) != 1) {
        return fail(errc::crypto, "acme-tls", "OpenSSL refused a chain certificate: " + drain_openssl_errors());
      }
    }
    SSL_CTX_set_alpn_select_cb(native, select_alpn, nullptr);
    return ctx;
  } catch (const std::exception& e) {
    return fail(errc::crypto, "acme-tls", std::string("cannot make the TLS context: ") + e.what());
  }
}

std::string problem_json(std::string_view type, std::string_view detail) {
  return "{\"type\":\"urn:ietf:params:acme:error:" + std::string(type) + "\",\"detail\":\"" + std::string(detail) +
         "\",\"status\":";
}

struct counters {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::int64_t> open_connections{0};
  std::atomic<std::uint64_t> handshake_failures{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> too_large{0};
  std::atomic<std::uint64_t> bad_requests{0};
  std::atomic<std::uint64_t> handler_failures{0};
};

// What every session shares with the server; sessions hold it by
// shared_ptr, so it outlives the io_context's destruction of them.
struct shared_state {
  tls_server_limits limits;
  counters count;
  mutable std::mutex mu;
  std::shared_ptr<const async_exchange_handler> handler;
  std::shared_ptr<const error_decorator> decorate;
  std::shared_ptr<ssl::context> context;

  std::shared_ptr<const async_exchange_handler> current_handler() const {
    std::lock_guard lock(mu);
    return handler;
  }
  std::shared_ptr<const error_decorator> current_decorator() const {
    std::lock_guard lock(mu);
    return decorate;
  }
  // The problem document the server itself answers with, decorated as the
  // protocol wants (RFC 8555 6.5: a Replay-Nonce on errors too).
  http_exchange_response problem(unsigned status, std::string_view type, std::string_view detail) const {
    http_exchange_response out;
    out.status = status;
    out.set("Content-Type", "application/problem+json");
    out.body = problem_json(type, detail) + std::to_string(status) + "}";
    if (auto d = current_decorator(); d && *d) {
      try {
        (*d)(out);
      } catch (const std::exception&) {
        // The answer stands without the decoration.
      }
    }
    return out;
  }
  std::shared_ptr<ssl::context> current_context() const {
    std::lock_guard lock(mu);
    return context;
  }
};

async_exchange_handler asynchronous(exchange_handler handler) {
  return [handler = std::move(handler)](const http_exchange_request& req, exchange_responder respond) {
    respond(handler(req));
  };
}

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket&& socket, std::shared_ptr<shared_state> state)
      : state_(std::move(state)), context_(state_->current_context()), stream_(std::move(socket), *context_) {
    beast::error_code ec;
    auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
    state_->count.connections.fetch_add(1, std::memory_order_relaxed);
    state_->count.open_connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~session() { state_->count.open_connections.fetch_sub(1, std::memory_order_relaxed); }

  void run() {
    asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&session::start, shared_from_this()));
  }

 private:
  void start() {
    beast::get_lowest_layer(stream_).expires_after(state_->limits.read_timeout);
    stream_.async_handshake(ssl::stream_base::server,
                            beast::bind_front_handler(&session::on_handshake, shared_from_this()));
  }

  void on_handshake(beast::error_code ec) {
    if (ec) {
      if (ec == beast::error::timeout) state_->count.timeouts.fetch_add(1, std::memory_order_relaxed);
      state_->count.handshake_failures.fetch_add(1, std::memory_order_relaxed);
      (void)drain_openssl_errors();
      return;  // the socket closes with the session
    }
    read();
  }

  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(state_->limits.max_header_bytes));
    parser_->body_limit(state_->limits.max_body_bytes);
    beast::get_lowest_layer(stream_).expires_after(state_->limits.read_timeout);
    // The header first, then the body: Beast 1.74 drops the body_limit
    // error of a Content-Length over the limit when the header is parsed in
    // eager mode, which http::async_read sets.
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t n) {
    if (ec || parser_->is_done()) return on_read(ec, n);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == asio::ssl::error::stream_truncated) return close();
    if (ec == beast::error::timeout) {
      state_->count.timeouts.fetch_add(1, std::memory_order_relaxed);
      return;  // a peer that stalls gets no TLS close_notify
    }
    if (ec == http::error::body_limit) {
      state_->count.too_large.fetch_add(1, std::memory_order_relaxed);
      return refuse(413, "malformed",
                    "the request body exceeds " + std::to_string(state_->limits.max_body_bytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
      state_->count.too_large.fetch_add(1, std::memory_order_relaxed);
      return refuse(431, "malformed",
                    "the request header exceeds " + std::to_string(state_->limits.max_header_bytes) + " bytes");
    }
    if (ec) {
      if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
        state_->count.bad_requests.fetch_add(1, std::memory_order_relaxed);
        return refuse(400, "malformed", "the request is not valid HTTP/1.1");
      }
      return;  // reset, TLS error: nothing to answer
    }
    state_->count.requests.fetch_add(1, std::memory_order_relaxed);
    const auto& req = parser_->get();
    http_exchange_request in;
    in.method = std::string(req.method_string());
    in.target = std::string(req.target());
    if (auto it = req.find(http::field::content_type); it != req.end()) in.content_type = std::string(it->value());
    in.body = std::move(parser_->get().body());  // the parser's copy is not read again
    in.remote = remote_;
    const bool head = req.method() == http::verb::head;
    const bool keep_alive = req.keep_alive();
    const unsigned version = req.version();

    // The answer may come later and from another thread (a challenge POST
    // waiting for its validation): it is written on this session's strand,
    // once. Nothing else happens on the connection meanwhile.
    auto once = std::make_shared<std::atomic<bool>>(false);
    exchange_responder respond = [self = shared_from_this(), once, head, keep_alive,
                                  version](http_exchange_response out) {
      if (once->exchange(true)) return;
      asio::dispatch(self->stream_.get_executor(), [self, out = std::move(out), head, keep_alive, version]() mutable {
        self->write(std::move(out), head, keep_alive, version);
      });
    };
    auto handler = state_->current_handler();
    try {
      (*handler)(in, respond);
    } catch (const std::exception& e) {
      state_->count.handler_failures.fetch_add(1, std::memory_order_relaxed);
      log_line(in.method + " " + in.target.substr(0, 200) + " from " + remote_ + ": internal error: " + e.what());
      respond(state_->problem(500, "serverInternal", "internal error"));
    }
  }

  // Answers a request that broke a limit or the syntax, then closes: the
  // rest of what the peer sent cannot be framed any more.
  void refuse(unsigned status, std::string_view type, const std::string& detail) {
    draining_ = true;
    write(state_->problem(status, type, detail), false, false, 11);
  }

  void write(http_exchange_response out, bool head, bool keep_alive, unsigned version) {
    // The parser still holds the request being answered (read() makes a new one).
    if (out.status >= 500 && parser_) {
      const auto& req = parser_->get();
      log_line(std::string(req.method_string()) + " " + std::string(req.target().substr(0, 200)) + " from " + remote_ +
               " -> " + std::to_string(out.status));
    }
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(version);
    res->result(out.status);
    for (auto& [name, value] : out.headers) res->insert(name, value);
    res->keep_alive(keep_alive);
    const bool no_body = (out.status >= 100 && out.status < 200) || out.status == 204 || out.status == 304;
    if (head) {
      // RFC 9110 9.3.2: the same header fields as GET, no content.
      if (!no_body) res->content_length(out.body.size());
    } else if (!no_body) {
      res->body() = std::move(out.body);
      res->content_length(res->body().size());
    }
    response_ = res;
    beast::get_lowest_layer(stream_).expires_after(state_->limits.read_timeout);
    http::async_write(stream_, *res,
                      beast::bind_front_handler(&session::on_write, shared_from_this(), !keep_alive || res->need_eof()));
  }

  void on_write(bool close_after, beast::error_code ec, std::size_t) {
    response_.reset();
    if (ec) return;
    if (close_after && draining_) {
      beast::get_lowest_layer(stream_).expires_after(state_->limits.read_timeout);  // in all, not per read
      drained_ = buffer_.size();
      return drain();
    }
    if (close_after) return close();
    read();
  }

  // After a refusal the peer may still be sending the rest of its request.
  // Closing a socket with unread bytes makes the kernel reset the
  // connection, and a client still sending loses the answer it was about
  // to read (curl: "connection reset"). So what it sends is read and
  // dropped until it closes, up to max_drained_bytes and for at most
  // read_timeout in all, and only then is the connection closed.
  void drain() {
    buffer_.clear();
    if (drained_ > max_drained_bytes) return;  // a peer that keeps on sending: the reset is its own doing
    stream_.async_read_some(buffer_.prepare(16384), beast::bind_front_handler(&session::on_drain, shared_from_this()));
  }
  void on_drain(beast::error_code ec, std::size_t n) {
    if (ec == asio::error::eof) return close();  // the peer's close_notify: answer it
    if (ec) return;  // closed without close_notify, reset, timed out: nothing more to say
    drained_ += n;
    drain();
  }

  void close() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    stream_.async_shutdown(beast::bind_front_handler(&session::on_shutdown, shared_from_this()));
  }
  void on_shutdown(beast::error_code) {}

  // Member order matters: the context must outlive the stream built on it.
  std::shared_ptr<shared_state> state_;
  std::shared_ptr<ssl::context> context_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> response_;
  std::string remote_;
  static constexpr std::size_t max_drained_bytes = 1 << 20;
  bool draining_ = false;    // the request was refused unread: drain before closing
  std::size_t drained_ = 0;  // bytes dropped since
};

class server_impl final : public tls_server {
 public:
  server_impl(std::shared_ptr<shared_state> state, unsigned threads)
      : state_(std::move(state)), threads_n_(threads), engine_(std::make_unique<engine>(static_cast<int>(threads))) {}

  ~server_impl() override { stop(); }

  result<void> open(const std::string& host, std::uint16_t port) {
    beast::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec) return fail(errc::config, "acme.listen", "'" + host + "' is not an IP address");
    const tcp::endpoint ep(address, port);
    const std::string where = (address.is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(port);
    auto& acceptor = engine_->acceptor;
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail(errc::io, "acme.listen", "cannot listen on " + where + ": " + ec.message());
    port_ = acceptor.local_endpoint(ec).port();
    accept();
    for (unsigned i = 0; i < threads_n_; ++i) threads_.emplace_back([this] { engine_->ioc.run(); });
    return {};
  }

  std::uint16_t port() const override { return port_; }

  void set_handler(exchange_handler handler) override { set_async_handler(asynchronous(std::move(handler))); }

  void set_async_handler(async_exchange_handler handler) override {
    auto h = std::make_shared<const async_exchange_handler>(std::move(handler));
    std::lock_guard lock(state_->mu);
    state_->handler = std::move(h);
  }

  void set_error_decorator(error_decorator decorate) override {
    auto d = std::make_shared<const error_decorator>(std::move(decorate));
    std::lock_guard lock(state_->mu);
    state_->decorate = std::move(d);
  }

  void after(std::chrono::milliseconds delay, std::function<void()> fn) override {
    auto timer = std::make_shared<asio::steady_timer>(engine_->ioc, delay);
    timer->async_wait([timer, fn = std::move(fn)](beast::error_code ec) {
      if (!ec) fn();
    });
  }

  result<void> set_identity(const tls_identity& identity) override {
    auto ctx = make_context(identity);
    if (!ctx) return unexpected(ctx.error());
    std::lock_guard lock(state_->mu);
    state_->context = std::move(*ctx);
    return {};
  }

  std::string metrics() const override {
    const auto& c = state_->count;
    auto metric = [](const char* name, const char* type, const char* help, std::int64_t v) {
      return std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
             std::to_string(v) + "\n";
    };
    std::string out;
    out += metric("wotca_acme_tls_connections_total", "counter", "TCP connections accepted.",
                  static_cast<std::int64_t>(c.connections.load()));
    out += metric("wotca_acme_tls_open_connections", "gauge", "Connections open now.", c.open_connections.load());
    out += metric("wotca_acme_tls_handshake_failures_total", "counter", "TLS handshakes that failed or timed out.",
                  static_cast<std::int64_t>(c.handshake_failures.load()));
    out += metric("wotca_acme_http_requests_total", "counter", "HTTP requests read completely.",
                  static_cast<std::int64_t>(c.requests.load()));
    out += metric("wotca_acme_http_read_timeouts_total", "counter", "Connections closed by the read timeout.",
                  static_cast<std::int64_t>(c.timeouts.load()));
    out += metric("wotca_acme_http_too_large_total", "counter", "Requests refused by the header or body limit.",
                  static_cast<std::int64_t>(c.too_large.load()));
    out += metric("wotca_acme_http_bad_requests_total", "counter", "Requests that were not valid HTTP/1.1.",
                  static_cast<std::int64_t>(c.bad_requests.load()));
    out += metric("wotca_acme_http_handler_failures_total", "counter", "Requests whose handler threw.",
                  static_cast<std::int64_t>(c.handler_failures.load()));
    return out;
  }

  // Requests being handled finish (their threads are joined); then the
  // io_context is destroyed, which destroys every session and so closes
  // every connection and the listening socket.
  void stop() override {
    std::call_once(stopped_, [this] {
      engine_->work.reset();
      engine_->ioc.stop();
      for (auto& t : threads_) t.join();
      threads_.clear();
      beast::error_code ec;
      engine_->acceptor.close(ec);
      engine_.reset();
    });
  }

 private:
  // Everything Asio: destroyed together in stop(), the io_context last.
  struct engine {
    asio::io_context ioc;
    tcp::acceptor acceptor;
    asio::steady_timer retry;
    asio::executor_work_guard<asio::io_context::executor_type> work;
    explicit engine(int concurrency)
        : ioc(concurrency), acceptor(asio::make_strand(ioc)), retry(acceptor.get_executor()),
          work(asio::make_work_guard(ioc)) {}
  };

  void accept() {
    engine_->acceptor.async_accept(asio::make_strand(engine_->ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !engine_->acceptor.is_open()) return;
      if (ec) {
        // EMFILE and the like: say so, pause, and go on accepting.
        log_line("accept failed: " + ec.message());
        engine_->retry.expires_after(std::chrono::milliseconds(100));
        engine_->retry.async_wait([this](beast::error_code e) {
          if (!e) accept();
        });
        return;
      }
      std::make_shared<session>(std::move(socket), state_)->run();
      accept();
    });
  }

  std::shared_ptr<shared_state> state_;
  unsigned threads_n_;
  std::unique_ptr<engine> engine_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  std::once_flag stopped_;
};

}  // namespace

result<tls_identity> load_tls_identity(const config& c) {
  auto signer = load_signer(c, "acme-tls");
  if (!signer) return unexpected(signer.error());
  tls_identity id;
  id.leaf = std::move(signer->cert);
  id.key = std::move(signer->key);
  id.chain = chain_after_leaf(cert_path(c, "acme-tls"));
  if (id.chain.empty()) {
    auto issuer = load_certificate(cert_path(c, "class3"));
    if (!issuer) return unexpected(issuer.error());
    id.chain.push_back(std::move(*issuer));
  }
  return id;
}

tls_server_limits limits_from(const acme_config& c) {
  tls_server_limits l;
  l.max_body_bytes = static_cast<std::size_t>(c.max_request_bytes);
  l.read_timeout = std::chrono::seconds(c.read_timeout_seconds);
  // A request's thread waits for the store and the disk flush of its
  // commit (no socket work meanwhile): four threads per core keep the cores
  // busy while some wait.
  l.threads = c.threads != 0 ? static_cast<unsigned>(c.threads) : std::max(4u, 4 * std::thread::hardware_concurrency());
  return l;
}

result<std::unique_ptr<tls_server>> tls_server::start(const std::string& host, std::uint16_t port,
                                                      const tls_server_limits& limits, const tls_identity& identity,
                                                      exchange_handler handler) {
  auto state = std::make_shared<shared_state>();
  state->limits = limits;
  auto ctx = make_context(identity);
  if (!ctx) return unexpected(ctx.error());
  state->context = std::move(*ctx);
  state->handler = std::make_shared<const async_exchange_handler>(asynchronous(std::move(handler)));
  unsigned threads = limits.threads != 0 ? limits.threads : std::max(1u, std::thread::hardware_concurrency());
  try {
    auto server = std::make_unique<server_impl>(state, threads);
    if (auto r = server->open(host, port); !r) return unexpected(r.error());
    return std::unique_ptr<tls_server>(std::move(server));
  } catch (const std::exception& e) {
    return fail(errc::io, "acme.listen", std::string("cannot start the server: ") + e.what());
  }
}

}  // namespace wotca::acme
