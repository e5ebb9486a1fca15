// The TLS transport of wotca-acme with a trivial handler, driven by a Beast
// client over 127.0.0.1: keep-alive, HEAD, limits, TLS versions and ALPN,
// the certificate chain, certificate reload, the read timeout.
#include <catch2/catch.hpp>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <mutex>

#include "acme/server.h"
#include "loopback_peers.h"

using namespace wotca;
using namespace wotca::acme;
using namespace wotca::acme::testing;
using namespace std::chrono_literals;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;

namespace {

struct pki {
  test_cert ca = make_cert({{}, false, true, {}, nullptr, true});
  test_cert leaf = make_cert({{"localhost"}, false, true, {}, &ca, false});

  tls_identity identity() const {
    tls_identity id;
    id.leaf.reset(X509_dup(leaf.cert.get()));
    id.key.reset(EVP_PKEY_dup(leaf.key.get()));
    id.chain.emplace_back(X509_dup(ca.cert.get()));
    return id;
  }
};

// One TLS connection to the server under test, used synchronously.
struct client {
  asio::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  beast::ssl_stream<beast::tcp_stream> stream{ioc, configured(ctx)};  // after ctx is set up: SSL_new copies it
  beast::flat_buffer buffer;

  ssl::context& configured(ssl::context& c) {
    c.set_verify_mode(ssl::verify_none);
    return c;
  }

  explicit client(int max_version = 0, bool alpn = true) {
    SSL* s = stream.native_handle();
    if (max_version) SSL_set_max_proto_version(s, max_version);
    if (alpn) {
      static const unsigned char protos[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
      SSL_set_alpn_protos(s, protos, sizeof protos);
    }
    // A client that offers TLS 1.1 at most needs security level 0 in OpenSSL 3.
    if (max_version && max_version < TLS1_2_VERSION) SSL_set_security_level(s, 0);
  }

  beast::error_code connect(std::uint16_t port) {
    beast::error_code ec;
    beast::get_lowest_layer(stream).expires_after(5s);
    beast::get_lowest_layer(stream).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return ec;
    // Re-created per connection: ssl_stream cannot be reused, so `connect`
    // is called once per client.
    SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
    stream.handshake(ssl::stream_base::client, ec);
    return ec;
  }

  std::string alpn() {
    const unsigned char* p = nullptr;
    unsigned n = 0;
    SSL_get0_alpn_selected(stream.native_handle(), &p, &n);
    return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
  }

  std::string peer_subject() {
    x509_ptr peer(SSL_get1_peer_certificate(stream.native_handle()));
    if (!peer) return {};
    openssl_string_ptr s(X509_NAME_oneline(X509_get_subject_name(peer.get()), nullptr, 0));
    return s ? std::string(s.get()) : std::string();
  }

  int chain_length() {
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(stream.native_handle());
    return chain ? sk_X509_num(chain) : 0;
  }

  // Sends `req`, reads one response (without a body for HEAD). ec set on failure.
  http::response<http::string_body> exchange(http::request<http::string_body> req, beast::error_code& ec) {
    req.prepare_payload();
    http::write(stream, req, ec);
    http::response_parser<http::string_body> parser;
    if (req.method() == http::verb::head) parser.skip(true);
    if (!ec) http::read(stream, buffer, parser, ec);
    return parser.release();
  }
};

http::request<http::string_body> get(std::string target) {
  http::request<http::string_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "localhost");
  return req;
}

// Echoes what it was given; records every request.
struct recording_handler {
  std::mutex mu;
  std::vector<http_exchange_request> seen;

  exchange_handler handler() {
    return [this](const http_exchange_request& r) {
      {
        std::lock_guard lock(mu);
        seen.push_back(r);
      }
      if (r.target == "/throw") throw std::runtime_error("boom");
      http_exchange_response out;
      out.status = r.target == "/missing" ? 404 : 200;
      out.set("Content-Type", "text/plain");
      out.set("Link", "<https://x/a>;rel=\"up\"");
      out.set("Link", "<https://x/b>;rel=\"index\"");
      out.body = r.method + " " + r.target + " " + r.body;
      return out;
    };
  }
};

tls_server_limits small_limits() {
  tls_server_limits l;
  l.max_body_bytes = 1024;
  l.max_header_bytes = 4096;
  l.read_timeout = 1s;
  l.threads = 2;
  return l;
}

}  // namespace

