#include "core/net/http_fetch.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/net/socket.h"

using namespace wotca;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

std::span<const std::uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

const fetch_limits small_limits{1000ms, 256, 64};

}  // namespace

TEST_CASE("parse_http_response: framing, limits and syntax", "[http]") {
  const std::string long_header = "X-Padding: " + std::string(250, 'p') + "\r\n";
  const std::string body64(64, 'b');
  const std::string body65(65, 'b');
  // rule, response, ok, status, body, location, part of the error message
  auto [rule, response, ok, status, body, location, error_part] =
      GENERATE_COPY(table<std::string, std::string, bool, int, std::string, std::string, std::string>({
          {"Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", true, 200, "hello", "", ""},
          {"Content-Length, any case, whitespace around the value",
           "HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: \t5 \r\n\r\nhello", true, 200, "hello", "", ""},
          {"Content-Length 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true, 200, "", "", ""},
          {"Content-Length at the body limit", "HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n" + body64, true, 200,
           body64, "", ""},
          {"duplicate Content-Length that agrees", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
           true, 200, "ok", "", ""},
          {"chunked with an extension and a trailer",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;name=value\r\n world\r\n0\r\n"
           "X-Checksum: 1\r\n\r\n",
           true, 200, "hello world", "", ""},
          {"chunked, upper-case hex and leading zeros",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n00A\r\n0123456789\r\n000\r\n\r\n", true, 200,
           "0123456789", "", ""},
          {"chunked, empty", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", true, 200, "", "", ""},
          {"body to the end of input, HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\ntoken", true,
           200, "token", "", ""},
          {"no reason phrase", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx", true, 200, "x", "", ""},
          {"empty reason phrase", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", true, 404, "", "", ""},
          {"204 has no body", "HTTP/1.1 204 No Content\r\n\r\n", true, 204, "", "", ""},
          {"301 with Location", "HTTP/1.1 301 Moved Permanently\r\nLocation: https://example.org/x\r\nContent-Length: 0\r\n\r\n",
           true, 301, "", "https://example.org/x", ""},
          {"Location outside 3xx is not kept", "HTTP/1.1 200 OK\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", true,
           200, "", "", ""},
          {"100 Continue before the response",
           "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true, 200, "ok", "", ""},
          {"obs-text in a value", "HTTP/1.1 200 OK\r\nX-Name: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n", true, 200,
           "", "", ""},

          {"empty input", "", false, 0, "", "", "without a response"},
          {"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", false, 0, "", "",
           "the response ended after 5 of 10 body bytes"},
          {"ends inside the headers", "HTTP/1.1 200 OK\r\nContent-Le", false, 0, "", "", "inside the headers"},
          {"ends before the blank line", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", false, 0, "", "",
           "inside the headers"},
          {"oversize headers", "HTTP/1.1 200 OK\r\n" + long_header + "\r\n", false, 0, "", "", "longer than 256 bytes"},
          {"oversize headers, never ending", "HTTP/1.1 200 OK\r\nX: " + std::string(300, 'a'), false, 0, "", "",
           "longer than 256 bytes"},
          {"oversize Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n" + body65, false, 0, "", "",
           "more than the limit of 64"},
          {"huge Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999999\r\n\r\n", false, 0,
           "", "", "more than the limit"},
          {"oversize body to the end", "HTTP/1.1 200 OK\r\n\r\n" + body65, false, 0, "", "", "longer than the limit"},
          {"oversize chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + body64 +
                                        "\r\n1\r\nx\r\n0\r\n\r\n",
           false, 0, "", "", "chunked body is longer"},
          {"huge chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n", false,
           0, "", "", "chunked body is longer"},
          {"chunk without CRLF after data", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n",
           false, 0, "", "", "not followed by CRLF"},
          {"chunked without the last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n", false,
           0, "", "", "inside the chunked body"},
          {"chunked without the final CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n",
           false, 0, "", "", "trailer section"},
          {"chunk size not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, 0, "", "",
           "no hex size"},
          {"chunk size with junk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 x\r\nok\r\n0\r\n\r\n", false,
           0, "", "", "malformed"},
          {"bad status line: HTTP/2", "HTTP/2 200 OK\r\n\r\n", false, 0, "", "", "not HTTP/1.0 or HTTP/1.1"},
          {"bad status line: two digits", "HTTP/1.1 20 OK\r\n\r\n", false, 0, "", "", "not HTTP/1.0 or HTTP/1.1"},
          {"bad status line: no space", "HTTP/1.1 200OK\r\n\r\n", false, 0, "", "", "not HTTP/1.0 or HTTP/1.1"},
          {"bad status line: ICY", "ICY 200 OK\r\n\r\n", false, 0, "", "", "not HTTP/1.0 or HTTP/1.1"},
          {"bad status line: lower case", "http/1.1 200 OK\r\n\r\n", false, 0, "", "", "not HTTP/1.0 or HTTP/1.1"},
          {"status out of range", "HTTP/1.1 600 Nope\r\n\r\n", false, 0, "", "", "out of range"},
          {"status 099", "HTTP/1.1 099 Nope\r\n\r\n", false, 0, "", "", "out of range"},
          {"101 unasked", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", false, 0, "", "",
           "switched protocols"},
          {"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", false, 0, "", "", "bare LF"},
          {"bare LF in a header", "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", false, 0, "", "", "bare LF"},
          {"bare CR", "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n", false, 0, "", "", "bare CR"},
          {"duplicate Content-Length that disagrees",
           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", false, 0, "", "", "disagree"},
          {"Content-Length list", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", false, 0, "", "",
           "not a number"},
          {"Content-Length with a sign", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", false, 0, "", "",
           "not a number"},
          {"Content-Length empty", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", false, 0, "", "", "not a number"},
          {"Content-Length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
           false, 0, "", "", "both Transfer-Encoding and Content-Length"},
          {"gzip transfer coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", false, 0,
           "", "", "not supported"},
          {"obs-fold", "HTTP/1.1 200 OK\r\nX-Long: a\r\n b\r\nContent-Length: 0\r\n\r\n", false, 0, "", "",
           "line folding"},
          {"header without a colon", "HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n", false, 0, "", "", "has no ':'"},
          {"space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", false, 0, "", "",
           "not a token"},
          {"NUL in a value", "HTTP/1.1 200 OK\r\nX: a\0b\r\nContent-Length: 0\r\n\r\n"s, false, 0, "", "",
           "control character"},
          {"two Locations that disagree", "HTTP/1.1 302 Found\r\nLocation: /a\r\nLocation: /b\r\n\r\n", false, 0, "",
           "", "two Location"},
          {"bytes after the Content-Length body", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",
           false, 0, "", "", "follow the end"},
          {"bytes after a 204", "HTTP/1.1 204 No Content\r\n\r\nbody", false, 0, "", "", "follow the end"},
      }));
  CAPTURE(rule);
  auto reply = parse_http_response(as_bytes(response), small_limits);
  CAPTURE(reply ? std::string("ok") : reply.error().message);
  REQUIRE(reply.has_value() == ok);
  if (reply) {
    CHECK(reply->status == status);
    CHECK(reply->body == body);
    CHECK(reply->location.value_or("") == location);
    CHECK(reply->location.has_value() == !location.empty());
  } else {
    CHECK(reply.error().code == errc::invalid_input);
    CHECK(reply.error().where == "http_response");
    CHECK(reply.error().message.find(error_part) != std::string::npos);
  }
}

TEST_CASE("parse_http_response never reads past a cut response", "[http]") {
  const std::string full =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: 1\r\n\r\n";
  REQUIRE(parse_http_response(as_bytes(full), small_limits));
  for (std::size_t n = 0; n < full.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(parse_http_response(as_bytes(full.substr(0, n)), small_limits).has_value());
  }
}

TEST_CASE("is_private_address", "[http]") {
  auto [address, refused] = GENERATE(table<std::string, bool>({
      // IPv4 special-purpose blocks (RFC 6890) and their edges
      {"0.0.0.0", true},
      {"0.255.255.255", true},
      {"1.0.0.1", false},
      {"9.255.255.255", false},
      {"10.0.0.1", true},
      {"11.0.0.1", false},
      {"100.63.255.255", false},
      {"100.64.0.1", true},
      {"100.127.255.255", true},
      {"100.128.0.0", false},
      {"127.0.0.1", true},
      {"127.255.255.254", true},
      {"169.254.169.254", true},
      {"169.255.0.1", false},
      {"172.15.255.255", false},
      {"172.16.0.1", true},
      {"172.31.255.255", true},
      {"172.32.0.0", false},
      {"192.0.0.8", true},
      {"192.0.1.1", false},
      {"192.0.2.10", true},
      {"192.168.1.1", true},
      {"192.169.0.1", false},
      {"198.17.255.255", false},
      {"198.18.0.1", true},
      {"198.19.255.255", true},
      {"198.20.0.0", false},
      {"198.51.100.7", true},
      {"203.0.113.9", true},
      {"203.0.114.1", false},
      {"224.0.0.1", true},
      {"239.255.255.255", true},
      {"240.0.0.1", true},
      {"255.255.255.255", true},
      {"8.8.8.8", false},
      {"93.184.216.34", false},
      {"223.255.255.255", false},
      // IPv6
      {"::", true},
      {"::1", true},
      {"::8.8.8.8", true},
      {"::ffff:127.0.0.1", true},
      {"::ffff:10.1.2.3", true},
      {"::ffff:8.8.8.8", false},
      {"::ffff:7f00:1", true},
      {"64:ff9b::192.168.0.1", true},
      {"64:ff9b::8.8.8.8", false},
      {"64:ff9b:1::1", true},
      {"100::1", true},
      {"2001::1", true},
      {"2001:1ff::1", true},
      {"2001:200::1", false},
      {"2001:db8::1", true},
      {"2001:db9::1", false},
      {"2002:c0a8:0101::1", true},
      {"2002:0808:0808::1", false},
      {"2606:4700:4700::1111", false},
      {"2a00:1450:4001:80b::200e", false},
      {"3fff::1", true},
      {"fc00::1", true},
      {"fdff:ffff::1", true},
      {"fe80::1", true},
      {"febf::1", true},
      {"fec0::1", true},
      {"ff02::1", true},
      {"FF02::1", true},
      // not an IP literal: refused
      {"", true},
      {"localhost", true},
      {"example.org", true},
      {"fe80::1%eth0", true},
      {"[::1]", true},
      {"127.1", true},
      {"0x7f.0.0.1", true},
      {"017.0.0.1", true},
      {"8.8.8.8 ", true},
      {"1.2.3.4.5", true},
  }));
  CAPTURE(address);
  CHECK(is_private_address(address) == refused);
}

namespace {

// One connection's worth of HTTP server on 127.0.0.1, run in a thread. It
// reads the request head, then behaves as told. No Catch2 macros run in the
// thread; the test reads `request()` after the server has stopped.
class test_http_server {
 public:
  enum class behaviour {
    answer_and_close,  // send `response`, close
    answer_and_hold,   // send `response`, keep the connection open
    never_answer,      // read the request, send nothing
    flood,             // send a head, then body bytes until the client goes away
  };

  test_http_server(behaviour how, std::string response) : how_(how), response_(std::move(response)) {
    listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto any = parse_ip_literal("127.0.0.1", 0);
    if (listener_ && ::bind(listener_.get(), any->get(), any->length) == 0 && ::listen(listener_.get(), 4) == 0) {
      port_ = local_address(listener_.get())->port();
    }
    int p[2];
    if (::pipe(p) == 0) {
      stop_read_.reset(p[0]);
      stop_write_.reset(p[1]);
    }
    thread_ = std::thread([this] { run(); });
  }
  ~test_http_server() { stop(); }
  test_http_server(const test_http_server&) = delete;
  test_http_server& operator=(const test_http_server&) = delete;

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    (void)!::write(stop_write_.get(), "x", 1);
    thread_.join();
  }
  [[nodiscard]] bool ready() const { return port_ != 0 && static_cast<bool>(stop_read_); }
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] const std::string& request() const { return request_; }
  [[nodiscard]] std::size_t flooded() const { return flooded_; }

 private:
  // Waits for the stop pipe or `fd`; false once told to stop.
  bool wait(int fd, short events) {
    pollfd fds[2] = {{stop_read_.get(), POLLIN, 0}, {fd, events, 0}};
    if (::poll(fds, fd < 0 ? 1 : 2, -1) < 0) return false;
    return fds[0].revents == 0;
  }

  void run() {
    if (!wait(listener_.get(), POLLIN)) return;
    unique_fd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!conn) return;
    char buf[1024];
    while (request_.find("\r\n\r\n") == std::string::npos) {
      if (!wait(conn.get(), POLLIN)) return;
      const ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
      if (n <= 0) return;
      request_.append(buf, static_cast<std::size_t>(n));
    }
    switch (how_) {
      case behaviour::answer_and_close: send_all_of(conn.get(), response_); return;
      case behaviour::answer_and_hold:
        send_all_of(conn.get(), response_);
        wait(-1, 0);
        return;
      case behaviour::never_answer: wait(-1, 0); return;
      case behaviour::flood: {
        if (!send_all_of(conn.get(), response_)) return;
        const std::string block(16 * 1024, 'z');
        while (flooded_ < 64 * 1024 * 1024 && send_all_of(conn.get(), block)) flooded_ += block.size();
        return;
      }
    }
  }

  bool send_all_of(int fd, const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait(fd, POLLOUT)) return false;
      } else {
        return false;
      }
    }
    return true;
  }

  behaviour how_;
  std::string response_;
  unique_fd listener_;
  unique_fd stop_read_;
  unique_fd stop_write_;
  std::uint16_t port_ = 0;
  std::string request_;
  std::size_t flooded_ = 0;
  bool stopped_ = false;
  std::thread thread_;  // last: started once every member above exists
};

}  // namespace

TEST_CASE("http_get fetches a token and sends the request we document", "[http][loopback]") {
  test_http_server server(test_http_server::behaviour::answer_and_close,
                          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\ntoken.abc123");
  REQUIRE(server.ready());
  auto reply = http_get("127.0.0.1", server.port(), "www.example.org", "/.well-known/wotca-challenge/abc", fetch_limits{});
  server.stop();
  REQUIRE(reply);
  CHECK(reply->status == 200);
  CHECK(reply->body == "token.abc123");
  CHECK_FALSE(reply->location);
  CHECK(server.request() ==
        "GET /.well-known/wotca-challenge/abc HTTP/1.1\r\nHost: www.example.org\r\nUser-Agent: wotca\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n");
}

TEST_CASE("http_get reads a body to the end of the connection", "[http][loopback]") {
  test_http_server server(test_http_server::behaviour::answer_and_close, "HTTP/1.0 200 OK\r\n\r\nto-the-end");
  REQUIRE(server.ready());
  auto reply = http_get("127.0.0.1", server.port(), "example.org", "/", fetch_limits{});
  REQUIRE(reply);
  CHECK(reply->body == "to-the-end");
}

TEST_CASE("http_get returns once the framing says the response is whole", "[http][loopback]") {
  // The server ignores "Connection: close" and keeps the socket open.
  auto [rule, response, body] = GENERATE(table<std::string, std::string, std::string>({
      {"Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", "abc"},
      {"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "abc"},
      {"301 without a body", "HTTP/1.1 301 Moved\r\nLocation: https://example.org/\r\nContent-Length: 0\r\n\r\n", ""},
  }));
  CAPTURE(rule);
  test_http_server server(test_http_server::behaviour::answer_and_hold, response);
  REQUIRE(server.ready());
  const auto start = std::chrono::steady_clock::now();
  auto reply = http_get("127.0.0.1", server.port(), "example.org", "/token", fetch_limits{5000ms, 8192, 4096});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(reply);
  CHECK(reply->body == body);
  CHECK(elapsed < 2s);
}

TEST_CASE("http_get times out against a server that never answers", "[http][loopback]") {
  test_http_server server(test_http_server::behaviour::never_answer, "");
  REQUIRE(server.ready());
  const auto start = std::chrono::steady_clock::now();
  auto reply = http_get("127.0.0.1", server.port(), "example.org", "/token", fetch_limits{200ms, 8192, 4096});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(reply);
  CHECK(reply.error().code == errc::io);
  CHECK(reply.error().where == "http server 127.0.0.1:" + std::to_string(server.port()));
  CHECK(reply.error().message.find("no complete response within 200 ms") != std::string::npos);
  CHECK(elapsed >= 190ms);
  CHECK(elapsed < 2s);
}

TEST_CASE("http_get stops reading a server that sends too much", "[http][loopback]") {
  auto [rule, head] = GENERATE(table<std::string, std::string>({
      {"body to the end", "HTTP/1.1 200 OK\r\n\r\n"},
      {"endless chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000\r\n"},
      {"endless header", "HTTP/1.1 200 OK\r\nX-Endless: "},
  }));
  CAPTURE(rule);
  test_http_server server(test_http_server::behaviour::flood, head);
  REQUIRE(server.ready());
  const auto start = std::chrono::steady_clock::now();
  auto reply = http_get("127.0.0.1", server.port(), "example.org", "/token", fetch_limits{5000ms, 8192, 4096});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  server.stop();
  REQUIRE_FALSE(reply);
  CHECK(reply.error().code == errc::invalid_input);
  CHECK(reply.error().where == "http server 127.0.0.1:" + std::to_string(server.port()));
  CHECK(elapsed < 2s);
  CHECK(server.flooded() < 64 * 1024 * 1024);  // the client hung up; the server did not run out its budget
}

TEST_CASE("http_get: a closed port is an io error", "[http][loopback]") {
  std::uint16_t port = 0;
  {
    unique_fd probe(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto any = parse_ip_literal("127.0.0.1", 0);
    REQUIRE(::bind(probe.get(), any->get(), any->length) == 0);
    port = local_address(probe.get())->port();
  }
  auto reply = http_get("127.0.0.1", port, "example.org", "/", fetch_limits{1000ms, 8192, 4096});
  REQUIRE_FALSE(reply);
  CHECK(reply.error().code == errc::io);
  CHECK(reply.error().message.find("cannot connect") != std::string::npos);
}

TEST_CASE("http_get refuses a request it could not send safely", "[http]") {
  auto [rule, address, host, path, where] = GENERATE(table<std::string, std::string, std::string, std::string, std::string>({
      {"path without a slash", "127.0.0.1", "example.org", "token", "http_path"},
      {"empty path", "127.0.0.1", "example.org", "", "http_path"},
      {"CRLF in the path", "127.0.0.1", "example.org", "/x\r\nX-Injected: 1", "http_path"},
      {"space in the path", "127.0.0.1", "example.org", "/a b", "http_path"},
      {"non-ASCII path", "127.0.0.1", "example.org", "/caf\xc3\xa9", "http_path"},
      {"LF in the host", "127.0.0.1", "example.org\nX: 1", "/", "http_host"},
      {"empty host", "127.0.0.1", "", "/", "http_host"},
      {"host name as address", "example.org", "example.org", "/", "http server example.org:80"},
  }));
  CAPTURE(rule);
  auto reply = http_get(address, 80, host, path, fetch_limits{100ms, 8192, 4096});
  REQUIRE_FALSE(reply);
  CHECK(reply.error().code == errc::invalid_input);
  CHECK(reply.error().where == where);
}
