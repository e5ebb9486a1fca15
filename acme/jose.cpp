#include "acme/jose.h"

#include <openssl/core_names.h>
#include <openssl/err.h>

#include <array>
#include <exception>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include <fmt/core.h>

#include "core/util/encoding.h"

namespace wotca::acme {

namespace {

using json = nlohmann::json;

unexpected<jose_error> problem(jose_problem p, std::string detail) {
  return unexpected<jose_error>(jose_error{p, std::move(detail)});
}

unexpected<jose_error> malformed(std::string detail) { return problem(jose_problem::malformed, std::move(detail)); }

std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string_view as_text(const bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// A peer's string for an error message, JSON-quoted; a UTF-8 sequence cut
// by truncation becomes U+FFFD instead of throwing.
std::string peer_text(const std::string& s) { return json(s).dump(-1, ' ', false, json::error_handler_t::replace); }

// Parses `text` as one JSON object. nlohmann keeps the last of duplicate
// members silently, which would let two parsers read one body two ways, so
// duplicates are refused, as is nesting deeper than max_jose_json_depth.
// Never throws: nlohmann's exceptions stop here.
jose_result<json> parse_object(std::string_view text, std::string_view field) {
  bool too_deep = false;
  bool duplicate = false;
  std::vector<std::set<std::string>> keys;  // the member names seen, per open object
  auto watch = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > max_jose_json_depth) too_deep = true;
    switch (event) {
      case json::parse_event_t::object_start: keys.emplace_back(); break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && parsed.is_string() && !keys.back().insert(parsed.get<std::string>()).second)
          duplicate = true;
        break;
      default: break;
    }
    return true;
  };
  json value;
  try {
    value = json::parse(text.begin(), text.end(), watch, /*allow_exceptions=*/false);
  } catch (const std::exception&) {
    return malformed(fmt::format("{}: is not JSON", field));
  }
  if (too_deep) return malformed(fmt::format("{}: JSON nested deeper than {} levels", field, max_jose_json_depth));
  if (value.is_discarded()) return malformed(fmt::format("{}: is not valid JSON", field));
  if (duplicate) return malformed(fmt::format("{}: a member appears twice", field));
  if (!value.is_object()) return malformed(fmt::format("{}: must be a JSON object", field));
  return value;
}

// The three members of a flattened JWS (RFC 7515 7.2.2), and nothing else:
// ACME forbids the unprotected "header" (RFC 8555 6.2) and the general
// serialization's "signatures".
struct flattened {
  std::string protected_b64;
  std::string payload_b64;
  std::string signature_b64;
};

jose_result<flattened> split_flattened(const json& body, std::string_view field) {
  for (const auto& [name, value] : body.items()) {
    if (name == "header")
      return malformed(fmt::format("{}.header: unprotected headers are not allowed (RFC 8555 6.2)", field));
    if (name == "signatures")
      return malformed(
          fmt::format("{}.signatures: the general JWS serialization is not allowed; send the flattened one", field));
    if (name != "protected" && name != "payload" && name != "signature")
      return malformed(fmt::format("{}: unexpected member \"{}\" in a flattened JWS", field, name));
    if (!value.is_string()) return malformed(fmt::format("{}.{}: must be a string", field, name));
  }
  flattened f;
  for (auto [name, out] : {std::pair{"protected", &f.protected_b64}, std::pair{"payload", &f.payload_b64},
                           std::pair{"signature", &f.signature_b64}}) {
    auto it = body.find(name);
    if (it == body.end()) return malformed(fmt::format("{}.{}: missing", field, name));
    *out = it->get<std::string>();
  }
  return f;
}

jose_result<bytes> decode(std::string_view text, std::string_view field) {
  auto b = base64url_decode(text);
  if (!b) return malformed(fmt::format("{}: not base64url without padding (RFC 7515 2)", field));
  return std::move(*b);
}

