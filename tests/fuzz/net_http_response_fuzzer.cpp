// libFuzzer target for core/net/http_fetch.h (STYLE.md 17):
// parse_http_response on untrusted bytes as a member's web server could send
// them, under small limits so that every limit is within the fuzzer's reach.
//
// Input layout: byte 0 picks the header limit (32 + 8 * byte), byte 1 the
// body limit (2 * byte), the rest is the response.
//
// Invariants (a violation aborts, which libFuzzer reports as a crash):
//  - an error is errc::invalid_input with where "http_response" and a message;
//  - a success has body.size() <= max_body_bytes, a final status 200..599,
//    and a Location only with a 3xx status;
//  - raising the limits never turns a success into an error or a different
//    reply (the limits only refuse, they never change what is read).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "core/net/http_fetch.h"

namespace {

constexpr std::size_t max_input = 64 * 1024 + 2;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "net_http_response_fuzzer: invariant broken: %s\n", what);
  std::abort();
}

void require(bool ok, const char* what) {
  if (!ok) broken(what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2 || size > max_input) return 0;
  wotca::fetch_limits limits;
  limits.max_header_bytes = 32 + 8 * std::size_t{data[0]};
  limits.max_body_bytes = 2 * std::size_t{data[1]};
  const std::span<const std::uint8_t> response(data + 2, size - 2);

  auto reply = wotca::parse_http_response(response, limits);
  if (!reply) {
    require(reply.error().code == wotca::errc::invalid_input, "an unexpected error code");
    require(reply.error().where == "http_response", "an error not naming http_response");
    require(!reply.error().message.empty(), "an error without a message");
    return 0;
  }
  require(reply->body.size() <= limits.max_body_bytes, "a body over max_body_bytes");
  require(reply->status >= 200 && reply->status <= 599, "a final status outside 200..599");
  require(!reply->location || (reply->status >= 300 && reply->status <= 399), "a Location outside 3xx");
  require(reply->body.size() <= response.size(), "a body longer than the input");

  wotca::fetch_limits larger = limits;
  larger.max_header_bytes *= 4;
  larger.max_body_bytes = larger.max_body_bytes * 4 + 1;
  auto again = wotca::parse_http_response(response, larger);
  require(again.has_value(), "larger limits refused what smaller ones accepted");
  require(again->status == reply->status && again->body == reply->body && again->location == reply->location,
          "larger limits read a different reply");
  return 0;
}
