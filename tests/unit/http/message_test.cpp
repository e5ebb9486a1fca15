// The request and response values alone, without a server (STYLE.md 1: a
// handler is tested by building its request by hand).
#include "core/http/message.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

using wotca::errc;
using wotca::http_header;
using wotca::http_request;

}  // namespace

TEST_CASE("header lookup ignores ASCII case and returns the first field of a name", "[http][message]") {
  const std::vector<http_header> headers{
      {"Content-Type", "application/ocsp-request"},
      {"HOST", "ocsp.example"},
      {"x-forwarded-for", "192.0.2.1"},
      {"X-Forwarded-For", "192.0.2.2"},
      {"X-Empty", ""},
  };
  const http_request request{"POST", "/", "", "", headers};

  auto [asked, expected] = GENERATE(table<std::string, std::string>({
      {"Content-Type", "application/ocsp-request"},  // as sent
      {"content-type", "application/ocsp-request"},  // lower
      {"CONTENT-TYPE", "application/ocsp-request"},  // upper
      {"Host", "ocsp.example"},                      // sent upper, asked mixed
      {"X-FORWARDED-FOR", "192.0.2.1"},              // repeated name: the first
      {"X-Empty", ""},                               // present, empty value
      {"Content-Typ", ""},                           // a prefix is another name
      {"Content-Type ", ""},                         // so is a longer one
      {"Accept", ""},                                // absent
      {"", ""},                                      // the empty name
  }));
  INFO("asked: '" << asked << "'");
  CHECK(request.header(asked) == expected);
}

TEST_CASE("header lookup on a request without headers reads empty", "[http][message]") {
  const http_request request{};
  CHECK(request.header("Host").empty());
}

TEST_CASE("open_file records the size of a regular file and refuses anything else", "[http][message]") {
  SECTION("a regular file") {
    char path[] = "/tmp/wotca_http_open_file_XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::close(fd);
    std::ofstream(path, std::ios::binary) << std::string(12345, 'c');
    auto file = wotca::open_file::open(path);
    ::unlink(path);  // the open descriptor keeps the bytes reachable
    REQUIRE(file.has_value());
    CHECK((*file)->size() == 12345);
    CHECK((*file)->fd() >= 0);
  }
  SECTION("a missing path") {
    auto file = wotca::open_file::open("/nonexistent/wotca/crl.der");
    REQUIRE_FALSE(file.has_value());
    CHECK(file.error().code == errc::io);
    CHECK(file.error().where == "/nonexistent/wotca/crl.der");
  }
  SECTION("a directory") {
    auto file = wotca::open_file::open("/tmp");
    REQUIRE_FALSE(file.has_value());
    CHECK(file.error().code == errc::io);
  }
}