// "alg" of the outer JWS: the four account-key algorithms; HMAC (the
// account key is never a shared secret), "none" and anything else are
// bad_signature_algorithm (RFC 8555 6.2).
jose_result<jws_algorithm> algorithm_from(const json& header) {
  auto it = header.find("alg");
  if (it == header.end()) return malformed("protected.alg: missing");
  if (!it->is_string()) return malformed("protected.alg: must be a string");
  const auto& alg = it->get_ref<const std::string&>();
  if (alg == "ES256") return jws_algorithm::es256;
  if (alg == "ES384") return jws_algorithm::es384;
  if (alg == "RS256") return jws_algorithm::rs256;
  if (alg == "EdDSA") return jws_algorithm::eddsa;
  std::string shown = alg.size() > 32 ? alg.substr(0, 32) + "..." : alg;
  std::string why = alg == "none"                ? "unsigned requests are not accepted"
                    : alg.starts_with("HS")     ? "an account key cannot be a MAC key"
                                                 : "not supported";
  return problem(jose_problem::bad_signature_algorithm,
                 fmt::format("protected.alg: {} ({}); use ES256, ES384, RS256 or EdDSA", peer_text(shown), why));
}

// RFC 7515 4.1.11: a "crit" naming an extension we do not understand makes
// the JWS invalid; we understand none. RFC 7797's "b64" changes the
// signing input and is only legal with "crit".
jose_result<void> refuse_extensions(const json& header, std::string_view field) {
  if (header.contains("crit"))
    return malformed(fmt::format("{}.crit: no JWS extension is supported", field));
  if (header.contains("b64")) return malformed(fmt::format("{}.b64: unencoded payloads are not supported", field));
  return {};
}

jose_result<std::string> required_string(const json& obj, const char* name, std::string_view field,
                                         jose_problem if_missing = jose_problem::malformed) {
  auto it = obj.find(name);
  if (it == obj.end()) return problem(if_missing, fmt::format("{}.{}: missing", field, name));
  if (!it->is_string()) return malformed(fmt::format("{}.{}: must be a string", field, name));
  if (it->get_ref<const std::string&>().empty())
    return problem(if_missing, fmt::format("{}.{}: must not be empty", field, name));
  return it->get<std::string>();
}

// ---- JWK ----

constexpr std::array<const char*, 8> private_members = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

unexpected<jose_error> bad_key(std::string detail) {
  return problem(jose_problem::bad_public_key, std::move(detail));
}

jose_result<bytes> key_member(const json& jwk, const char* name) {
  auto it = jwk.find(name);
  if (it == jwk.end()) return bad_key(fmt::format("jwk.{}: missing", name));
  if (!it->is_string()) return bad_key(fmt::format("jwk.{}: must be a base64url string", name));
  auto b = base64url_decode(it->get_ref<const std::string&>());
  if (!b || b->empty()) return bad_key(fmt::format("jwk.{}: not base64url without padding", name));
  return std::move(*b);
}

struct curve {
  const char* jwk_name;   // "P-256"
  const char* ossl_name;  // OpenSSL's group name
  std::size_t size;       // bytes of a coordinate
  jws_algorithm alg;
};
constexpr std::array<curve, 2> curves = {curve{"P-256", "prime256v1", 32, jws_algorithm::es256},
                                         curve{"P-384", "secp384r1", 48, jws_algorithm::es384}};

jose_result<evp_pkey_ptr> from_params(const char* type, ossl_param_bld_ptr& bld, std::string_view what) {
  ossl_param_ptr params(OSSL_PARAM_BLD_to_param(bld.get()));
  evp_pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ERR_clear_error();
    return bad_key(fmt::format("jwk: OpenSSL refused the {} key", what));
  }
  return evp_pkey_ptr(raw);
}

