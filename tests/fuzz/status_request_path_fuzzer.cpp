// libFuzzer target for core/status/request_path.h (STYLE.md 17):
// decode_get_path on the raw bytes as a request path.
//
// Invariants (a violation aborts, which libFuzzer reports as a crash):
//  - a failure is errc::invalid_input with where "ocsp get path" and a message;
//  - a success is 1..max_bytes bytes; decoding again with max_bytes set to
//    that size gives the same bytes, and with one less fails;
//  - the bytes re-encoded as standard padded base64 (OpenSSL's
//    EVP_EncodeBlock; unless it starts with '/', which a leading-slash strip
//    must eat), as base64url, and percent-encoded behind "//", decode to the
//    same bytes;
//  - no OpenSSL error is left on the thread's queue.
#include <openssl/err.h>
#include <openssl/evp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/status/request_path.h"
#include "core/util/encoding.h"

namespace {

constexpr std::size_t max_bytes = 4096;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "status_request_path_fuzzer: invariant broken: %s\n", what);
  std::abort();
}

void require(bool ok, const char* what) {
  if (!ok) broken(what);
}

std::string openssl_base64(const std::vector<std::uint8_t>& b) {
  std::string out(4 * ((b.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), b.data(), static_cast<int>(b.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string percent_encoded(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '+') out += "%2B";
    else if (c == '/') out += "%2f";
    else if (c == '=') out += "%3D";
    else out += c;
  }
  return out;
}

void same_bytes(const std::string& path, const std::vector<std::uint8_t>& want, const char* what) {
  auto again = wotca::decode_get_path(path, max_bytes);
  require(again && *again == want, what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view path(reinterpret_cast<const char*>(data), size);
  auto r = wotca::decode_get_path(path, max_bytes);
  if (!r) {
    require(r.error().code == wotca::errc::invalid_input, "an error other than invalid_input");
    require(r.error().where == "ocsp get path", "an error with the wrong where");
    require(!r.error().message.empty(), "an error without a message");
  } else {
    require(!r->empty() && r->size() <= max_bytes, "decoded size out of range");
    auto exact = wotca::decode_get_path(path, r->size());
    require(exact && *exact == *r, "refused at a limit equal to its size");
    require(!wotca::decode_get_path(path, r->size() - 1), "accepted past its limit");
    const std::string standard = openssl_base64(*r);
    // Unescaped, a leading base64 '/' (a first byte of 0xfc or more) is
    // taken for a path slash, by design: a DER request starts with 'M'.
    if (standard[0] != '/') same_bytes("/" + standard, *r, "standard base64 re-encoding differs");
    same_bytes("/" + wotca::base64url_encode(*r), *r, "base64url re-encoding differs");
    same_bytes("//" + percent_encoded(standard), *r, "percent-encoded re-encoding differs");
  }
  require(ERR_peek_error() == 0, "an OpenSSL error was left on the queue");
  return 0;
}
