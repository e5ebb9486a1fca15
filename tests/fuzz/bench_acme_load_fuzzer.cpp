// The ACME load generator's parsers (bench/acme_load_parse.h): the request
// heads its http-01 responder answers, and the HTTP/1.1 responses it reads
// from the server it measures, received in pieces of every size.
//
// Input: one control byte, then the bytes. Odd control byte: the bytes are
// one request head. Even: they are what the server sends, delivered
// 1 + (control >> 1) bytes at a time (1 to 128), read as up to 16
// responses to GET, HEAD and POST in turn.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench/acme_load_parse.h"

using namespace wotca::bench;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

  if (control & 1) {
    static const std::vector<std::string> thumbprints = {"thumb-0", "thumb-1"};
    const auto [answer, authorized] = http01_answer(in, thumbprints);
    // A key authorization is served only for a challenge path; anything
    // else is the fixed 404.
    if (authorized != (answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0)) __builtin_trap();
    if (!authorized && answer != not_found) __builtin_trap();
    if (authorized && in.find("GET /.well-known/acme-challenge/") != 0) __builtin_trap();
    return 0;
  }

  const std::size_t piece = 1 + (control >> 1);
  std::size_t at = 0;
  response_reader reader([&](std::string& into) {
    if (at == in.size()) throw connection_closed("the input ended");
    const std::size_t n = std::min(piece, in.size() - at);
    into.append(in.substr(at, n));
    at += n;
  });
  static constexpr std::string_view methods[] = {"GET", "HEAD", "POST"};
  try {
    for (int i = 0; i < 16; ++i) {
      bool close_after = false;
      const http_response r = reader.read(methods[i % 3], close_after);
      if (r.status < 0 || r.status > 999) __builtin_trap();
      if (methods[i % 3] == "HEAD" && !r.body.empty()) __builtin_trap();
      if (close_after) break;
    }
  } catch (const load_error&) {
    // Malformed, too large, or the input ended: the generator counts it.
  }
  return 0;
}
