// A small bounded DER reader for the OCSP hot path (STYLE.md 10): a view
// over bytes with a child reader per constructed value, a tag check on every
// read and DER's definite, minimal lengths. It reads what it is told to and
// nothing more: the schema lives in the caller (ocsp_request.cpp), which
// quotes the ASN.1 it follows. Modelled on BoringSSL pki/input.h +
// parser.h over CBS.
//
// Lifetimes: a der_reader, the child readers it hands out and every span in
// a der_tlv or returned contents point into the caller's buffer, and are
// valid while that buffer lives and is not modified. Nothing is copied.
//
// Errors: every failing read returns errc::invalid_input with `where` as
// given at construction (e.g. "ocsp request") and a message that names the
// field being read, what was found and the offset from the start of the
// top-level buffer, e.g. "CertID: tag 0x31 where SEQUENCE (0x30) was
// expected at offset 12". After a failed read the reader's position is
// unspecified; callers give up on the whole input.
//
// Supported: one-byte tags (tag numbers 0..30; the high-tag-number form is
// refused as no OCSP field uses it), definite lengths of at most 4 length
// bytes in minimal form (short form below 128, no leading zero byte),
// constructed-vs-primitive as encoded in the tag. Refused: indefinite
// lengths (BER), the reserved length byte 0xff, lengths past the end of the
// enclosing value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/util/error.h"

namespace wotca {

// Tags as one identifier octet (X.690 8.1.2): class, constructed bit, number.
namespace der_tag {
inline constexpr std::uint8_t boolean = 0x01;
inline constexpr std::uint8_t integer = 0x02;
inline constexpr std::uint8_t bit_string = 0x03;
inline constexpr std::uint8_t octet_string = 0x04;
inline constexpr std::uint8_t null = 0x05;
inline constexpr std::uint8_t object_identifier = 0x06;
inline constexpr std::uint8_t sequence = 0x30;  // constructed
inline constexpr std::uint8_t set = 0x31;       // constructed
inline constexpr std::uint8_t constructed = 0x20;
inline constexpr std::uint8_t context_specific = 0x80;
// [n] with the constructed bit, as EXPLICIT tagging requires (X.690 8.14.2).
[[nodiscard]] constexpr std::uint8_t explicit_context(unsigned n) {
  return static_cast<std::uint8_t>(context_specific | constructed | (n & 0x1f));
}
}  // namespace der_tag

// "SEQUENCE (0x30)", "[0] (0xa0)", "0x1f": a tag as the messages show it.
[[nodiscard]] std::string describe_tag(std::uint8_t t);

// X.690 8.19 / 8.3: contents that OpenSSL's c2i_ASN1_OBJECT would take as an
// OBJECT IDENTIFIER: not empty, no subidentifier starting with 0x80 (not
// minimal), the last byte ending a subidentifier.
[[nodiscard]] bool is_valid_oid(std::span<const std::uint8_t> contents) noexcept;
// X.690 8.3.2: INTEGER contents of at least one byte whose first nine bits
// are neither all zero nor all one (the minimal two's-complement form).
[[nodiscard]] bool is_minimal_integer(std::span<const std::uint8_t> contents) noexcept;

// One element as read: its tag, its contents (without tag and length) and
// the offset of its tag from the start of the top-level buffer.
struct der_tlv {
  std::uint8_t tag = 0;
  std::span<const std::uint8_t> contents;
  std::size_t offset = 0;
};

class der_reader {
 public:
  // `where` must outlive the reader and its children (a string literal in
  // practice). `base_offset` is where `bytes` starts in the top-level buffer,
  // for messages; 0 for a top-level reader.
  der_reader(std::span<const std::uint8_t> bytes, std::string_view where, std::size_t base_offset = 0) noexcept
      : bytes_(bytes), where_(where), base_(base_offset) {}

  [[nodiscard]] bool at_end() const noexcept { return pos_ == bytes_.size(); }
  // The tag of the next element, without reading it; nullopt at the end.
  [[nodiscard]] std::optional<std::uint8_t> peek_tag() const noexcept;
  // Offset of the next element from the start of the top-level buffer.
  [[nodiscard]] std::size_t offset() const noexcept { return base_ + pos_; }
  // The bytes not yet read.
  [[nodiscard]] std::span<const std::uint8_t> remaining() const noexcept { return bytes_.subspan(pos_); }

  // Reads the next element, whatever its tag (for values the caller skips
  // or counts). `field` names the value in messages.
  [[nodiscard]] result<der_tlv> read_any(std::string_view field);
  // Reads the next element, which must have tag `expected`, and returns its
  // contents. For a primitive tag these are the value's bytes.
  [[nodiscard]] result<std::span<const std::uint8_t>> read(std::uint8_t expected, std::string_view field);
  // Reads the next element, which must have the constructed tag `expected`,
  // and returns a reader over its contents.
  [[nodiscard]] result<der_reader> read_constructed(std::uint8_t expected, std::string_view field);
  // As read / read_constructed when the next element has tag `expected`;
  // nullopt, reading nothing, when the reader is at its end or the next tag
  // differs (an absent OPTIONAL or DEFAULT element).
  [[nodiscard]] result<std::optional<std::span<const std::uint8_t>>> read_optional(std::uint8_t expected,
                                                                                   std::string_view field);
  [[nodiscard]] result<std::optional<der_reader>> read_optional_constructed(std::uint8_t expected,
                                                                             std::string_view field);
  // Succeeds when every byte has been read; otherwise an error naming
  // `field` (the value whose contents should have ended) and the count of
  // trailing bytes.
  [[nodiscard]] result<void> expect_end(std::string_view field) const;

  // An errc::invalid_input error with this reader's `where`, the message
  // "<field>: <what> at offset <offset>".
  [[nodiscard]] unexpected<error> failure(std::string_view field, std::string_view what, std::size_t at) const;

 private:
  std::span<const std::uint8_t> bytes_;
  std::string_view where_;
  std::size_t base_ = 0;
  std::size_t pos_ = 0;
};

}  // namespace wotca