// RFC 7518 6.2.1: "crv", and "x", "y" each the full coordinate size.
jose_result<evp_pkey_ptr> ec_key(const json& jwk) {
  auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->is_string()) return bad_key("jwk.crv: missing; use P-256 or P-384");
  const curve* c = nullptr;
  for (const auto& k : curves)
    if (crv->get_ref<const std::string&>() == k.jwk_name) c = &k;
  if (!c) return bad_key("jwk.crv: unsupported curve; use P-256 or P-384");
  auto x = key_member(jwk, "x");
  if (!x) return unexpected(x.error());
  auto y = key_member(jwk, "y");
  if (!y) return unexpected(y.error());
  if (x->size() != c->size || y->size() != c->size)
    return bad_key(fmt::format("jwk: x and y of a {} key must be {} bytes each", c->jwk_name, c->size));
  bytes point{0x04};  // SEC 1 2.3.3, uncompressed
  point.insert(point.end(), x->begin(), x->end());
  point.insert(point.end(), y->begin(), y->end());
  ossl_param_bld_ptr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, c->ossl_name, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    ERR_clear_error();
    return bad_key("jwk: could not build the EC key");
  }
  auto key = from_params("EC", bld, c->jwk_name);
  if (!key) return bad_key(fmt::format("jwk: (x, y) is not a point of {}", c->jwk_name));
  // Full public-key validation (SP 800-56A 5.6.2.3.3): on the curve, not
  // the point at infinity, in the subgroup.
  evp_pkey_ctx_ptr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    ERR_clear_error();
    return bad_key(fmt::format("jwk: (x, y) is not a valid point of {}", c->jwk_name));
  }
  return key;
}

// RFC 7518 6.3.1: "n" and "e", big-endian, minimal (no leading zero).
jose_result<evp_pkey_ptr> rsa_key(const json& jwk) {
  auto n = key_member(jwk, "n");
  if (!n) return unexpected(n.error());
  auto e = key_member(jwk, "e");
  if (!e) return unexpected(e.error());
  if ((*n)[0] == 0 || (*e)[0] == 0) return bad_key("jwk: n and e must be in their minimal encoding (RFC 7518 6.3.1)");
  std::size_t bits = n->size() * 8;
  for (std::uint8_t top = (*n)[0]; !(top & 0x80); top <<= 1) --bits;
  if (bits < 2048) return bad_key(fmt::format("jwk: an RSA key of {} bits is too small; use at least 2048", bits));
  if (bits > 8192) return bad_key(fmt::format("jwk: an RSA key of {} bits is too large; use at most 8192", bits));
  if (!(n->back() & 1)) return bad_key("jwk.n: an RSA modulus is odd");
  if (e->size() > 4) return bad_key("jwk.e: the RSA exponent must be below 2^32");
  std::uint32_t exponent = 0;
  for (std::uint8_t b : *e) exponent = (exponent << 8) | b;
  if (exponent < 65537 || !(exponent & 1))
    return bad_key(fmt::format("jwk.e: the RSA exponent {} must be odd and at least 65537", exponent));
  bignum_ptr bn_n(BN_bin2bn(n->data(), static_cast<int>(n->size()), nullptr));
  bignum_ptr bn_e(BN_bin2bn(e->data(), static_cast<int>(e->size()), nullptr));
  ossl_param_bld_ptr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    ERR_clear_error();
    return bad_key("jwk: could not build the RSA key");
  }
  return from_params("RSA", bld, "RSA");
}

// RFC 8037 2: "crv" Ed25519 and "x" the 32-byte public key.
jose_result<evp_pkey_ptr> okp_key(const json& jwk) {
  auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->is_string() || crv->get_ref<const std::string&>() != "Ed25519")
    return bad_key("jwk.crv: an OKP key must be Ed25519");
  auto x = key_member(jwk, "x");
  if (!x) return unexpected(x.error());
  if (x->size() != 32) return bad_key("jwk.x: an Ed25519 key is 32 bytes");
  evp_pkey_ptr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, x->data(), x->size()));
  if (!key) {
    ERR_clear_error();
    return bad_key("jwk: OpenSSL refused the Ed25519 key");
  }
  return key;
}

jose_result<evp_pkey_ptr> key_from_object(const json& jwk) {
  for (const char* m : private_members)
    if (jwk.contains(m))
      return bad_key(fmt::format("jwk.{}: a private key member; send only the public key", m));
  auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->is_string()) return bad_key("jwk.kty: missing");
  const auto& t = kty->get_ref<const std::string&>();
  if (t == "EC") return ec_key(jwk);
  if (t == "RSA") return rsa_key(jwk);
  if (t == "OKP") return okp_key(jwk);
  return bad_key("jwk.kty: unsupported key type; use EC, RSA or OKP");
}

