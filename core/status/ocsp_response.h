// Building and signing OCSP responses (RFC 6960 4.2, RFC 5019 2.2) with an
// issuing CA's delegated responder certificate (RFC 6960 4.2.2.2). The
// responder pre-signs single responses and serves them as bytes; this is
// the only code that signs them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/pki/ossl.h"
#include "core/status/ocsp_request.h"
#include "core/util/error.h"
#include "core/util/time.h"

namespace wotca {

// RFC 6960 4.2.1 OCSPResponseStatus.
enum class ocsp_response_status : std::uint8_t {
  successful = 0, malformed_request = 1, internal_error = 2, try_later = 3, sig_required = 5, unauthorized = 6,
};

// The DER of an OCSPResponse without responseBytes (every status but
// successful): SEQUENCE { ENUMERATED s }. Static bytes, valid for ever.
[[nodiscard]] std::span<const std::uint8_t> unsuccessful_response(ocsp_response_status s);

// The status of one certificate as the responder answers it (RFC 6960
// 4.2.1 CertStatus). certificateHold is never used (POLICY.md R-REVOKE-PUBLISH).
enum class cert_state { good, revoked, unknown };
struct certificate_state {
  cert_state state = cert_state::unknown;
  sys_seconds revoked_at{};
  int reason = -1;  // CRLReason code; -1: no reason given
};

// One issuing CA's delegated responder, owned.
struct ocsp_signer {
  x509_ptr issuer;  // the issuing CA's certificate
  x509_ptr cert;    // id-kp-OCSPSigning, id-pkix-ocsp-nocheck, issued by `issuer`
  evp_pkey_ptr key;
};

// One SingleResponse to sign: the CertID as the client sent it (its hash
// algorithm and serial; the issuer hashes are recomputed from `issuer`, so
// only ids that matched it may be passed), its state and validity.
struct single_response {
  hash_algorithm alg = hash_algorithm::sha1;
  std::span<const std::uint8_t> serial;  // INTEGER contents, as in cert_id
  certificate_state state;
  sys_seconds this_update{};
  sys_seconds next_update{};
};

// The issuer hashes of a CertID for `issuer` under `alg` (RFC 6960 4.1.1:
// the hash of the DER of the issuer's subject name, and of the value of its
// subjectPublicKey BIT STRING). Empty for hash_algorithm::unknown.
struct issuer_hashes {
  std::vector<std::uint8_t> name_hash;
  std::vector<std::uint8_t> key_hash;
};
[[nodiscard]] result<issuer_hashes> hashes_of(const X509& issuer, hash_algorithm alg);

// A successful OCSPResponse (DER) holding `responses`, responderID byKey, the signer's certificate in certs, and
// the nonce echoed when given (RFC 8954 2.1: wrapped in an OCTET STRING,
// unless `nonce_unwrapped`). Signed with SHA-256 (SHA-384 for a P-384 key).
// errc::invalid_input for an unknown hash or a malformed serial,
// errc::crypto if OpenSSL refuses.
// producedAt is the system clock's: OpenSSL 3.0's OCSP_basic_sign sets it
// and offers no way to pass a time (STYLE.md 2 bends here; thisUpdate and
// nextUpdate, which clients check, are the caller's).
[[nodiscard]] result<std::vector<std::uint8_t>> sign_ocsp_response(const ocsp_signer& signer,
                                                                   std::span<const single_response> responses,
                                                                   std::optional<std::span<const std::uint8_t>> nonce,
                                                                   bool nonce_unwrapped = false);

}  // namespace wotca
