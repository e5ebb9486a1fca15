// The bounded DER reader (core/status/der.h): tag checks, DER length rules,
// child readers and the messages they give, over hand-written bytes.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "core/status/der.h"

using namespace wotca;

namespace {
using bytes = std::vector<std::uint8_t>;
}  // namespace

TEST_CASE("der_reader reads nested values and their contents", "[status][der]") {
  // SEQUENCE { INTEGER 5, [0] { OCTET STRING 'ab' }, NULL }
  const bytes der{0x30, 0x0b, 0x02, 0x01, 0x05, 0xa0, 0x04, 0x04, 0x02, 'a', 'b', 0x05, 0x00};
  der_reader top(der, "test");
  auto seq = top.read_constructed(der_tag::sequence, "outer");
  REQUIRE(seq);
  CHECK(top.at_end());
  CHECK(top.expect_end("outer"));
  CHECK(seq->offset() == 2);
  CHECK(seq->peek_tag() == der_tag::integer);
  auto i = seq->read(der_tag::integer, "i");
  REQUIRE(i);
  CHECK(i->data() == der.data() + 4);
  CHECK(i->size() == 1);
  // An absent optional reads nothing.
  auto absent = seq->read_optional(der_tag::boolean, "b");
  REQUIRE(absent);
  CHECK_FALSE(absent->has_value());
  auto wrapped = seq->read_optional_constructed(der_tag::explicit_context(0), "w");
  REQUIRE(wrapped);
  REQUIRE(wrapped->has_value());
  CHECK((*wrapped)->offset() == 7);
  auto s = (*wrapped)->read(der_tag::octet_string, "s");
  REQUIRE(s);
  CHECK(std::string(s->begin(), s->end()) == "ab");
  CHECK((*wrapped)->at_end());
  auto any = seq->read_any("n");
  REQUIRE(any);
  CHECK(any->tag == der_tag::null);
  CHECK(any->contents.empty());
  CHECK(any->offset == 11);
  CHECK(seq->at_end());
  CHECK_FALSE(seq->peek_tag().has_value());
}

TEST_CASE("der_reader accepts minimal long-form lengths", "[status][der]") {
  // length 128 (81 80), 256 (82 01 00), 65536 (83 01 00 00)
  for (std::size_t n : {std::size_t{127}, std::size_t{128}, std::size_t{255}, std::size_t{256}, std::size_t{65536}}) {
    CAPTURE(n);
    bytes der{0x04};
    if (n < 128) {
      der.push_back(static_cast<std::uint8_t>(n));
    } else if (n < 256) {
      der.insert(der.end(), {0x81, static_cast<std::uint8_t>(n)});
    } else if (n < 65536) {
      der.insert(der.end(), {0x82, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
    } else {
      der.insert(der.end(), {0x83, static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 8),
                             static_cast<std::uint8_t>(n)});
    }
    der.resize(der.size() + n, 0x41);
    der_reader r(der, "test");
    auto v = r.read(der_tag::octet_string, "v");
    REQUIRE(v);
    CHECK(v->size() == n);
    CHECK(r.at_end());
  }
}

TEST_CASE("der_reader refuses what DER forbids, naming field, fault and offset", "[status][der]") {
  // row: rule, bytes (read as: SEQUENCE "outer" then OCTET STRING "inner" inside it), message
  auto [rule, der, message] = GENERATE(table<std::string, bytes, std::string>({
      {"tag mismatch", {0x31, 0x00}, "outer: tag 0x31 where SEQUENCE (0x30) was expected at offset 0"},
      {"tag mismatch inside", {0x30, 0x02, 0x24, 0x00},
       "inner: tag 0x24 where OCTET STRING (0x04) was expected at offset 2"},
      {"empty input", {}, "outer: missing (the enclosing value ended) at offset 0"},
      {"missing inner", {0x30, 0x00}, "inner: missing (the enclosing value ended) at offset 2"},
      {"no length byte", {0x30}, "outer: truncated before the length at offset 0"},
      {"X.690 10.1 indefinite length", {0x30, 0x80, 0x04, 0x00, 0x00, 0x00},
       "outer: indefinite length (BER, not DER) at offset 0"},
      {"X.690 8.1.3.5 reserved 0xff", {0x30, 0xff}, "outer: reserved length byte 0xff at offset 0"},
      {"X.690 10.1 long form below 128", {0x30, 0x81, 0x02, 0x04, 0x00},
       "outer: long-form length 2 below 128 (not minimal) at offset 0"},
      {"X.690 10.1 leading zero length byte", {0x30, 0x82, 0x00, 0x02, 0x04, 0x00},
       "outer: length with a leading zero byte (not minimal) at offset 0"},
      {"more than 4 length bytes", {0x30, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00},
       "outer: length of 5 bytes (at most 4) at offset 0"},
      {"length bytes truncated", {0x30, 0x82, 0x01}, "outer: truncated in the length at offset 0"},
      {"length past the end", {0x30, 0x03, 0x04, 0x00}, "outer: length 3 exceeds the 2 bytes left at offset 0"},
      {"inner length past its parent", {0x30, 0x02, 0x04, 0x01, 0x00},
       "inner: length 1 exceeds the 0 bytes left at offset 2"},
      {"4-byte length past the end", {0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00},
       "outer: length 4294967295 exceeds the 1 bytes left at offset 0"},
      {"high-tag-number form", {0x30, 0x03, 0x1f, 0x01, 0x00},
       "inner: tag 0x1f where OCTET STRING (0x04) was expected at offset 2"},
      {"trailing bytes in the parent", {0x30, 0x04, 0x04, 0x00, 0x05, 0x00},
       "outer: 2 bytes after the end (first tag 0x05) at offset 4"},
      {"trailing byte at the top", {0x30, 0x02, 0x04, 0x00, 0x00},
       "top: 1 byte after the end (first tag 0x00) at offset 4"},
  }));
  CAPTURE(rule);
  der_reader top(der, "test");
  auto outcome = [&]() -> result<void> {
    auto outer = top.read_constructed(der_tag::sequence, "outer");
    if (!outer) return unexpected(outer.error());
    auto inner = outer->read(der_tag::octet_string, "inner");
    if (!inner) return unexpected(inner.error());
    if (auto end = outer->expect_end("outer"); !end) return end;
    return top.expect_end("top");
  }();
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().code == errc::invalid_input);
  CHECK(outcome.error().where == "test");
  CHECK(outcome.error().message == message);
}

