// The libmicrohttpd adapter over real loopback sockets, driven by a client
// written here byte by byte, so that what goes on the wire is what the test
// says (no client library normalising paths or adding headers).
#include "core/http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using wotca::errc;
using wotca::file_body;
using wotca::http_handler;
using wotca::http_limits;
using wotca::http_request;
using wotca::http_response;
using wotca::http_server;

using steady = std::chrono::steady_clock;

// ---- a blocking HTTP/1.1 client, just enough to read MHD's answers ----

struct reply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  [[nodiscard]] std::optional<std::string> header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n == name) return v;
    }
    return std::nullopt;
  }
};

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  }
  return s;
}

class client {
 public:
  explicit client(std::uint16_t port, int family = AF_INET) : fd_(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd_ >= 0);
    // No test may hang: every blocking call gives up after 5 s.
    const timeval limit{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    REQUIRE(connect_to(fd_, port, family));
  }
  client(const client&) = delete;
  client& operator=(const client&) = delete;
  ~client() { ::close(fd_); }

  static bool connect_to(int fd, std::uint16_t port, int family) {
    if (family == AF_INET6) {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(port);
      a.sin6_addr = in6addr_loopback;
      return ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
  }

  // false when the server has closed or reset the connection.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // One response; a HEAD response has no body whatever its Content-Length.
  // nullopt when the connection ended (or 5 s passed) before it was whole.
  std::optional<reply> read_reply(bool head = false) {
    std::size_t end = 0;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return std::nullopt;
    }
    reply r;
    const std::string head_text = buffer_.substr(0, end + 2);
    std::size_t line_end = head_text.find("\r\n");
    const std::string status_line = head_text.substr(0, line_end);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    std::size_t body_size = 0;
    for (std::size_t pos = line_end + 2; pos < head_text.size();) {
      line_end = head_text.find("\r\n", pos);
      const std::string line = head_text.substr(pos, line_end - pos);
      pos = line_end + 2;
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) return std::nullopt;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers.emplace_back(lower(line.substr(0, colon)), value);
      if (lower(line.substr(0, colon)) == "content-length") body_size = std::stoull(value);
    }
    if (head) body_size = 0;
    while (buffer_.size() < end + 4 + body_size) {
      if (!fill()) return std::nullopt;
    }
    r.body = buffer_.substr(end + 4, body_size);
    buffer_.erase(0, end + 4 + body_size);
    return r;
  }

  // True when the server closes (or resets) the connection within `wait`;
  // any bytes it sends meanwhile are kept for read_reply.
  bool closed_within(std::chrono::milliseconds wait) {
    const auto until = steady::now() + wait;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready == 0) return false;
      if (ready < 0) continue;
      char chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
      if (n > 0) buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  [[nodiscard]] const std::string& unread() const { return buffer_; }

 private:
  bool fill() {
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_;
  std::string buffer_;
};

std::string get(std::string_view target, std::string_view method = "GET", std::string_view extra = "") {
  return std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra) + "\r\n";
}

std::string post(std::string_view target, std::string_view body) {
  return "POST " + std::string(target) + " HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + std::string(body);
}

