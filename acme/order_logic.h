// The pure parts of ACME orders: identifier checks, the finalize CSR and its
// name set, ARI certificate ids and renewal windows (RFC 9773), and opaque
// ids. No store, no clock: fuzzed by tests/fuzz/acme_csr_fuzzer.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/pki/csr.h"
#include "core/pki/ossl.h"
#include "core/util/error.h"
#include "core/util/random.h"
#include "core/util/time.h"

namespace wotca::acme {

// One newOrder identifier (RFC 8555 7.1.3, 7.1.4): type "dns" only; the
// value a DNS name as normalize_dns_name accepts it ("*." only as the
// whole leftmost label). Returns the lower-case name. errc::invalid_input
// with where "unsupportedIdentifier" for another type, "rejectedIdentifier"
// for a bad name, the message naming the value.
[[nodiscard]] result<std::string> normalize_identifier(std::string_view type, std::string_view value);

// The names a CSR asks for: its subject CN (if any) and every SAN dNSName,
// lower-cased, each once, sorted.
[[nodiscard]] std::vector<std::string> csr_name_set(const parsed_csr& csr);

// Nothing if `csr_names` and `identifiers` are the same set (compared
// without case); otherwise a sentence naming what is missing and what is
// extra.
[[nodiscard]] std::optional<std::string> name_set_mismatch(std::vector<std::string> csr_names,
                                                           std::vector<std::string> identifiers);

// The finalize path (RFC 8555 7.4): `csr_b64url` is the "csr" member,
// base64url DER. Decodes it (bounded: at most 64 KiB of text), parses it
// with parse_csr (R-KEYS and framing), refuses email SANs, and requires its
// name set to equal `identifiers`. errc::invalid_input (where "csr") or
// errc::denied (where "R-KEYS"), each a sentence for the badCSR detail.
[[nodiscard]] result<parsed_csr> check_finalize_csr(std::string_view csr_b64url,
                                                    std::span<const std::string> identifiers);

// RFC 9773 4.1: base64url(AKI keyIdentifier) "." base64url(serial number
// content octets). errc::invalid_input if the certificate has no AKI.
[[nodiscard]] result<std::string> ari_cert_id(const X509& cert);

struct ari_cert_id_parts {
  std::vector<std::uint8_t> key_id;
  std::vector<std::uint8_t> serial;  // the INTEGER's content octets
};
// nullopt unless `text` is two base64url parts joined by one '.', each
// non-empty, the key id at most 64 octets, the serial at most 21.
[[nodiscard]] std::optional<ari_cert_id_parts> parse_ari_cert_id(std::string_view text);

struct renewal_window {
  sys_seconds start{};
  sys_seconds end{};
};
// The suggested window of a certificate: from two thirds to three quarters
// of its validity; once revoked, the hour after revocation (so it is due
// at once).
[[nodiscard]] renewal_window suggested_window(sys_seconds not_before, sys_seconds not_after,
                                              std::optional<sys_seconds> revoked_at);

// base64url of 15 random bytes: ids in URLs that cannot be guessed or counted.
[[nodiscard]] std::string opaque_id(random_source& rng);

}  // namespace wotca::acme
