// decode_get_path (core/status/request_path.h): the GET paths of
// tests/data/ocsp (made by make.sh with `openssl base64`, raw and with '+',
// '/' and '=' percent-encoded), OpenSSL's base64 encoder as the reference
// for every length, and a table of accepted and refused paths.
#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "core/status/ocsp_request.h"
#include "core/status/request_path.h"

using namespace wotca;

namespace {

using bytes = std::vector<std::uint8_t>;

std::string data_text(const std::string& name) {
  std::ifstream in(std::string(WOTCA_TESTDATA) + "/ocsp/" + name, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bytes data_file(const std::string& name) {
  std::string s = data_text(name);
  return {s.begin(), s.end()};
}

// Standard base64 with padding, by OpenSSL.
std::string openssl_base64(const bytes& b) {
  std::string out(4 * ((b.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), b.data(), static_cast<int>(b.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string to_url_alphabet(std::string s) {
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

constexpr std::size_t limit = 64 * 1024;

}  // namespace

TEST_CASE("decode_get_path decodes the paths clients send for each request", "[status][path]") {
  auto name = GENERATE(as<std::string>{}, "sha1_nonce", "sha1_no_nonce", "sha256", "sha256_nonce", "sha384", "sha512",
                       "sha224", "multi", "multi_mixed", "by_serial", "signed");
  CAPTURE(name);
  const bytes der = data_file(name + ".req.der");
  const std::string plain = data_text(name + ".get.txt");
  const std::string escaped = data_text(name + ".get_escaped.txt");
  REQUIRE(plain.starts_with("/M"));
  for (const std::string& path :
       {plain, escaped, "/" + plain, "//" + escaped.substr(1), "/" + to_url_alphabet(plain.substr(1)),
        to_url_alphabet(plain.substr(1))}) {
    CAPTURE(path);
    auto r = decode_get_path(path, limit);
    if (!r) FAIL(describe(r.error()));
    CHECK(*r == der);
    CHECK(decode_ocsp_request(*r, request_limits{}));
  }
}

TEST_CASE("decode_get_path matches OpenSSL's base64 at every length", "[status][path]") {
  bytes b;
  for (std::size_t n = 1; n <= 100; ++n) {
    b.push_back(static_cast<std::uint8_t>(n * 151 + 7));
    const std::string text = openssl_base64(b);
    CAPTURE(n, text);
    auto padded = decode_get_path("/" + text, limit);
    REQUIRE(padded);
    CHECK(*padded == b);
    auto url = decode_get_path("/" + to_url_alphabet(text), limit);
    REQUIRE(url);
    CHECK(*url == b);
    // exactly at the limit, and one byte over
    CHECK(decode_get_path("/" + text, n));
    CHECK_FALSE(decode_get_path("/" + text, n - 1));
  }
}

TEST_CASE("decode_get_path accepts each form clients use", "[status][path]") {
  // rule, path, bytes
  auto [rule, path, want] = GENERATE(table<std::string, std::string, bytes>({
      {"standard alphabet, padded", "/+/8=", {0xfb, 0xff}},
      {"AIA URL ending in '/': '//'", "//+/8=", {0xfb, 0xff}},
      {"many leading slashes", "/////+/8=", {0xfb, 0xff}},
      {"no leading slash", "+/8=", {0xfb, 0xff}},
      {"unpadded", "/+/8", {0xfb, 0xff}},
      {"base64url", "/-_8", {0xfb, 0xff}},
      {"base64url padded", "/-_8=", {0xfb, 0xff}},
      {"mixed alphabets", "/-/8", {0xfb, 0xff}},
      {"%2B %2F %3D", "/%2B%2F8%3D", {0xfb, 0xff}},
      {"lower-case escapes", "/%2b%2f8%3d", {0xfb, 0xff}},
      {"a letter escaped", "/%2B%2F%38=", {0xfb, 0xff}},
      {"escaped leading slash is base64", "/%2F%2F8=", {0xff, 0xff}},
      {"two padding characters", "/QQ==", {0x41}},
      {"two escaped padding characters", "/QQ%3D%3D", {0x41}},
      {"unpadded one byte", "/QQ", {0x41}},
      {"three bytes, no padding needed", "/QUJD", {0x41, 0x42, 0x43}},
  }));
  CAPTURE(rule, path);
  auto r = decode_get_path(path, limit);
  if (!r) FAIL(describe(r.error()));
  CHECK(*r == want);
}

TEST_CASE("decode_get_path refuses, naming the fault and where", "[status][path]") {
  // rule, path, max bytes, message
  auto [rule, path, max, message] = GENERATE(table<std::string, std::string, std::size_t, std::string>({
      {"empty", "", limit, "empty request (no base64 after the '/') at position 0"},
      {"only a slash", "/", limit, "empty request (no base64 after the '/') at position 1"},
      {"only slashes", "///", limit, "empty request (no base64 after the '/') at position 3"},
      {"space", "/QQ ==", limit, "byte 0x20 is not base64 at position 3"},
      {"newline", "/QQ\n", limit, "byte 0x0a is not base64 at position 3"},
      {"escaped space", "/QQ%20", limit, "byte 0x20 is not base64 at position 3"},
      {"a space where form encoding would have '+'", "/Q Q", limit, "byte 0x20 is not base64 at position 2"},
      {"query string", "/QQ==?x=1", limit, "base64 data after '=' padding at position 5"},
      {"query string unpadded", "/QQ?x", limit, "'?' is not base64 at position 3"},
      {"dot", "/QQ.=", limit, "'.' is not base64 at position 3"},
      {"non-ASCII", "/QQ\xc3\xa9", limit, "byte 0xc3 is not base64 at position 3"},
      {"NUL", std::string("/QQ\0", 4), limit, "byte 0x00 is not base64 at position 3"},
      {"lone percent", "/QQ%", limit, "truncated percent escape at position 3"},
      {"percent and one digit", "/QQ%2", limit, "truncated percent escape at position 3"},
      {"percent and non-hex", "/QQ%zz", limit, "bad percent escape at position 3"},
      {"percent and half hex", "/QQ%2G", limit, "bad percent escape at position 3"},
      {"double-encoded", "/QQ%252F", limit, "'%' is not base64 at position 3"},
      {"padding in the middle", "/QQ==QQ==", limit, "base64 data after '=' padding at position 5"},
      {"one character", "/Q", limit, "base64 of impossible length at position 2"},
      {"five characters", "/QUJDR", limit, "base64 of impossible length at position 6"},
      {"partial padding", "/QQ=", limit, "wrong amount of '=' padding at position 4"},
      {"too much padding", "/QQ===", limit, "wrong amount of '=' padding at position 6"},
      {"padding after a full group", "/QUJD=", limit, "wrong amount of '=' padding at position 6"},
      {"only padding", "/====", limit, "wrong amount of '=' padding at position 5"},
      {"RFC 4648 3.5: non-zero pad bits", "/QR==", limit, "non-zero bits after the last byte (non-canonical base64) at position 5"},
      {"non-zero pad bits, unpadded", "/QUJ", limit, "non-zero bits after the last byte (non-canonical base64) at position 4"},
      {"an unescaped base64 '/' at the start is a path slash", "///8=", limit,
       "base64 of impossible length at position 5"},
      {"over the limit", "/QUJD", 2, "request longer than 2 bytes"},
      {"zero limit", "/QQ==", 0, "request longer than 0 bytes"},
  }));
  CAPTURE(rule, path);
  auto r = decode_get_path(path, max);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::invalid_input);
  CHECK(r.error().where == "ocsp get path");
  CHECK(r.error().message == message);
}
