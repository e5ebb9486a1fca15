#include "core/status/der.h"

#include <cstdio>

namespace wotca {

namespace {

std::string hex_byte(std::uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", b);
  return buf;
}

}  // namespace

std::string describe_tag(std::uint8_t t) {
  const char* name = nullptr;
  switch (t) {
    case der_tag::boolean: name = "BOOLEAN"; break;
    case der_tag::integer: name = "INTEGER"; break;
    case der_tag::bit_string: name = "BIT STRING"; break;
    case der_tag::octet_string: name = "OCTET STRING"; break;
    case der_tag::null: name = "NULL"; break;
    case der_tag::object_identifier: name = "OBJECT IDENTIFIER"; break;
    case der_tag::sequence: name = "SEQUENCE"; break;
    case der_tag::set: name = "SET"; break;
    default: break;
  }
  if (name) return std::string(name) + " (" + hex_byte(t) + ")";
  if ((t & 0xc0) == der_tag::context_specific && (t & 0x1f) != 0x1f) {
    return "[" + std::to_string(t & 0x1f) + "] (" + hex_byte(t) + ")";
  }
  return hex_byte(t);
}

bool is_valid_oid(std::span<const std::uint8_t> contents) noexcept {
  if (contents.empty() || (contents.back() & 0x80) != 0) return false;
  for (std::size_t i = 0; i < contents.size(); ++i) {
    bool starts_subidentifier = i == 0 || (contents[i - 1] & 0x80) == 0;
    if (starts_subidentifier && contents[i] == 0x80) return false;
  }
  return true;
}

bool is_minimal_integer(std::span<const std::uint8_t> contents) noexcept {
  if (contents.empty()) return false;
  if (contents.size() == 1) return true;
  if (contents[0] == 0x00 && (contents[1] & 0x80) == 0) return false;
  if (contents[0] == 0xff && (contents[1] & 0x80) != 0) return false;
  return true;
}

std::optional<std::uint8_t> der_reader::peek_tag() const noexcept {
  if (at_end()) return std::nullopt;
  return bytes_[pos_];
}

unexpected<error> der_reader::failure(std::string_view field, std::string_view what, std::size_t at) const {
  std::string message;
  message.reserve(field.size() + what.size() + 24);
  message.append(field).append(": ").append(what).append(" at offset ").append(std::to_string(at));
  return fail(errc::invalid_input, std::string(where_), std::move(message));
}

result<der_tlv> der_reader::read_any(std::string_view field) {
  // X.690 8.1.1: identifier octets, length octets, contents octets.
  const std::size_t start = pos_;
  const std::size_t at = base_ + start;
  const std::size_t left = bytes_.size() - pos_;
  if (left == 0) return failure(field, "missing (the enclosing value ended)", at);
  const std::uint8_t t = bytes_[pos_];
  // X.690 8.1.2.4: tag number 31 announces the high-tag-number form.
  if ((t & 0x1f) == 0x1f) return failure(field, "multi-byte tag " + hex_byte(t) + " (not used by OCSP)", at);
  if (left < 2) return failure(field, "truncated before the length", at);
  // X.690 8.1.3 (definite lengths) and 10.1 (DER: the definite form, in the
  // minimum number of octets).
  const std::uint8_t first = bytes_[pos_ + 1];
  std::size_t header = 2;
  std::size_t length = 0;
  if (first < 0x80) {
    length = first;
  } else if (first == 0x80) {
    return failure(field, "indefinite length (BER, not DER)", at);
  } else if (first == 0xff) {
    return failure(field, "reserved length byte 0xff", at);
  } else {
    const std::size_t count = first & 0x7f;
    if (count > 4) return failure(field, "length of " + std::to_string(count) + " bytes (at most 4)", at);
    if (left - 2 < count) return failure(field, "truncated in the length", at);
    if (bytes_[pos_ + 2] == 0) return failure(field, "length with a leading zero byte (not minimal)", at);
    for (std::size_t i = 0; i < count; ++i) length = (length << 8) | bytes_[pos_ + 2 + i];
    if (length < 0x80) {
      return failure(field, "long-form length " + std::to_string(length) + " below 128 (not minimal)", at);
    }
    header += count;
  }
  if (length > left - header) {
    return failure(field,
                   "length " + std::to_string(length) + " exceeds the " + std::to_string(left - header) +
                       " bytes left",
                   at);
  }
  pos_ += header + length;
  return der_tlv{t, bytes_.subspan(start + header, length), at};
}

result<std::span<const std::uint8_t>> der_reader::read(std::uint8_t expected, std::string_view field) {
  auto next = peek_tag();
  if (!next) return failure(field, "missing (the enclosing value ended)", offset());
  if (*next != expected) {
    return failure(field, "tag " + hex_byte(*next) + " where " + describe_tag(expected) + " was expected", offset());
  }
  auto tlv = read_any(field);
  if (!tlv) return unexpected<error>(std::move(tlv).error());
  return tlv->contents;
}

result<der_reader> der_reader::read_constructed(std::uint8_t expected, std::string_view field) {
  auto contents = read(expected, field);
  if (!contents) return unexpected<error>(std::move(contents).error());
  const std::size_t contents_at = base_ + static_cast<std::size_t>(contents->data() - bytes_.data());
  return der_reader(*contents, where_, contents_at);
}

result<std::optional<std::span<const std::uint8_t>>> der_reader::read_optional(std::uint8_t expected,
                                                                                std::string_view field) {
  if (peek_tag() != expected) return std::optional<std::span<const std::uint8_t>>();
  auto contents = read(expected, field);
  if (!contents) return unexpected<error>(std::move(contents).error());
  return std::optional<std::span<const std::uint8_t>>(*contents);
}

result<std::optional<der_reader>> der_reader::read_optional_constructed(std::uint8_t expected,
                                                                         std::string_view field) {
  if (peek_tag() != expected) return std::optional<der_reader>();
  auto child = read_constructed(expected, field);
  if (!child) return unexpected<error>(std::move(child).error());
  return std::optional<der_reader>(*child);
}

result<void> der_reader::expect_end(std::string_view field) const {
  if (at_end()) return {};
  const std::size_t extra = bytes_.size() - pos_;
  return failure(field,
                 std::to_string(extra) + (extra == 1 ? " byte" : " bytes") + " after the end (first tag " +
                     hex_byte(bytes_[pos_]) + ")",
                 offset());
}

}  // namespace wotca
