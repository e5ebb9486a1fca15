// Builds ACME request bodies by hand for the unit tests: account keys made
// with OpenSSL, flattened JWS (RFC 7515 7.2.2) signed with EVP_DigestSign,
// and External Account Binding objects (RFC 8555 7.3.4). Independent of
// acme/jose.cpp on purpose: the JWK text and the signatures are produced
// here from OpenSSL alone, so the parser is tested against bytes it did
// not make.
#pragma once

#include <catch2/catch.hpp>
#include <openssl/core_names.h>
#include <openssl/err.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/pki/ossl.h"
#include "core/util/encoding.h"

namespace wotca::acme::testing {

struct test_key {
  evp_pkey_ptr key;
  std::string alg;       // "ES256", "ES384", "RS256", "EdDSA"
  std::string jwk_json;  // the public JWK, members in RFC 7638 order
};

inline std::string b64u(std::string_view text) {
  return base64url_encode(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

inline std::string b64u(std::span<const std::uint8_t> b) { return base64url_encode(b); }

namespace detail {

inline std::vector<std::uint8_t> bn_bytes(const EVP_PKEY* key, const char* name, std::size_t pad) {
  BIGNUM* raw = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(key, name, &raw) == 1);
  bignum_ptr bn(raw);
  std::size_t n = pad ? pad : static_cast<std::size_t>(BN_num_bytes(bn.get()));
  std::vector<std::uint8_t> out(n);
  REQUIRE(BN_bn2binpad(bn.get(), out.data(), static_cast<int>(n)) == static_cast<int>(n));
  return out;
}

inline std::string jwk_of(const EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    REQUIRE(EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, nullptr) == 1);
    bool p384 = std::string_view(group) == "secp384r1";
    std::size_t len = p384 ? 48 : 32;
    return std::string(R"({"crv":")") + (p384 ? "P-384" : "P-256") + R"(","kty":"EC","x":")" +
           b64u(bn_bytes(key, OSSL_PKEY_PARAM_EC_PUB_X, len)) + R"(","y":")" +
           b64u(bn_bytes(key, OSSL_PKEY_PARAM_EC_PUB_Y, len)) + R"("})";
  }
  if (EVP_PKEY_is_a(key, "RSA")) {
    return R"({"e":")" + b64u(bn_bytes(key, OSSL_PKEY_PARAM_RSA_E, 0)) + R"(","kty":"RSA","n":")" +
           b64u(bn_bytes(key, OSSL_PKEY_PARAM_RSA_N, 0)) + R"("})";
  }
  std::uint8_t raw[32];
  std::size_t len = sizeof raw;
  REQUIRE(EVP_PKEY_get_raw_public_key(key, raw, &len) == 1);
  REQUIRE(len == 32);
  return R"({"crv":"Ed25519","kty":"OKP","x":")" + b64u(std::span<const std::uint8_t>(raw, len)) + R"("})";
}

}  // namespace detail

// A fresh key for `alg`: "ES256" (P-256), "ES384" (P-384), "RS256" (RSA
// 2048), "EdDSA" (Ed25519). `rsa_bits` only for RS256 (to make weak keys).
inline test_key make_key(std::string_view alg, std::size_t rsa_bits = 2048) {
  EVP_PKEY* raw = nullptr;
  if (alg == "ES256") raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  else if (alg == "ES384") raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  else if (alg == "RS256") raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", rsa_bits);
  else if (alg == "EdDSA") raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  REQUIRE(raw != nullptr);
  test_key k{evp_pkey_ptr(raw), std::string(alg), {}};
  k.jwk_json = detail::jwk_of(k.key.get());
  return k;
}

// The JWS signature of `input` as RFC 7518 puts it on the wire: raw r||s
// for ECDSA, the PKCS#1 v1.5 block for RS256, the 64 bytes of Ed25519.
inline std::vector<std::uint8_t> sign_raw(const test_key& k, std::string_view input) {
  evp_md_ctx_ptr ctx(EVP_MD_CTX_new());
  REQUIRE(ctx != nullptr);
  const EVP_MD* md = nullptr;
  if (k.alg == "ES384") md = EVP_sha384();
  else if (k.alg != "EdDSA") md = EVP_sha256();
  REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, k.key.get()) == 1);
  std::size_t len = 0;
  auto in = reinterpret_cast<const unsigned char*>(input.data());
  REQUIRE(EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size()) == 1);
  std::vector<std::uint8_t> sig(len);
  REQUIRE(EVP_DigestSign(ctx.get(), sig.data(), &len, in, input.size()) == 1);
  sig.resize(len);
  if (k.alg != "ES256" && k.alg != "ES384") return sig;
  // DER ECDSA-Sig-Value -> r||s, each left-padded to the field size (RFC 7518 3.4).
  std::size_t half = k.alg == "ES256" ? 32 : 48;
  const unsigned char* p = sig.data();
  ecdsa_sig_ptr es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
  REQUIRE(es != nullptr);
  std::vector<std::uint8_t> rs(2 * half);
  REQUIRE(BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), rs.data(), static_cast<int>(half)) == static_cast<int>(half));
  REQUIRE(BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), rs.data() + half, static_cast<int>(half)) ==
          static_cast<int>(half));
  return rs;
}

// The flattened JSON body from already encoded parts.
inline std::string flattened_body(std::string_view protected_b64, std::string_view payload_b64,
                                  std::string_view signature_b64) {
  nlohmann::json body = {{"protected", protected_b64}, {"payload", payload_b64}, {"signature", signature_b64}};
  return body.dump();
}

// The request body: `protected_json` and `payload` are base64url-encoded
// as given ("" payload: POST-as-GET) and signed with k.
inline std::string flattened_jws(const test_key& k, std::string_view protected_json, std::string_view payload) {
  std::string protected_b64 = b64u(protected_json);
  std::string payload_b64 = b64u(payload);
  auto sig = sign_raw(k, protected_b64 + "." + payload_b64);
  return flattened_body(protected_b64, payload_b64, b64u(sig));
}

// {"alg":k.alg,"nonce":...,"url":...,"kid":...} or with "jwk" (k's public
// key) when there is no kid.
inline std::string protected_header(const test_key& k, std::string_view nonce, std::string_view url,
                                    std::optional<std::string_view> kid) {
  nlohmann::json h = {{"alg", k.alg}, {"nonce", nonce}, {"url", url}};
  if (kid) h["kid"] = *kid;
  else h["jwk"] = nlohmann::json::parse(k.jwk_json);
  return h.dump();
}

inline std::vector<std::uint8_t> hmac_sha256(std::span<const std::uint8_t> key, std::string_view data) {
  std::vector<std::uint8_t> mac(32);
  std::size_t len = 0;
  REQUIRE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                    reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), mac.size(),
                    &len) != nullptr);
  REQUIRE(len == 32);
  return mac;
}

// The "externalAccountBinding" object (RFC 8555 7.3.4) as JSON text: a
// flattened JWS with protected {"alg":"HS256","kid":kid,"url":url}, the
// account's JWK as payload, and the HMAC-SHA256 tag under `hmac_key`.
inline std::string eab_jws(std::string_view kid, std::span<const std::uint8_t> hmac_key, std::string_view url,
                           const test_key& account) {
  nlohmann::json h = {{"alg", "HS256"}, {"kid", kid}, {"url", url}};
  std::string protected_b64 = b64u(h.dump());
  std::string payload_b64 = b64u(account.jwk_json);
  auto mac = hmac_sha256(hmac_key, protected_b64 + "." + payload_b64);
  return flattened_body(protected_b64, payload_b64, b64u(mac));
}

}  // namespace wotca::acme::testing
