// core/util/encoding.h: ascii_lower changes A-Z only, whatever the bytes
// around them.
#include "core/util/encoding.h"

#include <catch2/catch.hpp>
#include <string>

using namespace wotca;

TEST_CASE("ascii_lower lowers A-Z and leaves every other byte as it is", "[encoding]") {
  CHECK(ascii_lower("WWW.Example.ORG") == "www.example.org");
  CHECK(ascii_lower("0A:1b:FF") == "0a:1b:ff");
  CHECK(ascii_lower("") == "");
  CHECK(ascii_lower("@[`{") == "@[`{");  // the neighbours of A-Z and a-z
  const std::string utf8 = "\xC3\x89" "COLE";  // "ÉCOLE": the non-ASCII bytes stay
  CHECK(ascii_lower(utf8) == "\xC3\x89" "cole");
  const std::string with_nul("A\0B", 3);
  CHECK(ascii_lower(with_nul) == std::string("a\0b", 3));
}