// ---- canonical JWK ----

result<bytes> bn_param(const EVP_PKEY* key, const char* name, std::size_t pad) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) {
    ERR_clear_error();
    return fail(errc::crypto, "jwk", fmt::format("the key has no parameter {}", name));
  }
  bignum_ptr bn(raw);
  std::size_t len = static_cast<std::size_t>(BN_num_bytes(bn.get()));
  if (pad) {
    if (len > pad) return fail(errc::crypto, "jwk", fmt::format("parameter {} is larger than the field", name));
    len = pad;
  }
  bytes out(len);
  if (BN_bn2binpad(bn.get(), out.data(), static_cast<int>(len)) != static_cast<int>(len))
    return fail(errc::crypto, "jwk", fmt::format("could not encode parameter {}", name));
  return out;
}

const curve* curve_of(const EVP_PKEY* key) {
  if (!EVP_PKEY_is_a(key, "EC")) return nullptr;
  char group[64] = {};
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, nullptr) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  for (const auto& c : curves)
    if (std::string_view(group) == c.ossl_name) return &c;
  return nullptr;
}

std::string signing_input(const jws& j) { return j.protected_b64 + "." + j.payload_b64; }

}  // namespace

std::string_view to_string(jws_algorithm a) {
  switch (a) {
    case jws_algorithm::es256: return "ES256";
    case jws_algorithm::es384: return "ES384";
    case jws_algorithm::rs256: return "RS256";
    case jws_algorithm::eddsa: return "EdDSA";
  }
  return "unknown";
}

// RFC 8555 6.2: "the JWS MUST NOT have multiple signatures", "the JWS
// Unencoded Payload Option MUST NOT be used", "the JWS Unprotected Header
// MUST NOT be used", "the JWS MUST be in the Flattened JSON
// Serialization"; the protected header MUST include "alg", "nonce", "url",
// and either "jwk" or "kid" (mutually exclusive).
jose_result<jws> parse_jws(std::string_view body, const jws_limits& limits) {
  try {
    if (body.size() > limits.max_body_bytes)
      return malformed(fmt::format("body: {} bytes is more than the {} accepted", body.size(), limits.max_body_bytes));
    auto outer = parse_object(body, "body");
    if (!outer) return unexpected(outer.error());
    auto parts = split_flattened(*outer, "body");
    if (!parts) return unexpected(parts.error());

    jws j;
    j.protected_b64 = std::move(parts->protected_b64);
    j.payload_b64 = std::move(parts->payload_b64);
    if (j.protected_b64.empty()) return malformed("body.protected: must not be empty");
    if (j.protected_b64.size() / 4 * 3 > limits.max_protected_bytes)
      return malformed(fmt::format("body.protected: more than the {} bytes accepted", limits.max_protected_bytes));
    // A base64url text of n characters holds floor(3n/4) bytes: refuse
    // before decoding.
    if (j.payload_b64.size() / 4 * 3 > limits.max_payload_bytes)
      return malformed(fmt::format("body.payload: more than the {} bytes accepted", limits.max_payload_bytes));
    auto header_bytes = decode(j.protected_b64, "body.protected");
    if (!header_bytes) return unexpected(header_bytes.error());
    if (header_bytes->size() > limits.max_protected_bytes)
      return malformed(fmt::format("body.protected: more than the {} bytes accepted", limits.max_protected_bytes));
    // The algorithm first: an "alg":"none" request with an empty signature
    // is told badSignatureAlgorithm, not that its signature is missing.
    auto header = parse_object(as_text(*header_bytes), "protected");
    if (!header) return unexpected(header.error());
    auto alg = algorithm_from(*header);
    if (!alg) return unexpected(alg.error());
    j.alg = *alg;
    if (auto ext = refuse_extensions(*header, "protected"); !ext) return unexpected(ext.error());

    auto payload = decode(j.payload_b64, "body.payload");
    if (!payload) return unexpected(payload.error());
    if (payload->size() > limits.max_payload_bytes)
      return malformed(fmt::format("body.payload: more than the {} bytes accepted", limits.max_payload_bytes));
    j.payload.assign(as_text(*payload));
    if (parts->signature_b64.empty()) return malformed("body.signature: must not be empty");
    auto sig = decode(parts->signature_b64, "body.signature");
    if (!sig) return unexpected(sig.error());
    j.signature = std::move(*sig);

    bool has_kid = header->contains("kid");
    bool has_jwk = header->contains("jwk");
    if (has_kid && has_jwk) return malformed("protected: has both \"kid\" and \"jwk\"; send exactly one");
    if (!has_kid && !has_jwk)
      return malformed("protected: has neither \"kid\" nor \"jwk\"; send \"jwk\" for newAccount, \"kid\" otherwise");
    if (has_kid) {
      auto kid = required_string(*header, "kid", "protected");
      if (!kid) return unexpected(kid.error());
      j.kid = std::move(*kid);
    } else {
      const auto& jwk = (*header)["jwk"];
      if (!jwk.is_object()) return malformed("protected.jwk: must be a JSON object");
      j.jwk = jwk.dump();
    }
    auto nonce = required_string(*header, "nonce", "protected", jose_problem::bad_nonce);
    if (!nonce) return unexpected(nonce.error());
    j.nonce = std::move(*nonce);
    auto url = required_string(*header, "url", "protected");
    if (!url) return unexpected(url.error());
    j.url = std::move(*url);
    return j;
  } catch (const std::exception&) {
    // Only allocation failure can get here; nlohmann's parse does not throw
    // with allow_exceptions off and every access above is type-checked.
    return malformed("body: could not be parsed");
  }
}

