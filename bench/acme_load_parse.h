// The parsers of the ACME load generator (acme_load.cpp), apart so that a
// fuzz target can reach them (tests/fuzz/bench_acme_load_fuzzer.cpp): the
// request heads its http-01 responder answers, and the HTTP/1.1 responses
// it reads from the server it measures. Both read bytes from another
// process, and the second from whichever server is being measured.
//
// Failures travel as exceptions, as everywhere in the generator (see its
// header comment): load_error and its kinds, caught by the client loop.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/util/encoding.h"

namespace wotca::bench {

// --- failures, named as the Python original names them in "error KIND" ---

struct load_error : std::runtime_error {
  load_error(const char* kind, const std::string& what) : std::runtime_error(what), kind(kind) {}
  const char* kind;
};
// The server closed the connection (retried once on a new one if it was idle).
struct connection_closed : load_error {
  explicit connection_closed(const std::string& what) : load_error("ConnectionResetError", what) {}
};

// --- the http-01 responder's requests ---

inline constexpr std::string_view not_found = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The answer to one request head (the bytes before the blank line), and
// whether it is a key authorization.
inline std::pair<std::string, bool> http01_answer(std::string_view head, const std::vector<std::string>& thumbprints) {
  auto eol = head.find("\r\n");
  std::string_view request_line = head.substr(0, eol);
  std::string_view rest = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
  // ^GET /\.well-known/acme-challenge/([A-Za-z0-9_-]+) HTTP/1\.[01]$
  constexpr std::string_view prefix = "GET /.well-known/acme-challenge/";
  std::string_view token;
  if (request_line.starts_with(prefix)) {
    auto tail = request_line.substr(prefix.size());
    auto space = tail.find(' ');
    auto candidate = tail.substr(0, space);
    bool token_chars = !candidate.empty() && std::all_of(candidate.begin(), candidate.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
    if (space != std::string_view::npos && token_chars &&
        (tail.substr(space) == " HTTP/1.0" || tail.substr(space) == " HTTP/1.1"))
      token = candidate;
  }
  std::string_view host;
  while (!rest.empty()) {
    auto end = rest.find("\r\n");
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 2);
    auto colon = line.find(':');
    std::string_view name = trim(line.substr(0, colon));
    std::string_view value = colon == std::string_view::npos ? std::string_view{} : trim(line.substr(colon + 1));
    if (equal_ignoring_case(name, "host")) {
      // "name:port" loses its port; an IPv6 literal (several ':') is kept whole.
      host = std::count(value.begin(), value.end(), ':') == 1 ? value.substr(0, value.rfind(':')) : value;
    }
  }
  // ^w(\d+)- on the lower-cased host
  std::optional<std::size_t> client;
  if (host.size() >= 3 && (host[0] == 'w' || host[0] == 'W')) {
    std::size_t i = 1, n = 0;
    while (i < host.size() && std::isdigit(static_cast<unsigned char>(host[i])) && i < 10) n = n * 10 + (host[i++] - '0');
    if (i > 1 && i < host.size() && host[i] == '-') client = n;
  }
  if (token.empty() || !client || *client >= thumbprints.size()) return {std::string(not_found), false};
  std::string body = fmt::format("{}.{}", token, thumbprints[*client]);
  return {fmt::format("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n"
                      "Content-Length: {}\r\n\r\n{}",
                      body.size(), body),
          true};
}

// --- the server's answers ---

struct http_response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  [[nodiscard]] const std::string* header(std::string_view name) const {
    // The last of a repeated header wins, as in the Python's dict.
    for (auto it = headers.rbegin(); it != headers.rend(); ++it)
      if (it->first == name) return &it->second;
    return nullptr;
  }
};

// Reads HTTP/1.1 responses from one connection. `more` appends at least one
// byte received to the string it is given, or throws: connection_closed at
// the end of the stream, another load_error on failure. Heads are limited
// to 64 KiB and bodies to 64 MiB; anything malformed is a load_error
// ("ValueError").
class response_reader {
 public:
  using source = std::function<void(std::string&)>;
  explicit response_reader(source more) : more_(std::move(more)) {}

  // Forgets what was received (the connection is being replaced).
  void reset() {
    buf_.clear();
    pos_ = 0;
  }