bool can_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool ok = client::connect_to(fd, port, AF_INET);
  ::close(fd);
  return ok;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds wait = 3s) {
  const auto until = steady::now() + wait;
  while (!condition()) {
    if (steady::now() > until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// ---- servers ----

http_limits test_limits() {
  http_limits limits;
  limits.max_body_bytes = 1000;
  limits.threads = 2;
  limits.read_timeout = 5s;
  limits.max_connections = 64;
  return limits;
}

std::unique_ptr<http_server> serve(http_handler handler, const http_limits& limits = test_limits()) {
  auto server = http_server::start("127.0.0.1", 0, limits, std::move(handler));
  INFO((server ? std::string() : describe(server.error())));
  REQUIRE(server.has_value());
  REQUIRE((*server)->port() != 0);
  return std::move(*server);
}

// Owned copies of what the handler saw, taken on the server thread.
struct seen {
  std::string method, raw_path, query, body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class recorder {
 public:
  http_handler handler(std::function<void(const http_request&, seen&)> also = {}) {
    return [this, also](const http_request& r) {
      seen s{std::string(r.method), std::string(r.raw_path), std::string(r.query), std::string(r.body), {}};
      for (const auto& h : r.headers) s.headers.emplace_back(h.name, h.value);
      if (also) also(r, s);
      const std::lock_guard lock(mutex_);
      all_.push_back(std::move(s));
      return http_response{200, {{"Content-Type", "text/plain"}}, std::string("ok")};
    };
  }
  seen last() {
    const std::lock_guard lock(mutex_);
    REQUIRE(!all_.empty());
    return all_.back();
  }
  std::size_t count() {
    const std::lock_guard lock(mutex_);
    return all_.size();
  }

 private:
  std::mutex mutex_;
  std::vector<seen> all_;
};

}  // namespace

TEST_CASE("the path reaches the handler exactly as sent", "[http][server]") {
  recorder rec;
  auto server = serve(rec.handler());
  client c(server->port());
  const std::string target = GENERATE(as<std::string>{},
                                      "//MEU%2BAB/x+y=",                  // OCSP GET with a '//' prefix
                                      "/",                                // the root
                                      "/MEUwQzBBMD8wPTAJBgUrDgMCGgUABBQ+/=",  // raw '+', '/', '='
                                      "/%2b%2F%3d%41",                    // escapes of any case, none decoded
                                      "/%zz%",                            // bad escapes left alone
                                      "/a;b,c~!$&'()*@");                 // sub-delims
  INFO("target: " << target);
  REQUIRE(c.send(get(target)));
  const auto r = c.read_reply();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(rec.last().raw_path == target);
  CHECK(rec.last().query.empty());
  CHECK(rec.last().method == "GET");
}

TEST_CASE("the query reaches the handler exactly as sent, apart from the path", "[http][server]") {
  recorder rec;
  auto server = serve(rec.handler());
  client c(server->port());
  auto [target, path, query] = GENERATE(table<std::string, std::string, std::string>({
      // SCEP GET: base64 with '+' that form decoding would turn into spaces
      {"/scep?operation=PKIOperation&message=MI+b/c%2B==", "/scep", "operation=PKIOperation&message=MI+b/c%2B=="},
      {"/x?", "/x", ""},           // an empty query
      {"/x?a?b=c", "/x", "a?b=c"},  // only the first '?' splits
      {"//M%2B?k", "//M%2B", "k"},
  }));
  INFO("target: " << target);
  REQUIRE(c.send(get(target)));
  REQUIRE(c.read_reply());
  CHECK(rec.last().raw_path == path);
  CHECK(rec.last().query == query);
}

TEST_CASE("header fields reach the handler and are found whatever their case", "[http][server]") {
  recorder rec;
  std::string found_custom, found_other, found_absent = "unset";
  auto server = serve(rec.handler([&](const http_request& r, seen&) {
    found_custom = r.header("x-custom-thing");
    found_other = r.header("X-OTHER");
    found_absent = r.header("Accept-Language");
  }));
  client c(server->port());
  REQUIRE(c.send(get("/h", "GET", "X-Custom-Thing: Value One\r\nx-other:   v2  \r\n")));
  REQUIRE(c.read_reply());
  CHECK(found_custom == "Value One");
  CHECK(found_other == "v2");  // MHD trims the leading whitespace, the adapter the trailing
  CHECK(found_absent.empty());
  const auto headers = rec.last().headers;
  CHECK(headers.size() == 3);  // Host and the two above, in order
  CHECK(headers.at(0).first == "Host");
  CHECK(headers.at(1).first == "X-Custom-Thing");
}

TEST_CASE("a POST body up to max_body_bytes is delivered whole", "[http][server]") {
  recorder rec;
  auto server = serve(rec.handler());
  client c(server->port());

  SECTION("with Content-Length, binary bytes included") {
    std::string body("\x30\x82\x00\r\n\r\n", 8);
    body += std::string(1000 - body.size(), '\x7f');  // exactly the limit
    REQUIRE(c.send(post("/ocsp", body)));
    const auto r = c.read_reply();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(rec.last().method == "POST");
    CHECK(rec.last().body == body);
  }
  SECTION("chunked") {
    REQUIRE(c.send("POST /scep HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"));
    const auto r = c.read_reply();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(rec.last().body == "hello, world");
  }
  SECTION("a GET has an empty body") {
    REQUIRE(c.send(get("/")));
    REQUIRE(c.read_reply());
    CHECK(rec.last().body.empty());
  }
}

TEST_CASE("a body over max_body_bytes is refused before the handler sees it", "[http][server]") {
  recorder rec;
  http_limits limits = test_limits();
  limits.max_discarded_bytes = 8 << 20;
  auto server = serve(rec.handler(), limits);
  std::size_t handled = 0;  // requests the handler should have seen

  SECTION("a declared Content-Length over the limit, sent whole: 413 after it, and the connection serves on") {
    client c(server->port());
    // Far more than the socket buffers hold: a server that answered at once
    // and closed would reset the connection while this send still runs.
    REQUIRE(c.send(post("/ocsp", std::string(4 << 20, 'x'))));
    const auto r = c.read_reply();
    REQUIRE(r);
    CHECK(r->status == 413);
    REQUIRE(c.send(get("/next")));
    const auto next = c.read_reply();
    REQUIRE(next);
    CHECK(next->status == 200);
    CHECK(rec.last().raw_path == "/next");
    handled = 1;
  }
  SECTION("a declared Content-Length beyond max_discarded_bytes: 413 at once, then close") {
    client c(server->port());
    // Only part of the body is sent: the answer must not wait for the rest.
    REQUIRE(c.send("POST /ocsp HTTP/1.1\r\nHost: test\r\nContent-Length: 8388609\r\n\r\n" + std::string(100, 'x')));
    const auto r = c.read_reply();
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(lower(r->header("connection").value_or("")) == "close");
    CHECK(c.closed_within(3s));
  }
  SECTION("over the limit with Expect: 100-continue: 413 at once, never 100") {
    client c(server->port());
    REQUIRE(c.send("POST /ocsp HTTP/1.1\r\nHost: test\r\nExpect: 100-Continue\r\nContent-Length: 1001\r\n\r\n"));
    const auto r = c.read_reply();
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(c.closed_within(3s));
  }
  SECTION("a huge Content-Length with Expect: 100-continue: 413, never 100") {
    client c(server->port());
    REQUIRE(c.send("POST /ocsp HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\n"
                   "Content-Length: 99999999999999999999999\r\n\r\n"));
    const auto r = c.read_reply();
    REQUIRE(r);
    CHECK(r->status == 413);  // from MHD itself: the length does not fit 64 bits
  }
  SECTION("a malformed Content-Length: MHD answers 400") {
    client c(server->port());
    REQUIRE(c.send("POST /ocsp HTTP/1.1\r\nHost: test\r\nContent-Length: 12abc\r\n\r\n"));
    const auto r = c.read_reply();
    REQUIRE(r);
    CHECK(r->status == 400);
  }
  SECTION("a chunked body growing past the limit: 413 after its last chunk") {
    client c(server->port());
    const std::string chunk = "258\r\n" + std::string(600, 'y') + "\r\n";  // 0x258 = 600
    REQUIRE(c.send("POST /scep HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk));
    CHECK_FALSE(c.closed_within(200ms));  // nothing is answered before the body ends
    CHECK(c.unread().empty());
    REQUIRE(c.send("0\r\n\r\n"));
    const auto r = c.read_reply();
    REQUIRE(r);
    CHECK(r->status == 413);
  }
  SECTION("a chunked body growing past max_discarded_bytes: the connection is closed") {
    client c(server->port());
    const std::string chunk = "100000\r\n" + std::string(0x100000, 'y') + "\r\n";  // 1 MiB
    c.send("POST /scep HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 9 && c.send(chunk); ++i) {
    }
    CHECK(c.closed_within(3s));
    CHECK(c.unread().empty());  // no answer is possible in the middle of a body
  }
  CHECK(rec.count() == handled);
  // The server still serves.
  client after(server->port());
  REQUIRE(after.send(get("/still-there")));
  const auto r = after.read_reply();
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("keep-alive: several requests are answered on one connection", "[http][server]") {
  std::atomic<int> calls{0};
  auto server = serve([&calls](const http_request& r) {
    ++calls;
    return http_response{200, {{"Content-Type", "text/plain"}}, std::string(r.raw_path)};
  });
  client c(server->port());
  for (int i = 0; i < 3; ++i) {
    const std::string target = "/n" + std::to_string(i);
    REQUIRE(c.send(get(target)));
    const auto r = c.read_reply();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == target);
    CHECK(r->header("content-type") == "text/plain");
    CHECK_FALSE(r->header("connection").has_value());  // HTTP/1.1 keeps it open by default
  }
  SECTION("pipelined requests are answered in order") {
    REQUIRE(c.send(get("/p1") + post("/p2", "body") + get("/p3")));
    for (const char* expected : {"/p1", "/p2", "/p3"}) {
      const auto r = c.read_reply();
      REQUIRE(r);
      CHECK(r->status == 200);
      CHECK(r->body == expected);
    }
    CHECK(calls == 6);
  }
  SECTION("Connection: close is honoured") {
    REQUIRE(c.send(get("/last", "GET", "Connection: close\r\n")));
    const auto r = c.read_reply();
    REQUIRE(r);
    CHECK(r->body == "/last");
    CHECK(c.closed_within(2s));
  }
}

TEST_CASE("a shared body is sent without copying and released once sent", "[http][server]") {
  // Large enough that the kernel's socket buffers cannot take it all while
  // the client reads nothing, so the response is provably still in flight.
  auto cached = std::make_shared<const std::string>(std::string(16 << 20, 'r') + "end");
  std::atomic<bool> called{false};
  auto server = serve([&cached, &called](const http_request&) {
    called = true;
    return http_response{200, {{"Content-Type", "application/ocsp-response"}}, cached};
  });
  {
    client c(server->port());
    REQUIRE(c.send(get("/cached")));
    REQUIRE(eventually([&] { return called.load(); }));
    std::this_thread::sleep_for(50ms);
    CHECK(cached.use_count() == 2);  // ours and the one response in flight
    const auto r = c.read_reply();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.size() == cached->size());
    CHECK(r->body == *cached);
  }
  CHECK(eventually([&] { return cached.use_count() == 1; }));
}

TEST_CASE("a shared body serves many requests; a null one is an empty body", "[http][server]") {
  auto cached = std::make_shared<const std::string>("pre-signed bytes");
  std::shared_ptr<const std::string> none;
  auto server = serve([&](const http_request& r) {
    return http_response{200, {}, r.raw_path == "/none" ? none : cached};
  });
  client c(server->port());
  for (int i = 0; i < 5; ++i) {
    REQUIRE(c.send(get("/cached")));
    const auto r = c.read_reply();
    REQUIRE(r);
    CHECK(r->body == "pre-signed bytes");
  }
  REQUIRE(c.send(get("/none")));
  const auto r = c.read_reply();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.empty());
  CHECK(r->header("content-length") == "0");
  CHECK(eventually([&] { return cached.use_count() == 1; }));
}

TEST_CASE("a file region is served from its descriptor", "[http][server]") {
  char path[] = "/tmp/wotca_http_crl_XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::string content;
  content.reserve(2 << 20);
  for (std::size_t i = 0; i < (2u << 20); ++i) content.push_back(static_cast<char>('a' + i % 26));
  std::ofstream(path, std::ios::binary) << content;
  auto opened = wotca::open_file::open(path);
  ::unlink(path);
  REQUIRE(opened.has_value());
  const std::shared_ptr<const wotca::open_file> file = std::move(*opened);

  auto server = serve([&file](const http_request& r) {
    if (r.raw_path == "/whole") return http_response{200, {{"Content-Type", "application/pkix-crl"}}, file_body{file, 0, file->size()}};
    if (r.raw_path == "/part") return http_response{200, {}, file_body{file, 1000, 1'500'000}};
    if (r.raw_path == "/past-end") return http_response{200, {}, file_body{file, file->size() - 10, 11}};
    return http_response{200, {}, file_body{nullptr, 0, 0}};
  });
  client c(server->port());

  REQUIRE(c.send(get("/whole")));
  auto r = c.read_reply();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("content-type") == "application/pkix-crl");
  CHECK(r->body == content);

  REQUIRE(c.send(get("/part")));
  r = c.read_reply();
  REQUIRE(r);
  CHECK(r->body == content.substr(1000, 1'500'000));

  // The same file again on the same connection: the duplicate descriptor
  // MHD closed was not the open_file's.
  REQUIRE(c.send(get("/whole")));
  r = c.read_reply();
  REQUIRE(r);
  CHECK(r->body.size() == content.size());

  for (const char* bad : {"/past-end", "/null"}) {
    INFO(bad);
    REQUIRE(c.send(get(bad)));
    r = c.read_reply();
    REQUIRE(r);
    CHECK(r->status == 500);
    CHECK(r->body.empty());
  }
  CHECK(eventually([&] { return file.use_count() == 1; }));
}

TEST_CASE("HEAD gets the headers of the handler's response without its body", "[http][server]") {
  recorder rec;
  auto server = serve(rec.handler());
  client c(server->port());
  REQUIRE(c.send(get("/crl", "HEAD")));
  const auto head = c.read_reply(/*head=*/true);
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(head->header("content-length") == "2");  // the size of "ok"
  CHECK(rec.last().method == "HEAD");
  // Had the body been sent, it would now be read as the next status line.
  REQUIRE(c.send(get("/after")));
  const auto next = c.read_reply();
  REQUIRE(next);
  CHECK(next->status == 200);
  CHECK(next->body == "ok");
}

TEST_CASE("a handler that throws gets 500 with an empty body, and the server goes on", "[http][server]") {
  auto server = serve([](const http_request& r) -> http_response {
    if (r.raw_path == "/std") throw std::runtime_error("secret detail");
    if (r.raw_path == "/int") throw 42;
    return http_response{204, {}, {}};
  });
  client c(server->port());
  for (const char* target : {"/std", "/int"}) {
    INFO(target);
    REQUIRE(c.send(get(target)));
    const auto r = c.read_reply();
    REQUIRE(r);
    CHECK(r->status == 500);
    CHECK(r->body.empty());
  }
  REQUIRE(c.send(get("/fine")));
  const auto r = c.read_reply();
  REQUIRE(r);
  CHECK(r->status == 204);
}

TEST_CASE("a response the adapter cannot send becomes 500", "[http][server]") {
  auto server = serve([](const http_request& r) {
    if (r.raw_path == "/status-0") return http_response{0, {}, std::string("x")};
    if (r.raw_path == "/status-600") return http_response{600, {}, std::string("x")};
    if (r.raw_path == "/crlf") return http_response{200, {{"X-Bad", "a\r\nSet-Cookie: injected"}}, std::string("x")};
    if (r.raw_path == "/nul") return http_response{200, {{"X-Bad", std::string("a\0b", 3)}}, std::string("x")};
    return http_response{404, {{"Content-Type", "text/plain"}, {"Cache-Control", "max-age=60"}}, std::string("nope")};
  });
  client c(server->port());
  for (const char* target : {"/status-0", "/status-600", "/crlf", "/nul"}) {
    INFO(target);
    REQUIRE(c.send(get(target)));
    const auto r = c.read_reply();
    REQUIRE(r);
    CHECK(r->status == 500);
    CHECK(r->body.empty());
    CHECK_FALSE(r->header("set-cookie").has_value());
  }
  REQUIRE(c.send(get("/other")));
  const auto r = c.read_reply();
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(r->body == "nope");
  CHECK(r->header("cache-control") == "max-age=60");
}

TEST_CASE("set_handler takes effect for the next request, on open connections too", "[http][server]") {
  auto server = serve([](const http_request&) { return http_response{200, {}, std::string("old")}; });
  client kept(server->port());
  REQUIRE(kept.send(get("/")));
  REQUIRE(kept.read_reply()->body == "old");

  server->set_handler([](const http_request&) { return http_response{200, {}, std::string("new")}; });
  REQUIRE(kept.send(get("/")));
  const auto same_connection = kept.read_reply();
  REQUIRE(same_connection);
  CHECK(same_connection->body == "new");
  client fresh(server->port());
  REQUIRE(fresh.send(get("/")));
  CHECK(fresh.read_reply()->body == "new");

  server->set_handler({});  // empty: every request answers 500
  REQUIRE(fresh.send(get("/")));
  CHECK(fresh.read_reply()->status == 500);
}

TEST_CASE("set_handler while requests are in flight drops none of them", "[http][server]") {
  auto server = serve([](const http_request&) { return http_response{200, {}, std::string("a")}; });
  std::atomic<bool> done{false};
  std::thread swapper([&] {
    for (int i = 0; !done; ++i) {
      const std::string body = (i % 2) ? "a" : "b";
      server->set_handler([body](const http_request&) { return http_response{200, {}, body}; });
    }
  });
  client c(server->port());
  int answered = 0;
  for (int i = 0; i < 300; ++i) {
    if (!c.send(get("/"))) break;
    const auto r = c.read_reply();
    if (!r || r->status != 200 || (r->body != "a" && r->body != "b")) break;
    ++answered;
  }
  done = true;
  swapper.join();
  CHECK(answered == 300);
}

TEST_CASE("stop() returns, closes the port, and the port can be bound again", "[http][server]") {
  auto server = serve([](const http_request&) { return http_response{}; });
  const std::uint16_t port = server->port();
  {
    client c(port);
    REQUIRE(c.send(get("/")));
    REQUIRE(c.read_reply());
    server->stop();  // with a keep-alive connection still open
    CHECK(c.closed_within(2s));
  }
  CHECK_FALSE(can_connect(port));
  server->stop();  // idempotent

  // The old connection's TIME_WAIT does not keep a restart from binding.
  auto again = http_server::start("127.0.0.1", port, test_limits(), [](const http_request&) {
    return http_response{200, {}, std::string("again")};
  });
  INFO((again ? std::string() : describe(again.error())));
  REQUIRE(again.has_value());
  CHECK((*again)->port() == port);
  client c(port);
  REQUIRE(c.send(get("/")));
  CHECK(c.read_reply()->body == "again");
}

TEST_CASE("a port already listened on is an error, never shared", "[http][server]") {
  auto first = serve([](const http_request&) { return http_response{}; });
  auto second = http_server::start("127.0.0.1", first->port(), test_limits(), [](const http_request&) {
    return http_response{};
  });
  REQUIRE_FALSE(second.has_value());
  CHECK(second.error().code == errc::io);
  CHECK(second.error().where == "http 127.0.0.1:" + std::to_string(first->port()));
  INFO(describe(second.error()));
  CHECK(second.error().message.find("in use") != std::string::npos);
}

TEST_CASE("start refuses a host that is no IP literal and an empty handler", "[http][server]") {
  const auto handler = [](const http_request&) { return http_response{}; };
  for (const char* host : {"", "localhost", "127.0.0.1:80", "256.0.0.1", "[::1"}) {
    INFO("host: '" << host << "'");
    auto server = http_server::start(host, 0, test_limits(), handler);
    REQUIRE_FALSE(server.has_value());
    CHECK(server.error().code == errc::invalid_input);
    CHECK(server.error().where == "http host");
  }
  auto server = http_server::start("127.0.0.1", 0, test_limits(), {});
  REQUIRE_FALSE(server.has_value());
  CHECK(server.error().code == errc::invalid_input);
}

TEST_CASE("an IPv6 literal is listened on", "[http][server]") {
  const int probe = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool has_ipv6 = probe >= 0 && ::bind(probe, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
  if (probe >= 0) ::close(probe);
  if (!has_ipv6) {
    WARN("no IPv6 loopback here; skipped");
    return;
  }
  recorder rec;
  const std::string host = GENERATE(as<std::string>{}, "::1", "[::1]");
  auto server = http_server::start(host, 0, test_limits(), rec.handler());
  INFO((server ? std::string() : describe(server.error())));
  REQUIRE(server.has_value());
  client c((*server)->port(), AF_INET6);
  REQUIRE(c.send(get("//MEU%2B")));
  REQUIRE(c.read_reply());
  CHECK(rec.last().raw_path == "//MEU%2B");
}

TEST_CASE("a client silent for read_timeout is dropped", "[http][server]") {
  recorder rec;
  http_limits limits = test_limits();
  limits.read_timeout = 1s;
  auto server = serve(rec.handler(), limits);

  SECTION("half a request") {
    client c(server->port());
    const auto started = steady::now();
    REQUIRE(c.send("GET /slow HTTP/1.1\r\nHost: te"));
    CHECK(c.closed_within(4s));
    CHECK(steady::now() - started >= 900ms);
    CHECK(rec.count() == 0);
  }
  SECTION("an idle keep-alive connection") {
    client c(server->port());
    REQUIRE(c.send(get("/")));
    REQUIRE(c.read_reply());
    const auto started = steady::now();
    CHECK(c.closed_within(4s));
    CHECK(steady::now() - started >= 900ms);
  }
  client after(server->port());
  REQUIRE(after.send(get("/")));
  CHECK(after.read_reply());
}

TEST_CASE("headers beyond max_header_bytes get a 4xx and the server stays up", "[http][server]") {
  recorder rec;
  http_limits limits = test_limits();
  limits.max_header_bytes = 8192;
  auto server = serve(rec.handler(), limits);
  {
    std::string many;
    for (int i = 0; i < 200; ++i) many += "X-Filler-" + std::to_string(i) + ": " + std::string(50, 'f') + "\r\n";
    client c(server->port());
    c.send(get("/big", "GET", many));  // the server may close before it has read it all
    const auto r = c.read_reply();
    REQUIRE(r);
    CHECK(r->status >= 400);
    CHECK(r->status < 500);
    INFO("status " << r->status);
    CHECK(r->status == 431);  // what MHD 0.9.75 answers
    CHECK(c.closed_within(3s));
  }
  CHECK(rec.count() == 0);
  client after(server->port());
  REQUIRE(after.send(get("/small", "GET", "X-One: 1\r\n")));
  const auto r = after.read_reply();
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("many concurrent clients are all answered", "[http][server]") {
  std::atomic<int> calls{0};
  auto server = serve([&calls](const http_request& r) {
    ++calls;
    return http_response{200, {}, std::string(r.raw_path)};
  });
  std::vector<std::thread> clients;
  std::atomic<int> good{0};
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      // Catch2 assertions are not thread-safe: count, and check afterwards.
      try {
        for (int i = 0; i < 50; ++i) {
          const std::string target = "/t" + std::to_string(t) + "/" + std::to_string(i);
          const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
          const timeval limit{5, 0};
          ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
          if (!client::connect_to(s, server->port(), AF_INET)) {
            ::close(s);
            continue;
          }
          const std::string req = get(target, "GET", "Connection: close\r\n");
          if (::send(s, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
            ::close(s);
            continue;
          }
          std::string in;
          char chunk[4096];
          ssize_t n;
          while ((n = ::recv(s, chunk, sizeof chunk, 0)) > 0) in.append(chunk, static_cast<std::size_t>(n));
          ::close(s);
          if (in.rfind("HTTP/1.1 200", 0) == 0 && in.size() >= target.size() &&
              in.compare(in.size() - target.size(), target.size(), target) == 0) {
            ++good;
          }
        }
      } catch (...) {
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(good == 400);
  CHECK(calls == 400);
}