jose_result<evp_pkey_ptr> parse_jwk(std::string_view jwk_json) {
  try {
    auto jwk = parse_object(jwk_json, "jwk");
    if (!jwk) return unexpected(jwk.error());
    return key_from_object(*jwk);
  } catch (const std::exception&) {
    return malformed("jwk: could not be parsed");
  }
}

jose_result<evp_pkey_ptr> jwk_cache::parse(std::string_view jwk_json) {
  auto shared = [](EVP_PKEY* k) {
    EVP_PKEY_up_ref(k);
    return evp_pkey_ptr(k);
  };
  {
    std::lock_guard lock(mutex_);
    if (auto it = keys_.find(std::string(jwk_json)); it != keys_.end()) return shared(it->second.get());
  }
  auto key = parse_jwk(jwk_json);  // outside the lock: it is the slow part
  if (!key) return key;
  std::lock_guard lock(mutex_);
  if (keys_.size() >= capacity_) keys_.clear();
  auto [it, inserted] = keys_.try_emplace(std::string(jwk_json), shared(key->get()));
  return shared(it->second.get());
}

std::size_t jwk_cache::size() const {
  std::lock_guard lock(mutex_);
  return keys_.size();
}

// RFC 7638 3.2: only the required members, in lexicographic order, no
// whitespace. None of the values needs escaping (crv names and base64url).
result<std::string> canonical_jwk(const EVP_PKEY* key) {
  if (!key) return fail(errc::internal, "jwk", "no key");
  if (const curve* c = curve_of(key)) {
    auto x = bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, c->size);
    if (!x) return unexpected(x.error());
    auto y = bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, c->size);
    if (!y) return unexpected(y.error());
    return fmt::format(R"({{"crv":"{}","kty":"EC","x":"{}","y":"{}"}})", c->jwk_name, base64url_encode(*x),
                       base64url_encode(*y));
  }
  if (EVP_PKEY_is_a(key, "RSA")) {
    auto n = bn_param(key, OSSL_PKEY_PARAM_RSA_N, 0);
    if (!n) return unexpected(n.error());
    auto e = bn_param(key, OSSL_PKEY_PARAM_RSA_E, 0);
    if (!e) return unexpected(e.error());
    return fmt::format(R"({{"e":"{}","kty":"RSA","n":"{}"}})", base64url_encode(*e), base64url_encode(*n));
  }
  if (EVP_PKEY_is_a(key, "ED25519")) {
    std::array<std::uint8_t, 32> x{};
    std::size_t len = x.size();
    if (EVP_PKEY_get_raw_public_key(key, x.data(), &len) != 1 || len != x.size()) {
      ERR_clear_error();
      return fail(errc::crypto, "jwk", "could not read the Ed25519 public key");
    }
    return fmt::format(R"({{"crv":"Ed25519","kty":"OKP","x":"{}"}})", base64url_encode(x));
  }
  return fail(errc::invalid_input, "jwk", "the key is not EC P-256/P-384, RSA or Ed25519");
}

