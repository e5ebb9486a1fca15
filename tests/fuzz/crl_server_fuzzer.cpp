// Fuzzes what wotca-crl parses from outside (STYLE.md 17): the request
// (method, path, If-None-Match, If-Modified-Since) through the handler over
// a real CRL folder, and the CRL head reader over any bytes (the folder may
// hold files another program wrote). Input: method \n path \n
// if-none-match \n if-modified-since \n then the rest as a CRL prefix.
// Invariants: the status is one of 200, 304, 404, 405; a 200 or 304 only
// for a name that is served, a 200 with the file's bytes from memory; the head reader returns a value or an error
// for any bytes, never reads past them (ASan) and never crashes.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <variant>

#include "core/pki/issuer.h"
#include "core/pki/key.h"
#include "core/status/crl.h"
#include "crl/server.h"

namespace {

using namespace wotca;

const sys_seconds t0{std::chrono::seconds(1'800'000'000)};

crl_files& folder() {
  static crl_files* files = [] {
    static std::string pattern = (std::filesystem::temp_directory_path() / "wotca-crl-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    // The folder goes when the run ends normally (libFuzzer exits).
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(pattern, ec);
    });
    auto key = generate_key(key_algorithm::ec_p256);
    if (!key) std::abort();
    serial_number serial{};
    serial[0] = 9;
    auto cert = make_root(**key, "Fuzz CA", "WoTCA", serial, t0, t0 + std::chrono::days(365));
    if (!cert) std::abort();
    crl_params p;
    p.crl_number = 1;
    p.this_update = t0;
    p.next_update = t0 + std::chrono::days(7);
    auto source = [](const crl_entry_sink& sink) -> result<void> { return sink(crl_entry{"0abc", t0, 1}); };
    if (!write_crl_file(std::filesystem::path(pattern) / "class1.crl", p, **cert, **key, source)) std::abort();
    auto* f = new crl_files(pattern, {"class1.crl", "class3.crl", "root.crt"});
    f->refresh();
    return f;
  }();
  return *files;
}

std::string_view take_line(std::string_view& in) {
  auto end = in.find('\n');
  auto line = in.substr(0, end);
  in.remove_prefix(end == std::string_view::npos ? in.size() : end + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 65536) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string_view rest_all = in;
  http_request req;
  req.method = take_line(in);
  req.raw_path = take_line(in);
  http_header headers[2] = {{"If-None-Match", take_line(in)}, {"If-Modified-Since", take_line(in)}};
  req.headers = std::span<const http_header>(headers, 2);
  auto r = folder().respond(req, t0 + std::chrono::seconds(10));
  if (r.status != 200 && r.status != 304 && r.status != 404 && r.status != 405) std::abort();
  if ((r.status == 200 || r.status == 304) && req.raw_path != "/class1.crl" && req.raw_path != "/class1.crl.pem") {
    std::abort();
  }
  if (r.status == 200) {  // the small CRL comes from memory, whole
    const auto* bytes = std::get_if<std::shared_ptr<const std::string>>(&r.body);
    if (bytes == nullptr || *bytes == nullptr || (*bytes)->empty()) std::abort();
  }
  (void)parse_http_date(headers[1].value);

  auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(rest_all.data()) + (rest_all.size() - in.size()),
                         in.size());
  if (auto h = read_crl_head(bytes); h && h->next_update) {
    (void)(*h->next_update - h->this_update);
  }
  return 0;
}
