// libFuzzer target for core/pki/csr.h (STYLE.md 17): parse_csr on the raw
// bytes, and the DNS name / email syntax checks on the bytes as text.
//
// Invariants (a violation aborts, which libFuzzer reports as a crash):
//  - parse_csr either fails with a code, a `where` and a message, or
//    returns a request that re-encodes (i2d_X509_REQ) and has a public key
//    that passes check_key, with every name already in normal form;
//  - normalize_dns_name / normalize_email are idempotent, and what they
//    accept obeys the length limits of csr.h;
//  - no OpenSSL error is left on the thread's queue.
#include <openssl/err.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "core/pki/csr.h"
#include "core/pki/key.h"

namespace {

constexpr std::size_t max_input = 64 * 1024;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "pki_csr_fuzzer: invariant broken: %s\n", what);
  std::abort();
}

void require(bool ok, const char* what) {
  if (!ok) broken(what);
}

void check_error(const wotca::error& e) {
  require(!e.where.empty(), "an error without where");
  require(!e.message.empty(), "an error without a message");
  require(e.code == wotca::errc::invalid_input || e.code == wotca::errc::denied || e.code == wotca::errc::crypto,
          "an unexpected error code");
}

void check_csr(std::span<const std::uint8_t> bytes) {
  auto csr = wotca::parse_csr(bytes);
  if (!csr) {
    check_error(csr.error());
    if (csr.error().code == wotca::errc::denied) require(csr.error().where == "R-KEYS", "denied by a rule not R-KEYS");
    return;
  }
  require(csr->req != nullptr, "success without a request");
  EVP_PKEY* key = csr->public_key();
  require(key != nullptr, "success without a public key");
  require(wotca::check_key(*key).has_value(), "accepted a key R-KEYS refuses");
  require(wotca::describe_key(*key) == csr->key_description, "key description differs");
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(csr->req.get(), &der);
  wotca::openssl_bytes_ptr owned(der);
  require(len > 0 && der != nullptr, "an accepted request does not re-encode");
  require(csr->dns_names.size() + csr->emails.size() <= 100, "more than 100 SANs");
  for (const auto& d : csr->dns_names) {
    auto again = wotca::normalize_dns_name(d);
    require(again && *again == d, "a parsed DNS name is not in normal form");
  }
  for (const auto& e : csr->emails) {
    auto again = wotca::normalize_email(e);
    require(again && *again == e, "a parsed email is not in normal form");
  }
}

void check_names(std::string_view text) {
  if (auto d = wotca::normalize_dns_name(text)) {
    require(!d->empty() && d->size() <= 253, "an accepted DNS name of bad length");
    require(d->back() != '.', "an accepted DNS name ends with a dot");
    auto again = wotca::normalize_dns_name(*d);
    require(again && *again == *d, "normalize_dns_name is not idempotent");
  } else {
    check_error(d.error());
  }
  if (auto e = wotca::normalize_email(text)) {
    require(e->size() <= 254, "an accepted email is too long");
    require(e->find('@') != std::string::npos && e->find('@') == e->rfind('@'), "an accepted email without one @");
    auto again = wotca::normalize_email(*e);
    require(again && *again == *e, "normalize_email is not idempotent");
  } else {
    check_error(e.error());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> bytes(data, size);
  if (size > max_input) {
    // The cap itself: refused without being read.
    auto r = wotca::parse_csr(bytes);
    require(!r && r.error().code == wotca::errc::invalid_input, "accepted more than 64 KiB");
    return 0;
  }
  check_csr(bytes);
  check_names(std::string_view(reinterpret_cast<const char*>(data), size));
  require(ERR_peek_error() == 0, "an OpenSSL error was left on the queue");
  return 0;
}