result<std::string> jwk_thumbprint(const EVP_PKEY* key) {
  auto canonical = canonical_jwk(key);
  if (!canonical) return unexpected(canonical.error());
  return base64url_encode(sha256(*canonical));
}

jose_result<void> check_algorithm(const EVP_PKEY* key, jws_algorithm alg) {
  bool fits = false;
  if (key) {
    switch (alg) {
      case jws_algorithm::es256:
      case jws_algorithm::es384: {
        const curve* c = curve_of(key);
        fits = c && c->alg == alg;
        break;
      }
      case jws_algorithm::rs256: fits = EVP_PKEY_is_a(key, "RSA"); break;
      case jws_algorithm::eddsa: fits = EVP_PKEY_is_a(key, "ED25519"); break;
    }
  }
  if (fits) return {};
  return problem(jose_problem::bad_signature_algorithm,
                 fmt::format("protected.alg: {} does not fit the account key (ES256 needs P-256, ES384 P-384, "
                             "RS256 RSA, EdDSA Ed25519)",
                             to_string(alg)));
}

jose_result<void> verify_jws(const jws& j, const EVP_PKEY* key) {
  if (auto fits = check_algorithm(key, j.alg); !fits) return fits;
  const EVP_MD* md = nullptr;
  std::vector<std::uint8_t> der;
  std::span<const std::uint8_t> sig = j.signature;
  if (j.alg == jws_algorithm::es256 || j.alg == jws_algorithm::es384) {
    // RFC 7518 3.4: the signature is R || S, each the size of the field;
    // OpenSSL verifies the DER ECDSA-Sig-Value of RFC 3279 2.2.3.
    std::size_t half = j.alg == jws_algorithm::es256 ? 32 : 48;
    if (j.signature.size() != 2 * half)
      return problem(jose_problem::unauthorized, fmt::format("signature: an {} signature is {} bytes, not {}",
                                                             to_string(j.alg), 2 * half, j.signature.size()));
    ecdsa_sig_ptr es(ECDSA_SIG_new());
    bignum_ptr r(BN_bin2bn(j.signature.data(), static_cast<int>(half), nullptr));
    bignum_ptr s(BN_bin2bn(j.signature.data() + half, static_cast<int>(half), nullptr));
    if (!es || !r || !s || ECDSA_SIG_set0(es.get(), r.get(), s.get()) != 1) {
      ERR_clear_error();
      return problem(jose_problem::unauthorized, "signature: could not be decoded");
    }
    r.release();  // owned by es now
    s.release();
    unsigned char* out = nullptr;
    int len = i2d_ECDSA_SIG(es.get(), &out);
    openssl_bytes_ptr owned(out);
    if (len <= 0) {
      ERR_clear_error();
      return problem(jose_problem::unauthorized, "signature: could not be encoded");
    }
    der.assign(out, out + len);
    sig = der;
    md = j.alg == jws_algorithm::es256 ? EVP_sha256() : EVP_sha384();
  } else if (j.alg == jws_algorithm::rs256) {
    md = EVP_sha256();  // RSASSA-PKCS1-v1_5, OpenSSL's default padding
  }                     // EdDSA: one-shot Ed25519, no digest (RFC 8037 3.1)
  std::string input = signing_input(j);
  evp_md_ctx_ptr ctx(EVP_MD_CTX_new());
  // EVP_DigestVerifyInit takes a non-const key only to count a reference.
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, const_cast<EVP_PKEY*>(key)) == 1 &&
            EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()) == 1;
  ERR_clear_error();
  if (!ok)
    return problem(jose_problem::unauthorized,
                   fmt::format("signature: does not verify with the {} key over the protected header and payload",
                               to_string(j.alg)));
  return {};
}

