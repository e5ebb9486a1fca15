// Decoding of OCSP requests (RFC 6960 4.1, RFC 5019 profile) on the
// responder's hot path, with the bounded reader of der.h instead of
// OpenSSL's d2i (STYLE.md 10). Input is untrusted bytes from a GET path
// (request_path.h) or a POST body; it is fuzzed differentially against
// d2i_OCSP_REQUEST by tests/fuzz/status_ocsp_request_fuzzer.cpp.
//
// Lifetimes (STYLE.md 11): every span in a cert_id or ocsp_request points
// into the `der` buffer given to decode_ocsp_request, and is valid while
// that buffer lives and is not modified. Nothing is copied but the vector
// of CertIDs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/util/error.h"

namespace wotca {

// The hash of a CertID (RFC 6960 4.1.1 hashAlgorithm). `unknown` is any
// other well-formed OID: the request still decodes, so that the responder
// can answer per its policy (`unknown` for that CertID, or `unauthorized`)
// instead of malformedRequest for a request that is well-formed.
enum class hash_algorithm { sha1, sha256, sha384, sha512, unknown };

[[nodiscard]] std::string_view to_string(hash_algorithm a) noexcept;
// Digest length in bytes: 20, 32, 48, 64; 0 for unknown.
[[nodiscard]] std::size_t digest_size(hash_algorithm a) noexcept;

struct cert_id {
  hash_algorithm alg = hash_algorithm::unknown;
  // For a known alg exactly digest_size(alg) bytes; for unknown, as sent.
  std::span<const std::uint8_t> issuer_name_hash;
  std::span<const std::uint8_t> issuer_key_hash;
  // The INTEGER's contents as encoded (no tag or length): minimal two's
  // complement, non-negative, 1..21 bytes, 21 only with a leading 0x00 (a
  // 20-byte serial with its top bit set, RFC 5280 4.1.2.2).
  std::span<const std::uint8_t> serial;
};

struct ocsp_request {
  // requestList in order; at least one, at most request_limits::max_ids.
  std::vector<cert_id> ids;
  // RFC 8954 2.1 / RFC 6960 4.4.1: the nonce of requestExtensions: the
  // contents of the OCTET STRING inside the extension's extnValue. Any
  // length, even empty: whether to honour it (RFC 8954: 1 to 32 bytes) is the
  // responder's policy.
  std::optional<std::span<const std::uint8_t>> nonce;
  // True when extnValue did not hold exactly one DER OCTET STRING and the
  // nonce is extnValue's contents themselves, as clients before RFC 8954
  // (and RFC 2560's unspecified syntax) sent it. Echo such a nonce back as
  // it came.
  bool nonce_unwrapped = false;
  // An optionalSignature was present. It is neither checked nor kept: we do
  // not require signed requests (RFC 5019 2.1.2); only its outer structure
  // is read.
  bool signed_request = false;
};

struct request_limits {
  // At most this many CertIDs in requestList (more is invalid_input).
  std::size_t max_ids = 100;
};

// Decodes one DER OCSPRequest that must fill `der` exactly (no trailing
// bytes). On success the result holds every CertID, the nonce if any, and
// whether the request was signed. On failure: errc::invalid_input, `where`
// "ocsp request", a message naming the field, what was wrong and its byte
// offset; the responder answers malformedRequest.
//
// Refused beyond ASN.1 framing (der.h): a version other than v1; an empty
// requestList or more than limits.max_ids CertIDs; a CertID hash of the
// wrong length for its algorithm; AlgorithmIdentifier parameters other than
// absent or NULL (for any algorithm); a serial that is negative, empty, not
// minimal or longer than 20 bytes of value; an extension marked critical
// (none is supported); a second nonce extension; an empty Extensions list.
// Accepted though DER forbids it: an explicit version v1 (the DEFAULT), and
// an explicit critical FALSE (see ocsp_request.cpp for why). requestorName
// and optionalSignature are read only as far as their outer tags.
[[nodiscard]] result<ocsp_request> decode_ocsp_request(std::span<const std::uint8_t> der,
                                                       const request_limits& limits);

}  // namespace wotca
