// Small encodings used across modules: hex, base64url (RFC 4648 §5, no
// padding), SHA-256, constant-time comparison, ASCII lower case.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wotca {

using bytes = std::vector<std::uint8_t>;

[[nodiscard]] std::string to_hex(std::span<const std::uint8_t> b);
[[nodiscard]] std::string base64url_encode(std::span<const std::uint8_t> b);
// Strict: only the base64url alphabet, no padding, no whitespace, and the
// unused bits of the last character must be zero. nullopt otherwise.
[[nodiscard]] std::optional<bytes> base64url_decode(std::string_view text);
[[nodiscard]] bytes sha256(std::span<const std::uint8_t> b);
[[nodiscard]] bytes sha256(std::string_view text);
[[nodiscard]] bool equal_constant_time(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);
// A-Z to a-z and every other byte as it is, whatever the C locale: for the
// case-insensitive ASCII of DNS names, email domains, serials and media
// types.
[[nodiscard]] std::string ascii_lower(std::string_view s);
[[nodiscard]] constexpr char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }
// ASCII case-insensitive equality, without copying: header field names and
// the tokens of their values (RFC 9110 5.1, 5.6.2), DNS labels.
[[nodiscard]] bool equal_ignoring_case(std::string_view a, std::string_view b) noexcept;

}  // namespace wotca