TEST_CASE("tls_server: keep-alive GET and POST, repeated headers, ALPN, the chain", "[acme][server][loopback]") {
  pki p;
  recording_handler h;
  auto server = tls_server::start("127.0.0.1", 0, small_limits(), p.identity(), h.handler());
  REQUIRE(server);
  REQUIRE((*server)->port() != 0);

  client c;
  REQUIRE_FALSE(c.connect((*server)->port()));
  CHECK(c.alpn() == "http/1.1");
  CHECK(c.chain_length() == 2);  // the leaf and its issuer
  beast::error_code ec;
  auto r1 = c.exchange(get("/directory"), ec);
  REQUIRE_FALSE(ec);
  CHECK(r1.result_int() == 200);
  CHECK(r1.body() == "GET /directory ");
  CHECK(r1.keep_alive());
  auto links = r1.equal_range(http::field::link);
  CHECK(std::distance(links.first, links.second) == 2);

  http::request<http::string_body> post{http::verb::post, "/acme/new-order", 11};
  post.set(http::field::host, "localhost");
  post.set(http::field::content_type, "application/jose+json");
  post.body() = "{\"protected\":\"x\"}";
  auto r2 = c.exchange(post, ec);  // the same connection
  REQUIRE_FALSE(ec);
  CHECK(r2.body() == "POST /acme/new-order {\"protected\":\"x\"}");
  auto r3 = c.exchange(get("/missing"), ec);
  REQUIRE_FALSE(ec);
  CHECK(r3.result_int() == 404);

  std::lock_guard lock(h.mu);
  REQUIRE(h.seen.size() == 3);
  CHECK(h.seen[1].method == "POST");
  CHECK(h.seen[1].content_type == "application/jose+json");
  CHECK(h.seen[1].remote == "127.0.0.1");
  CHECK((*server)->metrics().find("wotca_acme_http_requests_total 3") != std::string::npos);
  CHECK((*server)->metrics().find("wotca_acme_tls_connections_total 1") != std::string::npos);
}

TEST_CASE("tls_server: HEAD has GET's headers and no body", "[acme][server][loopback]") {
  pki p;
  recording_handler h;
  auto server = tls_server::start("127.0.0.1", 0, small_limits(), p.identity(), h.handler());
  REQUIRE(server);
  client c;
  REQUIRE_FALSE(c.connect((*server)->port()));
  beast::error_code ec;
  auto head = get("/acme/new-nonce");
  head.method(http::verb::head);
  auto r = c.exchange(head, ec);
  REQUIRE_FALSE(ec);
  CHECK(r.result_int() == 200);
  CHECK(r[http::field::content_length] == std::to_string(std::string("HEAD /acme/new-nonce ").size()));
  CHECK(r.body().empty());
  // The connection is still in step: the next response is read whole.
  auto after = c.exchange(get("/next"), ec);
  REQUIRE_FALSE(ec);
  CHECK(after.body() == "GET /next ");
}

