#include "core/status/request_path.h"

#include <algorithm>
#include <array>
#include <string>

namespace wotca {

namespace {

constexpr std::string_view where = "ocsp get path";

unexpected<error> bad_path(std::string_view what, std::size_t at) {
  return fail(errc::invalid_input, std::string(where), std::string(what) + " at position " + std::to_string(at));
}

// One table for every character of the path: a base64 value 0..63 (RFC
// 4648 4 and 5: the two alphabets share 62 characters and differ in the last
// two, so one table serves both), or one of the markers below.
constexpr std::uint8_t padding_mark = 64;   // '='
constexpr std::uint8_t percent_mark = 65;   // '%'
constexpr std::uint8_t not_base64 = 0xff;
constexpr auto path_table = [] {
  std::array<std::uint8_t, 256> t{};
  t.fill(not_base64);
  for (int i = 0; i < 26; ++i) {
    t['A' + i] = static_cast<std::uint8_t>(i);
    t['a' + i] = static_cast<std::uint8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<std::uint8_t>(52 + i);
  t['+'] = t['-'] = 62;
  t['/'] = t['_'] = 63;
  t['='] = padding_mark;
  t['%'] = percent_mark;
  return t;
}();

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string shown(char c) {
  auto b = static_cast<unsigned char>(c);
  if (b > 0x20 && b < 0x7f) return std::string("'") + c + "'";
  static constexpr char digits[] = "0123456789abcdef";
  return std::string("byte 0x") + digits[b >> 4] + digits[b & 0x0f];
}

}  // namespace

result<std::vector<std::uint8_t>> decode_get_path(std::string_view raw_path, std::size_t max_bytes) {
  std::size_t pos = 0;
  while (pos < raw_path.size() && raw_path[pos] == '/') ++pos;
  if (pos == raw_path.size()) return bad_path("empty request (no base64 after the '/')", pos);
  // At most 3 bytes per 4 characters (fewer where escapes and padding
  // are): one allocation, never larger than the limit.
  const std::size_t chars = raw_path.size() - pos;
  std::vector<std::uint8_t> out(std::min(chars / 4 * 3 + 3, max_bytes));
  std::size_t written = 0;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t data_chars = 0;
  std::size_t padding = 0;
  while (pos < raw_path.size()) {
    const std::size_t at = pos;
    char c = raw_path[pos++];
    std::uint8_t v = path_table[static_cast<unsigned char>(c)];
    if (v == percent_mark) {
      // RFC 3986 2.1: pct-encoded = "%" HEXDIG HEXDIG
      if (raw_path.size() - pos < 2) return bad_path("truncated percent escape", at);
      const int hi = hex_value(raw_path[pos]);
      const int lo = hex_value(raw_path[pos + 1]);
      if (hi < 0 || lo < 0) return bad_path("bad percent escape", at);
      c = static_cast<char>(hi * 16 + lo);
      v = path_table[static_cast<unsigned char>(c)];
      if (v == percent_mark) v = not_base64;  // an escaped '%' is data, and not base64
      pos += 2;
    }
    // RFC 4648 3.2: padding only at the end.
    if (v == padding_mark) {
      ++padding;
      continue;
    }
    if (padding > 0) return bad_path("base64 data after '=' padding", at);
    if (v == not_base64) return bad_path(shown(c) + " is not base64", at);
    ++data_chars;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      // `out` holds min(bound, max_bytes) bytes and the bound is never
      // reached, so a full buffer means max_bytes is.
      if (written == out.size()) {
        return fail(errc::invalid_input, std::string(where),
                    "request longer than " + std::to_string(max_bytes) + " bytes");
      }
      out[written++] = static_cast<std::uint8_t>(acc >> bits);
      acc &= (1u << bits) - 1;  // keep only the bits not yet output
    }
  }
  out.resize(written);
  const std::size_t end = raw_path.size();
  // One character left over holds 6 bits, less than a byte: no encoder
  // produces it.
  if (data_chars % 4 == 1) return bad_path("base64 of impossible length", end);
  if (padding > 0 && (data_chars % 4 == 0 || data_chars % 4 + padding != 4)) {
    return bad_path("wrong amount of '=' padding", end);
  }
  // RFC 4648 3.5: the pad bits must be zero in a canonical encoding.
  if (bits > 0 && acc != 0) return bad_path("non-zero bits after the last byte (non-canonical base64)", end);
  return out;
}

}  // namespace wotca
