// CSR parsing and checks (POLICY.md R-KEYS). Input is untrusted bytes from
// the CLI, ACME finalize or a SCEP envelope; it is fuzzed by
// tests/fuzz/pki_csr_fuzzer.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/pki/ossl.h"
#include "core/util/error.h"

namespace wotca {

struct parsed_csr {
  x509_req_ptr req;                      // owns the request; the key is reached through it
  std::string key_description;           // "ECDSA P-256"
  std::optional<std::string> common_name;  // the subject CN, if present (UTF-8)
  std::vector<std::string> dns_names;    // subjectAltName dNSName, lower-cased, in order
  std::vector<std::string> emails;       // subjectAltName rfc822Name, lower-cased, in order
  std::optional<std::string> challenge_password;  // PKCS#9 attribute (SCEP)
  [[nodiscard]] EVP_PKEY* public_key() const;  // borrowed from req
  [[nodiscard]] const X509_PUBKEY* spki() const;  // borrowed from req: the key as encoded
};

// Accepts DER, or PEM ("-----BEGIN CERTIFICATE REQUEST-----" or
// "NEW CERTIFICATE REQUEST"). Requires: every DER byte consumed; the
// self-signature verifies; signature hash SHA-256 or stronger (or Ed25519
// is refused: not in R-KEYS); the key passes check_key (R-KEYS); at most
// 100 SAN entries; DNS names syntactically valid (LDH labels, at most 253
// characters, a wildcard only as the whole leftmost label); emails of the
// form local@domain; no IP address, URI or other SAN types. Errors are
// errc::invalid_input with where "csr" (malformed) or errc::denied with
// where "R-KEYS" (key or signature algorithm), naming what was found.
// Also: at most 64 KiB of input; version 1 only; at most one subject CN,
// of at most 64 characters of UTF-8 text (an empty CN counts as none); a
// duplicate SAN (after lower-casing) is kept once; extensions other than
// subjectAltName are ignored (the profile decides them); the
// challengePassword is never quoted in a message. Order of checks: framing,
// key (R-KEYS), signature algorithm (R-KEYS), signature, names.
[[nodiscard]] result<parsed_csr> parse_csr(std::span<const std::uint8_t> bytes);

// Syntax of one DNS name as above, lower-cased on success; one trailing dot
// is dropped; at least two labels besides a wildcard ("*.org" is refused);
// the last label is not all digits (no IPv4 literals). errc::invalid_input
// with where "dns_name".
[[nodiscard]] result<std::string> normalize_dns_name(std::string_view name);
// Syntax of one email address, lower-cased on success: exactly one '@', a
// local part of 1..64 printable ASCII characters without spaces, a domain
// as for normalize_dns_name without wildcard or trailing dot, at most 254
// characters. errc::invalid_input with where "email".
[[nodiscard]] result<std::string> normalize_email(std::string_view email);

}  // namespace wotca