// RFC 8555 7.3.4: the externalAccountBinding "MUST contain" a JWS whose
// protected header has a MAC-based "alg", "kid" naming the MAC key, "url"
// equal to the outer JWS's, and "MUST NOT contain a nonce"; its payload
// "MUST be the same key as in the outer JWS".
jose_result<eab_binding> parse_eab(std::string_view eab_json, std::string_view new_account_url,
                                   const EVP_PKEY* account_key) {
  try {
    constexpr std::string_view field = "externalAccountBinding";
    auto obj = parse_object(eab_json, field);
    if (!obj) return unexpected(obj.error());
    auto parts = split_flattened(*obj, field);
    if (!parts) return unexpected(parts.error());
    if (parts->protected_b64.size() > 4096) return malformed("externalAccountBinding.protected: too large");
    auto header_bytes = decode(parts->protected_b64, "externalAccountBinding.protected");
    if (!header_bytes) return unexpected(header_bytes.error());
    auto payload = decode(parts->payload_b64, "externalAccountBinding.payload");
    if (!payload) return unexpected(payload.error());
    auto mac = decode(parts->signature_b64, "externalAccountBinding.signature");
    if (!mac) return unexpected(mac.error());

    auto header = parse_object(as_text(*header_bytes), "externalAccountBinding.protected");
    if (!header) return unexpected(header.error());
    auto alg = required_string(*header, "alg", "externalAccountBinding.protected");
    if (!alg) return unexpected(alg.error());
    if (*alg != "HS256")
      return malformed(fmt::format("externalAccountBinding.protected.alg: {} is not supported; use HS256",
                                   peer_text(alg->size() > 32 ? alg->substr(0, 32) + "..." : *alg)));
    if (auto ext = refuse_extensions(*header, "externalAccountBinding.protected"); !ext)
      return unexpected(ext.error());
    if (header->contains("nonce"))
      return malformed("externalAccountBinding.protected.nonce: must not be present (RFC 8555 7.3.4)");
    if (header->contains("jwk")) return malformed("externalAccountBinding.protected.jwk: must not be present");
    auto kid = required_string(*header, "kid", "externalAccountBinding.protected");
    if (!kid) return unexpected(kid.error());
    auto url = required_string(*header, "url", "externalAccountBinding.protected");
    if (!url) return unexpected(url.error());
    if (*url != new_account_url)
      return problem(jose_problem::unauthorized,
                     fmt::format("externalAccountBinding.protected.url: must be the newAccount URL {}",
                                 new_account_url));
    if (mac->size() != 32)
      return malformed("externalAccountBinding.signature: an HS256 tag is 32 bytes");

    auto bound = parse_jwk(as_text(*payload));
    if (!bound)
      return malformed(fmt::format("externalAccountBinding.payload: not a usable account key ({})",
                                   bound.error().detail));
    auto bound_print = jwk_thumbprint(bound->get());
    if (!account_key) return problem(jose_problem::unauthorized, "externalAccountBinding: no account key to bind");
    auto account_print = jwk_thumbprint(account_key);
    if (!bound_print || !account_print || *bound_print != *account_print)
      return problem(jose_problem::unauthorized,
                     "externalAccountBinding.payload: is not the account key of the request's \"jwk\"");

    eab_binding b;
    b.kid = std::move(*kid);
    b.signing_input = parts->protected_b64 + "." + parts->payload_b64;
    b.mac = std::move(*mac);
    return b;
  } catch (const std::exception&) {
    return malformed("externalAccountBinding: could not be parsed");
  }
}

bool verify_eab_mac(const eab_binding& b, std::span<const std::uint8_t> hmac_key) {
  if (hmac_key.empty()) return false;
  std::array<std::uint8_t, 32> tag{};
  std::size_t len = 0;
  auto input = as_bytes(b.signing_input);
  if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, hmac_key.data(), hmac_key.size(), input.data(),
                 input.size(), tag.data(), tag.size(), &len) ||
      len != tag.size()) {
    ERR_clear_error();
    return false;
  }
  if (b.mac.size() != tag.size()) return false;
  return equal_constant_time(tag, b.mac);
}

}  // namespace wotca::acme