TEST_CASE("tls_server: bodies and headers over the limits get 413 and 431, then close", "[acme][server][loopback]") {
  pki p;
  recording_handler h;
  auto server = tls_server::start("127.0.0.1", 0, small_limits(), p.identity(), h.handler());
  REQUIRE(server);
  // The service's decoration (a Replay-Nonce, RFC 8555 6.5) reaches the
  // server's own problem answers.
  (*server)->set_error_decorator([](http_exchange_response& r) { r.set("Replay-Nonce", "n-" + std::to_string(r.status)); });
  // The second body is far beyond the socket buffers, with no Expect:
  // 100-continue: a server that closed right after its answer would reset
  // the connection while the client still writes, and the 413 would be lost.
  for (const std::size_t size : {std::size_t{2000}, std::size_t{900} << 10}) {
    client c;
    REQUIRE_FALSE(c.connect((*server)->port()));
    beast::error_code ec;
    http::request<http::string_body> big{http::verb::post, "/acme/new-account", 11};
    big.set(http::field::host, "localhost");
    big.body() = std::string(size, 'x');
    auto r = c.exchange(big, ec);
    INFO("body of " << size << " bytes");
    REQUIRE_FALSE(ec);
    CHECK(r.result_int() == 413);
    CHECK(r[http::field::content_type] == "application/problem+json");
    CHECK(r.body().find("1024") != std::string::npos);
    CHECK(r["Replay-Nonce"] == "n-413");
    CHECK_FALSE(r.keep_alive());
  }
  {
    client c;
    REQUIRE_FALSE(c.connect((*server)->port()));
    beast::error_code ec;
    auto req = get("/x");
    req.set("X-Padding", std::string(5000, 'p'));
    auto r = c.exchange(req, ec);
    REQUIRE_FALSE(ec);
    CHECK(r.result_int() == 431);
    CHECK(r["Replay-Nonce"] == "n-431");
  }
  std::lock_guard lock(h.mu);
  CHECK(h.seen.empty());
  CHECK((*server)->metrics().find("wotca_acme_http_too_large_total 3") != std::string::npos);
}

TEST_CASE("tls_server: a handler that throws gives 500, the server goes on", "[acme][server][loopback]") {
  pki p;
  recording_handler h;
  auto server = tls_server::start("127.0.0.1", 0, small_limits(), p.identity(), h.handler());
  REQUIRE(server);
  // A decorator that fails leaves the answer undecorated, not unanswered.
  (*server)->set_error_decorator([](http_exchange_response&) { throw std::runtime_error("no nonce"); });
  client c;
  REQUIRE_FALSE(c.connect((*server)->port()));
  beast::error_code ec;
  auto r = c.exchange(get("/throw"), ec);
  REQUIRE_FALSE(ec);
  CHECK(r.result_int() == 500);
  CHECK(r.body().find("serverInternal") != std::string::npos);
  CHECK(r.find("Replay-Nonce") == r.end());
  auto again = c.exchange(get("/fine"), ec);
  REQUIRE_FALSE(ec);
  CHECK(again.result_int() == 200);
}

TEST_CASE("tls_server: TLS 1.1 is refused, a client without ALPN is served", "[acme][server][loopback]") {
  pki p;
  recording_handler h;
  auto server = tls_server::start("127.0.0.1", 0, small_limits(), p.identity(), h.handler());
  REQUIRE(server);
  {
    client old(TLS1_1_VERSION);
    CHECK(old.connect((*server)->port()));
  }
  {
    client plain(0, false);
    REQUIRE_FALSE(plain.connect((*server)->port()));
    CHECK(plain.alpn().empty());
    beast::error_code ec;
    CHECK(plain.exchange(get("/x"), ec).result_int() == 200);
  }
  CHECK((*server)->metrics().find("wotca_acme_tls_handshake_failures_total 1") != std::string::npos);
}

