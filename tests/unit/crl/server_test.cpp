// The CRL folder served as values: requests built by hand, no socket.
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "core/pki/issuer.h"
#include "core/pki/key.h"
#include "core/status/crl.h"
#include "crl/server.h"

namespace wotca {
namespace {

namespace fs = std::filesystem;
using std::chrono::days;
using std::chrono::seconds;

const sys_seconds t0{seconds(1'800'000'000)};  // Fri, 15 Jan 2027 08:00:00 GMT

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "wotca-crlsrv-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

struct served_folder {
  temp_dir dir;
  evp_pkey_ptr key;
  x509_ptr cert;

  served_folder() {
    auto k = generate_key(key_algorithm::ec_p256);
    REQUIRE(k);
    key = std::move(*k);
    serial_number serial{};
    serial[0] = 7;
    auto c = make_root(*key, "Served CA", "WoTCA Tests", serial, t0 - days(1), t0 + days(3650));
    REQUIRE(c);
    cert = std::move(*c);
  }

  void write(const std::string& name, std::int64_t number, sys_seconds this_update) {
    crl_params p;
    p.crl_number = number;
    p.this_update = this_update;
    p.next_update = this_update + days(7);
    auto source = [](const crl_entry_sink& sink) -> result<void> {
      return sink(crl_entry{"0abc", t0 - seconds(5), 1});
    };
    REQUIRE(write_crl_file(dir.path / name, p, *cert, *key, source));
  }
};

http_response get(const crl_files& files, std::string_view path, std::vector<http_header> headers = {},
                  std::string_view method = "GET", sys_seconds now = t0 + seconds(100)) {
  http_request req;
  req.method = method;
  req.raw_path = path;
  req.headers = headers;
  return files.respond(req, now);
}

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The shared bytes of a response served from memory (null for any other body).
std::shared_ptr<const std::string> shared_body(const http_response& r) {
  const auto* p = std::get_if<std::shared_ptr<const std::string>>(&r.body);
  return p == nullptr ? nullptr : *p;
}

std::string header(const http_response& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return {};
}

TEST_CASE("a CRL is served with its caching headers, from memory when small", "[crl][server]") {
  served_folder f;
  f.write("class1.crl", 1, t0);
  crl_files files(f.dir.path, {"class1.crl", "class3.crl", "class1.crt"});
  auto opened = files.refresh();
  CHECK(opened == std::vector<std::string>{"class1.crl.pem", "class1.crl"});

  auto r = get(files, "/class1.crl");
  CHECK(r.status == 200);
  CHECK(header(r, "Content-Type") == "application/pkix-crl");
  CHECK(header(r, "Last-Modified") == "Fri, 15 Jan 2027 08:00:00 GMT");
  CHECK(header(r, "Expires") == "Fri, 22 Jan 2027 08:00:00 GMT");
  CHECK(header(r, "Cache-Control") == "max-age=604700, public, no-transform, must-revalidate");
  // A few hundred bytes: read once, every response shares the same bytes.
  const auto body = shared_body(r);
  REQUIRE(body != nullptr);
  CHECK(*body == file_bytes(f.dir.path / "class1.crl"));
  CHECK(shared_body(get(files, "/class1.crl")) == body);
  const auto etag = header(r, "ETag");
  CHECK(etag.size() > 2);
  CHECK(etag.front() == '"');

  auto pem = get(files, "/class1.crl.pem");
  CHECK(pem.status == 200);
  CHECK(header(pem, "Content-Type") == "application/x-pem-file");
  CHECK(header(pem, "Last-Modified") == "Fri, 15 Jan 2027 08:00:00 GMT");
  REQUIRE(shared_body(pem) != nullptr);
  CHECK(*shared_body(pem) == file_bytes(f.dir.path / "class1.crl.pem"));

  auto head = get(files, "/class1.crl", {}, "HEAD");
  CHECK(head.status == 200);
  CHECK(header(head, "ETag") == etag);

  // Past nextUpdate a cache must not keep it at all.
  CHECK(header(get(files, "/class1.crl", {}, "GET", t0 + days(8)), "Cache-Control").starts_with("max-age=0,"));
}

TEST_CASE("a file over the memory limit is sent from the open file", "[crl][server]") {
  served_folder f;
  f.write("class1.crl", 1, t0);
  const auto size = fs::file_size(f.dir.path / "class1.crl");
  // The limit is inclusive: a file of exactly `size` bytes stays in memory.
  crl_files at_limit(f.dir.path, {"class1.crl"}, size);
  at_limit.refresh();
  CHECK(shared_body(get(at_limit, "/class1.crl")) != nullptr);

  crl_files files(f.dir.path, {"class1.crl"}, size - 1);
  files.refresh();
  auto r = get(files, "/class1.crl");
  CHECK(r.status == 200);
  CHECK(header(r, "Content-Type") == "application/pkix-crl");
  CHECK(header(r, "Last-Modified") == "Fri, 15 Jan 2027 08:00:00 GMT");
  CHECK(header(r, "Expires") == "Fri, 22 Jan 2027 08:00:00 GMT");
  CHECK(header(r, "ETag") == header(get(at_limit, "/class1.crl"), "ETag"));
  REQUIRE(std::holds_alternative<file_body>(r.body));
  const auto& body = std::get<file_body>(r.body);
  CHECK(body.size == size);
  CHECK(body.offset == 0);
  std::string sent(body.size, '\0');
  CHECK(::pread(body.file->fd(), sent.data(), sent.size(), 0) == static_cast<ssize_t>(size));
  CHECK(sent == file_bytes(f.dir.path / "class1.crl"));
}

TEST_CASE("conditional requests are answered 304", "[crl][server]") {
  served_folder f;
  f.write("class1.crl", 1, t0);
  crl_files files(f.dir.path, {"class1.crl"});
  files.refresh();
  const auto etag = header(get(files, "/class1.crl"), "ETag");
  using row = std::tuple<std::string, std::string, int>;
  // ETAG stands for this run's entity tag (the generator's values are made
  // once, the folder, and so the tag, for every row).
  auto [name, pattern, status] = GENERATE(table<std::string, std::string, int>({
      row{"If-None-Match", "ETAG", 304},
      row{"if-none-match", "\"other\", ETAG", 304},
      row{"If-None-Match", "W/ETAG", 304},
      row{"If-None-Match", "*", 304},
      row{"If-None-Match", "\"other\"", 200},
      row{"If-Modified-Since", "Fri, 15 Jan 2027 08:00:00 GMT", 304},
      row{"If-Modified-Since", "Sat, 16 Jan 2027 08:00:00 GMT", 304},
      row{"If-Modified-Since", "Fri, 15 Jan 2027 07:59:59 GMT", 200},
      row{"If-Modified-Since", "yesterday", 200},
  }));
  std::string value = pattern;
  if (auto at = value.find("ETAG"); at != std::string::npos) value.replace(at, 4, etag);
  std::vector<http_header> h{{name, value}};
  auto r = get(files, "/class1.crl", h);
  INFO(name << ": " << value);
  CHECK(r.status == status);
  CHECK(header(r, "ETag") == etag);
  if (status == 304) CHECK(std::holds_alternative<std::string>(r.body));
}

TEST_CASE("a replaced file is served after refresh, the old one until then", "[crl][server]") {
  served_folder f;
  f.write("class1.crl", 1, t0);
  const auto limit = GENERATE(crl_files::default_memory_limit, std::uint64_t{0});
  INFO("memory limit " << limit);
  crl_files files(f.dir.path, {"class1.crl"}, limit);
  files.refresh();
  const std::string first = file_bytes(f.dir.path / "class1.crl");
  auto before = get(files, "/class1.crl");
  f.write("class1.crl", 2, t0 + seconds(60));
  CHECK(header(get(files, "/class1.crl"), "ETag") == header(before, "ETag"));
  auto changed = files.refresh();
  CHECK(std::find(changed.begin(), changed.end(), "class1.crl") != changed.end());
  auto after = get(files, "/class1.crl");
  CHECK(header(after, "ETag") != header(before, "ETag"));
  CHECK(header(after, "Last-Modified") == "Fri, 15 Jan 2027 08:01:00 GMT");
  // The response taken before still holds the old bytes or file, whole;
  // the new one carries the new CRL.
  if (limit == 0) {
    const auto& old = std::get<file_body>(before.body);
    CHECK(old.file->size() == old.size);
    CHECK(old.size == first.size());
    CHECK(std::holds_alternative<file_body>(after.body));
  } else {
    REQUIRE(shared_body(before) != nullptr);
    CHECK(*shared_body(before) == first);
    REQUIRE(shared_body(after) != nullptr);
    CHECK(*shared_body(after) == file_bytes(f.dir.path / "class1.crl"));
    CHECK(*shared_body(after) != first);
  }
  CHECK(files.refresh().empty());
  fs::remove(f.dir.path / "class1.crl");
  files.refresh();
  CHECK(get(files, "/class1.crl").status == 404);
}

TEST_CASE("unknown paths are 404, other methods 405, and nothing outside the names is reachable", "[crl][server]") {
  served_folder f;
  f.write("class1.crl", 1, t0);
  std::ofstream(f.dir.path / "secret.key") << "x";
  crl_files files(f.dir.path, {"class1.crl"});
  files.refresh();
  for (std::string_view path : {"/", "", "/class2.crl", "/secret.key", "/../class1.crl", "/class1.crl/",
                                "//class1.crl", "/CLASS1.CRL", "/class1.crl%00", "/class1.crt"}) {
    INFO(path);
    CHECK(get(files, path).status == 404);
  }
  auto post = get(files, "/class1.crl", {}, "POST");
  CHECK(post.status == 405);
  CHECK(header(post, "Allow") == "GET, HEAD");
}

TEST_CASE("read_crl_head reads the times from a prefix and refuses what is not a CRL", "[crl][server]") {
  served_folder f;
  f.write("x.crl", 3, t0);
  std::ifstream in(f.dir.path / "x.crl", std::ios::binary);
  std::vector<std::uint8_t> der((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto h = read_crl_head(der);
  REQUIRE(h);
  CHECK(h->this_update == t0);
  CHECK(h->next_update == t0 + days(7));
  // A prefix that ends after nextUpdate is enough.
  auto prefix = read_crl_head(std::span(der).first(200));
  REQUIRE(prefix);
  CHECK(prefix->this_update == t0);
  for (std::size_t n : {0, 1, 2, 5, 20, 40}) {
    INFO(n);
    CHECK_FALSE(read_crl_head(std::span(der).first(n)));
  }
  std::vector<std::uint8_t> garbage{0x30, 0x84, 0x00, 0x00, 0x00, 0x05, 0x02, 0x01};
  CHECK(read_crl_head(garbage).error().code == errc::invalid_input);
}

TEST_CASE("HTTP dates round-trip and odd forms are refused", "[crl][server]") {
  CHECK(http_date(t0) == "Fri, 15 Jan 2027 08:00:00 GMT");
  CHECK(parse_http_date(http_date(t0)) == t0);
  CHECK_FALSE(parse_http_date("Friday, 15-Jan-27 08:00:00 GMT"));
  CHECK_FALSE(parse_http_date("Fri, 31 Feb 2027 08:00:00 GMT"));
  CHECK_FALSE(parse_http_date("Fri, 15 Foo 2027 08:00:00 GMT"));
  CHECK_FALSE(parse_http_date(""));
}

}  // namespace
}  // namespace wotca