  // The next response, to a request of `method`; close_after is set when
  // the connection cannot carry another request (Connection: close, HTTP/1.0,
  // or a body that ends with the connection).
  http_response read(std::string_view method, bool& close_after) {
    const std::string head = until("\r\n\r\n", "an HTTP response head");

    http_response r;
    std::string_view rest = head;
    auto eol = rest.find("\r\n");
    std::string_view status_line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 2);
    auto sp1 = status_line.find(' ');
    std::string_view version = status_line.substr(0, sp1);
    std::string_view code = sp1 == std::string_view::npos
                                ? std::string_view{}
                                : status_line.substr(sp1 + 1).substr(0, status_line.substr(sp1 + 1).find(' '));
    if (!version.starts_with("HTTP/1.") || code.empty() || code.size() > 3 ||
        !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }))
      throw load_error("ValueError", fmt::format("not an HTTP/1.x status line: {:?}", status_line.substr(0, 80)));
    for (char c : code) r.status = r.status * 10 + (c - '0');
    while (!rest.empty()) {
      auto e = rest.find("\r\n");
      std::string_view header_line = rest.substr(0, e);
      rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 2);
      auto colon = header_line.find(':');
      std::string name = ascii_lower(trim(header_line.substr(0, colon)));
      std::string_view value =
          colon == std::string_view::npos ? std::string_view{} : trim(header_line.substr(colon + 1));
      r.headers.emplace_back(std::move(name), std::string(value));
    }

    auto lower = [](const std::string* v) { return v ? ascii_lower(*v) : std::string{}; };
    close_after = lower(r.header("connection")) == "close" || version == "HTTP/1.0";
    if (method == "HEAD" || r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200)) {
      // no body
    } else if (lower(r.header("transfer-encoding")) == "chunked") {
      for (;;) {
        std::string size_line = line();
        std::string hex = size_line.substr(0, size_line.find(';'));
        std::size_t size = 0;
        try {
          size = std::stoul(hex, nullptr, 16);
        } catch (const std::exception&) {
          throw load_error("ValueError", fmt::format("bad chunk size {:?}", hex.substr(0, 40)));
        }
        if (size == 0) {
          while (!line().empty()) {  // trailers, up to the blank line
          }
          break;
        }
        if (size > (64u << 20)) throw load_error("ValueError", "a chunk larger than 64 MiB");
        r.body += take(size);
        take(2);
      }
    } else if (const std::string* length = r.header("content-length")) {
      std::size_t n = 0;
      try {
        n = std::stoul(*length);
      } catch (const std::exception&) {
        throw load_error("ValueError", fmt::format("bad Content-Length {:?}", length->substr(0, 40)));
      }
      if (n > (64u << 20)) throw load_error("ValueError", "a body larger than 64 MiB");
      r.body = take(n);
    } else {  // until the server closes
      try {
        for (;;) fill();
      } catch (const connection_closed&) {
      }
      r.body = std::string(buffered());
      pos_ = buf_.size();
      close_after = true;
    }
    return r;
  }

 private:
  void fill() {
    if (pos_ > 0 && pos_ == buf_.size()) reset();
    more_(buf_);
  }

  [[nodiscard]] std::string_view buffered() const { return std::string_view(buf_).substr(pos_); }

  std::string take(std::size_t n) {
    while (buffered().size() < n) fill();
    std::string out(buffered().substr(0, n));
    pos_ += n;
    return out;
  }

  // The bytes before the next `delimiter`, which is consumed too; at most
  // 64 KiB are looked through.
  std::string until(std::string_view delimiter, std::string_view what) {
    std::size_t end;
    while ((end = buffered().find(delimiter)) == std::string_view::npos) {
      if (buffered().size() > 65536) throw load_error("ValueError", fmt::format("{} longer than 64 KiB", what));
      fill();
    }
    std::string out(buffered().substr(0, end));
    pos_ += end + delimiter.size();
    return out;
  }

  std::string line() { return until("\r\n", "an HTTP line"); }

  source more_;
  std::string buf_;
  std::size_t pos_ = 0;  // buf_[pos_..] is not consumed yet
};

}  // namespace wotca::bench