TEST_CASE("tls_server: set_identity serves new connections the new certificate, old ones go on",
          "[acme][server][loopback]") {
  pki first;
  recording_handler h;
  auto server = tls_server::start("127.0.0.1", 0, small_limits(), first.identity(), h.handler());
  REQUIRE(server);
  client before;
  REQUIRE_FALSE(before.connect((*server)->port()));
  const std::string old_subject = before.peer_subject();

  pki second;
  second.leaf = make_cert({{"localhost", "acme.example"}, false, true, {}, &second.ca, false});
  REQUIRE((*server)->set_identity(second.identity()));
  client after;
  REQUIRE_FALSE(after.connect((*server)->port()));
  x509_ptr seen(SSL_get1_peer_certificate(after.stream.native_handle()));
  REQUIRE(seen);
  CHECK(X509_cmp(seen.get(), second.leaf.cert.get()) == 0);

  beast::error_code ec;
  CHECK(before.exchange(get("/still"), ec).result_int() == 200);
  CHECK_FALSE(ec);
  CHECK(before.peer_subject() == old_subject);

  // A key that is not the certificate's is refused and changes nothing.
  tls_identity broken = second.identity();
  broken.key = make_p256();
  CHECK_FALSE((*server)->set_identity(broken));
  client third;
  REQUIRE_FALSE(third.connect((*server)->port()));
  x509_ptr still(SSL_get1_peer_certificate(third.stream.native_handle()));
  CHECK(X509_cmp(still.get(), second.leaf.cert.get()) == 0);
}

TEST_CASE("tls_server: a silent connection is closed after the read timeout", "[acme][server][loopback]") {
  pki p;
  recording_handler h;
  auto server = tls_server::start("127.0.0.1", 0, small_limits(), p.identity(), h.handler());
  REQUIRE(server);
  asio::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), (*server)->port()));
  const auto start = std::chrono::steady_clock::now();
  char byte;
  boost::system::error_code ec;
  s.read_some(asio::buffer(&byte, 1), ec);  // blocks until the server closes
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(ec);
  CHECK(waited >= 900ms);
  CHECK(waited < 5s);
  // Idle keep-alive connections too.
  client c;
  REQUIRE_FALSE(c.connect((*server)->port()));
  beast::error_code e;
  REQUIRE(c.exchange(get("/x"), e).result_int() == 200);
  std::this_thread::sleep_for(1500ms);
  c.exchange(get("/y"), e);
  CHECK(e);
  CHECK((*server)->metrics().find("wotca_acme_http_read_timeouts_total 2") != std::string::npos);
}

TEST_CASE("tls_server: start refuses a bad address, stop is idempotent", "[acme][server][loopback]") {
  pki p;
  recording_handler h;
  auto bad = tls_server::start("localhost", 0, small_limits(), p.identity(), h.handler());
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::config);
  auto server = tls_server::start("127.0.0.1", 0, small_limits(), p.identity(), h.handler());
  REQUIRE(server);
  auto taken = tls_server::start("127.0.0.1", (*server)->port(), small_limits(), p.identity(), h.handler());
  REQUIRE_FALSE(taken);
  CHECK(taken.error().code == errc::io);
  CHECK(taken.error().message.find(std::to_string((*server)->port())) != std::string::npos);
  (*server)->stop();
  (*server)->stop();
  client c;
  CHECK(c.connect((*server)->port()));
}

TEST_CASE("tls_server: an async handler answers later, from the server's timer, on the same connection",
          "[acme][server][loopback]") {
  pki p;
  recording_handler h;
  auto server = tls_server::start("127.0.0.1", 0, small_limits(), p.identity(), h.handler());
  REQUIRE(server);
  tls_server& s = **server;
  std::atomic<int> answered{0};
  s.set_async_handler([&s, &answered](const http_exchange_request& r, exchange_responder respond) {
    if (r.target != "/later") {
      http_exchange_response now;
      now.body = "now";
      return respond(std::move(now));
    }
    s.after(50ms, [respond, &answered] {
      http_exchange_response later;
      later.body = "later";
      respond(later);
      ++answered;
      respond(later);  // a second call is ignored
    });
  });
  client c;
  REQUIRE_FALSE(c.connect(s.port()));
  beast::error_code ec;
  const auto start = std::chrono::steady_clock::now();
  auto r1 = c.exchange(get("/later"), ec);
  REQUIRE_FALSE(ec);
  CHECK(r1.body() == "later");
  CHECK(std::chrono::steady_clock::now() - start >= 50ms);
  auto r2 = c.exchange(get("/next"), ec);  // keep-alive goes on after the late answer
  REQUIRE_FALSE(ec);
  CHECK(r2.body() == "now");
  CHECK(answered == 1);
}
