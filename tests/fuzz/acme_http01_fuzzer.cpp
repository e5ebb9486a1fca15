// libFuzzer target for acme/validator.h (STYLE.md 17): what a requester's
// server sends the validators, as untrusted bytes.
//
// Input layout: byte 0 picks what is fuzzed (mod 3), byte 1 the body limit
// (4 * byte), byte 2 the size of the pieces the answer arrives in (1 +
// byte), the rest is the input:
//   0: an http-01 answer fed to http_answer_reader piece by piece, then
//      judged, and its Location resolved as a redirect;
//   1: a Location value given to resolve_redirect;
//   2: a certificate (DER) given to judge_tls_alpn01.
//
// Invariants (a violation aborts, which libFuzzer reports as a crash):
//  - the reader never reports a body over its limit, and `failed` always
//    comes with an error message;
//  - reading the same bytes in one piece gives the same state, status and
//    body as reading them piece by piece, unless a limit refused one of the
//    two (Beast checks the header limit against the bytes it was given, so
//    a header just under the limit may be refused when the bytes after it
//    arrive with it);
//  - a resolved redirect has a non-empty lower-case host, port 80 or 443 and
//    a path starting with '/';
//  - a judgement is valid iff it has no problem type, and an invalid one has
//    an ACME problem type and a detail.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "acme/validator.h"

namespace {

using wotca::acme::http_answer_reader;

constexpr std::size_t max_input = 64 * 1024 + 3;
const std::string key_authorization = "token.thumbprint";

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "acme_http01_fuzzer: invariant broken: %s\n", what);
  std::abort();
}

void require(bool ok, const char* what) {
  if (!ok) broken(what);
}

void check_outcome(const wotca::acme::validation_outcome& o) {
  require(o.valid == o.problem_type.empty(), "valid and a problem type, or neither");
  if (!o.valid) {
    require(o.problem_type.rfind("urn:ietf:params:acme:error:", 0) == 0, "not an ACME problem type");
    require(!o.detail.empty(), "a problem without a detail");
  }
}

void check_redirect(std::string_view location) {
  wotca::acme::redirect_target from{false, "a.example", 80, "/.well-known/acme-challenge/token"};
  auto to = wotca::acme::resolve_redirect(location, from);
  if (!to) {
    require(!to.error().message.empty(), "a refused redirect without a reason");
    return;
  }
  require(!to->host.empty(), "a redirect to no host");
  for (char c : to->host) require(!(c >= 'A' && c <= 'Z'), "an upper-case host");
  require(to->port == 80 || to->port == 443, "a redirect to a port other than 80 and 443");
  require(!to->path.empty() && to->path.front() == '/', "a path not starting with /");
}

struct read_result {
  bool too_large;
  http_answer_reader::state state;
  unsigned status;
  std::string body;
};

read_result read_all(std::string_view answer, std::size_t piece, std::size_t max_body) {
  http_answer_reader reader(512, max_body);
  auto state = http_answer_reader::state::more;
  for (std::size_t at = 0; at < answer.size() && state == http_answer_reader::state::more; at += piece) {
    state = reader.feed(answer.substr(at, piece));
  }
  if (state == http_answer_reader::state::more) state = reader.finish();
  require(state != http_answer_reader::state::more, "still waiting after the end");
  if (state == http_answer_reader::state::failed) require(!reader.error().empty(), "a failure without a message");
  require(reader.body().size() <= max_body, "a body over the limit");
  if (state == http_answer_reader::state::done) {
    check_outcome(wotca::acme::judge_http01(reader.status(), reader.body(), key_authorization, "http://a.example/x"));
    if (auto location = reader.location()) check_redirect(*location);
  }
  return {reader.too_large(), state, reader.status(), reader.body()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3 || size > max_input) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 3, size - 3);
  switch (data[0] % 3) {
    case 0: {
      const std::size_t max_body = 4 * std::size_t{data[1]};
      const std::size_t piece = 1 + std::size_t{data[2]};
      auto pieces = read_all(input, piece, max_body);
      auto whole = read_all(input, input.size() + 1, max_body);
      if (pieces.too_large || whole.too_large) break;
      require(pieces.state == whole.state, "the state depends on how the bytes arrived");
      if (whole.state == http_answer_reader::state::done) {
        require(pieces.status == whole.status && pieces.body == whole.body, "the answer depends on how the bytes arrived");
      }
      break;
    }
    case 1:
      check_redirect(input);
      break;
    case 2:
      check_outcome(wotca::acme::judge_tls_alpn01(
          std::span<const std::uint8_t>(data + 3, size - 3), "a.example", key_authorization));
      break;
  }
  return 0;
}
