// libFuzzer target for the ACME finalize CSR path (acme/order_logic.h):
// the "csr" member as base64url text -> DER -> parse_csr -> the CSR's name
// set compared with the order's identifiers.
//
// Input: the first byte picks the order's identifiers from a small table;
// the second byte says how the rest is used: as the "csr" text as sent, or
// as DER bytes that are base64url-encoded first (so the DER parser is
// reached with arbitrary bytes).
//
// Invariants (a violation aborts):
//  - check_finalize_csr either fails with a code, a `where` and a message,
//    or returns a CSR whose name set (csr_name_set) equals the identifiers
//    and which carries no email address;
//  - name_set_mismatch is symmetric in emptiness: it is empty exactly when
//    the two sets are equal, whatever the order of the inputs;
//  - no OpenSSL error is left on the thread's queue.
#include <openssl/err.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "acme/order_logic.h"
#include "core/util/encoding.h"

namespace {

constexpr std::size_t max_input = 96 * 1024;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "acme_csr_fuzzer: invariant broken: %s\n", what);
    std::abort();
  }
}

const std::vector<std::vector<std::string>>& identifier_sets() {
  static const std::vector<std::vector<std::string>> sets = {
      {"www.example.org"},
      {"example.org", "www.example.org"},
      {"*.example.org"},
      {"a.example.org", "b.example.org", "c.example.org"},
      {"xn--bcher-kva.example"},
  };
  return sets;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2 || size > max_input) return 0;
  const auto& sets = identifier_sets();
  const auto& ids = sets[data[0] % sets.size()];
  const bool as_der = (data[1] & 1) != 0;
  std::span<const std::uint8_t> rest(data + 2, size - 2);
  const std::string text = as_der ? wotca::base64url_encode(rest)
                                  : std::string(reinterpret_cast<const char*>(rest.data()), rest.size());

  auto csr = wotca::acme::check_finalize_csr(text, ids);
  if (!csr) {
    require(!csr.error().where.empty(), "an error without where");
    require(!csr.error().message.empty(), "an error without a message");
  } else {
    std::vector<std::string> want = ids;
    std::sort(want.begin(), want.end());
    require(wotca::acme::csr_name_set(*csr) == want, "an accepted CSR whose names differ from the order");
    require(csr->emails.empty(), "an accepted CSR with an email address");
  }

  // The comparison on its own, over names taken from the input.
  std::vector<std::string> names;
  std::string current;
  for (std::size_t i = 2; i < size && names.size() < 8; ++i) {
    if (data[i] == ',') {
      names.push_back(current);
      current.clear();
    } else if (current.size() < 64) {
      current.push_back(static_cast<char>(data[i]));
    }
  }
  names.push_back(current);
  auto forward = wotca::acme::name_set_mismatch(names, ids);
  auto backward = wotca::acme::name_set_mismatch(ids, names);
  require(forward.has_value() == backward.has_value(), "name_set_mismatch is not symmetric");
  require(!wotca::acme::name_set_mismatch(names, names).has_value(), "a set differs from itself");

  require(ERR_peek_error() == 0, "an OpenSSL error was left on the queue");
  return 0;
}
