// JOSE as ACME uses it (RFC 8555 6.2, RFC 7515, RFC 7517, RFC 7638): the
// flattened JSON JWS of every POST, its protected header, the account key
// as a JWK, and External Account Binding (RFC 8555 7.3.4). Parses untrusted
// bytes with explicit bounds; every error names the field and maps to the
// ACME error type a client should see.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/pki/ossl.h"
#include "core/util/error.h"

namespace wotca::acme {

// ACME error types (RFC 8555 6.7) that parsing and verification can yield.
enum class jose_problem {
  malformed,             // urn:ietf:params:acme:error:malformed
  bad_signature_algorithm,  // :badSignatureAlgorithm (alg none, HS256 account key, unknown alg)
  bad_public_key,        // :badPublicKey (JWK unusable: wrong curve, RSA < 2048, bad point)
  unauthorized,          // :unauthorized (signature does not verify)
  bad_nonce,             // :badNonce
};

struct jose_error {
  jose_problem problem = jose_problem::malformed;
  std::string detail;    // a sentence naming the field: "protected.url: ..."
};

template <typename T>
using jose_result = expected<T, jose_error>;

enum class jws_algorithm { es256, es384, rs256, eddsa };
[[nodiscard]] std::string_view to_string(jws_algorithm a);  // "ES256", ...

struct jws_limits {
  std::size_t max_body_bytes = 65536;   // the whole JSON body
  std::size_t max_payload_bytes = 49152;
  std::size_t max_protected_bytes = 8192;  // the decoded protected header (an RSA-8192 JWK fits)
};

// JSON nesting accepted in the body and the protected header (a JWK with
// "key_ops" is 3 deep); deeper input is malformed before it is walked.
inline constexpr int max_jose_json_depth = 8;

// A parsed, not yet verified, flattened JWS (RFC 7515 7.2.2). ACME forbids
// the general serialization and unprotected headers.
struct jws {
  jws_algorithm alg = jws_algorithm::es256;
  std::string nonce;                 // protected "nonce"
  std::string url;                   // protected "url"
  std::optional<std::string> kid;    // protected "kid" (an account URL), or
  std::optional<std::string> jwk;    // protected "jwk" as its JSON text; exactly one of kid/jwk
  std::string protected_b64;         // as sent, for the signing input
  std::string payload_b64;           // as sent ("" for POST-as-GET)
  std::string payload;               // decoded payload bytes (JSON text or empty)
  std::vector<std::uint8_t> signature;
};

// Parses a request body. Rejects: not JSON, duplicate members, extra or
// missing members, "header" (unprotected), "signatures" (general
// serialization), non-base64url, "crit" (no extension is understood),
// "b64" (RFC 7797), both or neither of kid/jwk, missing url, oversize:
// all malformed. "alg" none/HS*/unknown: bad_signature_algorithm. A
// missing or empty "nonce": bad_nonce (RFC 8555 6.5); the nonce's value
// is checked by the caller with nonce_codec. Never throws.
[[nodiscard]] jose_result<jws> parse_jws(std::string_view body, const jws_limits& limits);

// A JWK (RFC 7517) as an OpenSSL public key: EC P-256/P-384 ("kty":"EC",
// x and y of the full coordinate size, the point on the curve), RSA of
// 2048 to 8192 bits with an odd exponent 65537 <= e < 2^32, both in their
// minimal encoding (RFC 7518 6.3.1) ("kty":"RSA"), Ed25519 ("kty":"OKP").
// Rejects private members ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
// and anything else with bad_public_key; text that is not a JSON object
// is malformed. Members other than the required ones are ignored.
[[nodiscard]] jose_result<evp_pkey_ptr> parse_jwk(std::string_view jwk_json);

// parse_jwk for the keys of accounts, remembered by their JWK text and
// shared by the threads of a service. Importing an EC key checks that the
// point is on the curve and of the group's order, a scalar multiplication
// that cost more than verifying the request's signature; an account signs
// every request with the same key. A returned key is its own reference
// (EVP_PKEY_up_ref), used read-only. At most `capacity` keys are kept; when
// full the cache starts again empty (accounts rarely change keys, so the
// working set is the active accounts). Only successes are remembered.
class jwk_cache {
 public:
  explicit jwk_cache(std::size_t capacity = 4096) : capacity_(capacity) {}
  jwk_cache(const jwk_cache&) = delete;
  jwk_cache& operator=(const jwk_cache&) = delete;
  [[nodiscard]] jose_result<evp_pkey_ptr> parse(std::string_view jwk_json);
  [[nodiscard]] std::size_t size() const;

 private:
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, evp_pkey_ptr> keys_;
};

// The JWK of a public key, canonical for the thumbprint (members in
// lexicographic order, no whitespace), as RFC 7638 3 defines it.
[[nodiscard]] result<std::string> canonical_jwk(const EVP_PKEY* key);

// base64url(SHA-256(canonical JWK)) (RFC 7638).
[[nodiscard]] result<std::string> jwk_thumbprint(const EVP_PKEY* key);

// Whether `key` can sign with `alg` (ES256 needs P-256, ES384 P-384, RS256
// an RSA key, EdDSA Ed25519). bad_signature_algorithm if not.
[[nodiscard]] jose_result<void> check_algorithm(const EVP_PKEY* key, jws_algorithm alg);

// Verifies the JWS signature over protected_b64 "." payload_b64 with `key`
// (ECDSA signatures are the raw r||s of RFC 7518 3.4). Checks
// check_algorithm first (bad_signature_algorithm); unauthorized if the
// signature does not verify, including an ECDSA signature that is not
// exactly 64 (ES256) or 96 (ES384) bytes. Leaves no OpenSSL error queued.
[[nodiscard]] jose_result<void> verify_jws(const jws& j, const EVP_PKEY* key);

// External Account Binding (RFC 8555 7.3.4): `eab_json` is the
// "externalAccountBinding" member of the newAccount payload, itself a
// flattened JWS with alg HS256, kid, url == `new_account_url`, and as
// payload the account's JWK (compared by thumbprint with `account_key`).
// Returns the kid; the caller looks up the key and calls verify_eab_mac.
// Problems: malformed (not a flattened JWS, alg other than HS256, a
// "nonce" present, missing kid, payload not a usable JWK, tag not 32
// bytes); unauthorized (url differs from `new_account_url`, payload key
// differs from `account_key`).
struct eab_binding {
  std::string kid;
  std::string signing_input;          // protected "." payload, as sent
  std::vector<std::uint8_t> mac;      // the HS256 tag
};
[[nodiscard]] jose_result<eab_binding> parse_eab(std::string_view eab_json, std::string_view new_account_url,
                                                 const EVP_PKEY* account_key);
// HMAC-SHA256 over signing_input with `hmac_key`, compared in constant
// time. False for an empty key.
[[nodiscard]] bool verify_eab_mac(const eab_binding& b, std::span<const std::uint8_t> hmac_key);

}  // namespace wotca::acme
