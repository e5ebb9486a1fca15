// A minimal HTTP/1.1 client for fetching a proof-of-control token from a
// member's web server (R-DOMAIN-CONTROL, and ACME http-01 later). One GET,
// no redirects followed here (the caller decides), bounded time and size.
// The response is untrusted: parse_http_response is bounded and fuzzed
// (tests/fuzz/net_http_response_fuzzer.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/util/error.h"

namespace wotca {

struct http_reply {
  int status = 0;
  std::optional<std::string> location;  // for 3xx
  std::string body;
};

struct fetch_limits {
  std::chrono::milliseconds timeout{10000};  // connect plus the whole exchange
  std::size_t max_header_bytes = 8192;
  std::size_t max_body_bytes = 4096;
};

// GET `path` from `address`:`port` (an IP literal, already resolved) with
// `Host: host`. errc::io on connect/read failures and timeouts (naming
// the address), errc::invalid_input if the response is not HTTP/1.x or breaks
// the limits.
[[nodiscard]] result<http_reply> http_get(std::string_view address, std::uint16_t port, std::string_view host,
                                          std::string_view path, const fetch_limits& limits);

// Parses a complete response (status line, headers, body by Content-Length,
// chunked, or to the end). errc::invalid_input naming what was wrong.
[[nodiscard]] result<http_reply> parse_http_response(std::span<const std::uint8_t> bytes, const fetch_limits& limits);

// Loopback, RFC 1918, link-local, CGNAT, ULA, unspecified, multicast and
// other special-purpose ranges (RFC 6890): where a CA must not be made to
// connect on someone's say-so.
[[nodiscard]] bool is_private_address(std::string_view ip_literal);

}  // namespace wotca