TEST_CASE("read_any refuses multi-byte tags", "[status][der]") {
  const bytes der{0x1f, 0x81, 0x00, 0x00};
  der_reader r(der, "test");
  auto any = r.read_any("x");
  REQUIRE_FALSE(any);
  CHECK(any.error().message == "x: multi-byte tag 0x1f (not used by OCSP) at offset 0");
}

TEST_CASE("OBJECT IDENTIFIER and INTEGER contents checks", "[status][der]") {
  auto [rule, contents, oid_ok, integer_ok] = GENERATE(table<std::string, bytes, bool, bool>({
      {"sha1", {0x2b, 0x0e, 0x03, 0x02, 0x1a}, true, true},
      {"multi-byte subidentifier", {0x60, 0x86, 0x48, 0x01}, true, true},
      {"empty", {}, false, false},
      {"last byte continues", {0x2b, 0x86}, false, true},
      {"subidentifier starts with 0x80", {0x2b, 0x80, 0x01}, false, true},
      {"first subidentifier starts with 0x80", {0x80, 0x01}, false, true},
      {"0x80 inside a subidentifier is fine", {0x2b, 0x81, 0x80, 0x01}, true, true},
      {"zero", {0x00}, true, true},
      {"0x00 0x80 (positive, needs the zero)", {0x00, 0x80}, false, true},
      {"0x00 0x7f (not minimal)", {0x00, 0x7f}, true, false},
      {"0xff 0x80 (not minimal)", {0xff, 0x80}, false, false},
      {"0xff 0x7f (negative)", {0xff, 0x7f}, true, true},
  }));
  CAPTURE(rule);
  CHECK(is_valid_oid(contents) == oid_ok);
  CHECK(is_minimal_integer(contents) == integer_ok);
}

TEST_CASE("describe_tag names the tags OCSP uses", "[status][der]") {
  CHECK(describe_tag(0x30) == "SEQUENCE (0x30)");
  CHECK(describe_tag(0x04) == "OCTET STRING (0x04)");
  CHECK(describe_tag(0xa2) == "[2] (0xa2)");
  CHECK(describe_tag(0x82) == "[2] (0x82)");
  CHECK(describe_tag(0x13) == "0x13");
}
