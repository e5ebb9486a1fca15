#include "acme/nonce.h"

#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <span>

#include "core/util/encoding.h"

namespace wotca::acme {

namespace {

constexpr std::size_t time_bytes = 8;
constexpr std::size_t random_bytes = 16;
constexpr std::size_t tag_bytes = 16;
constexpr std::size_t body_bytes = time_bytes + random_bytes;
constexpr std::size_t nonce_bytes = body_bytes + tag_bytes;
constexpr std::size_t nonce_chars = (nonce_bytes * 4 + 2) / 3;  // base64url without padding: 54

using tag = std::array<std::uint8_t, tag_bytes>;

[[noreturn]] void mac_broken() {
  // HMAC-SHA256 with a 32-byte key cannot fail short of a broken OpenSSL;
  // minting or accepting nonces without it is not an option.
  std::abort();
}

// HMAC-SHA256(key, issued-at || random), truncated to 128 bits (RFC 2104
// 5: truncation to at least half the output is sound).
tag mac_of(const EVP_MAC_CTX* keyed, std::span<const std::uint8_t> body) {
  evp_mac_ctx_ptr ctx(EVP_MAC_CTX_dup(keyed));
  std::array<std::uint8_t, 32> full{};
  std::size_t len = 0;
  if (!ctx || EVP_MAC_update(ctx.get(), body.data(), body.size()) != 1 ||
      EVP_MAC_final(ctx.get(), full.data(), &len, full.size()) != 1 || len != full.size()) {
    mac_broken();
  }
  tag t{};
  std::copy_n(full.begin(), t.size(), t.begin());
  return t;
}

}  // namespace

nonce_codec::nonce_codec(const std::array<std::uint8_t, 32>& key, std::chrono::seconds lifetime)
    : lifetime_(lifetime) {
  evp_mac_ptr hmac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!hmac) mac_broken();
  keyed_.reset(EVP_MAC_CTX_new(hmac.get()));
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  if (!keyed_ || EVP_MAC_init(keyed_.get(), key.data(), key.size(), params) != 1) mac_broken();
}

std::string nonce_codec::mint(sys_seconds now, random_source& rng) const {
  std::array<std::uint8_t, nonce_bytes> n{};
  auto issued = static_cast<std::uint64_t>(now.time_since_epoch().count());
  for (std::size_t i = 0; i < time_bytes; ++i) n[i] = static_cast<std::uint8_t>(issued >> (8 * (time_bytes - 1 - i)));
  rng.fill(std::span(n).subspan(time_bytes, random_bytes));
  tag t = mac_of(keyed_.get(), std::span(n).first(body_bytes));
  std::copy(t.begin(), t.end(), n.begin() + body_bytes);
  return base64url_encode(n);
}

nonce_check nonce_codec::check(std::string_view nonce, sys_seconds now) const {
  if (nonce.size() != nonce_chars) return nonce_check::malformed;
  auto raw = base64url_decode(nonce);
  if (!raw || raw->size() != nonce_bytes) return nonce_check::malformed;
  std::span<const std::uint8_t> n(*raw);
  tag expected = mac_of(keyed_.get(), n.first(body_bytes));
  if (!equal_constant_time(expected, n.subspan(body_bytes, tag_bytes))) return nonce_check::forged;
  std::uint64_t issued_bits = 0;
  for (std::size_t i = 0; i < time_bytes; ++i) issued_bits = (issued_bits << 8) | n[i];
  auto issued = static_cast<std::int64_t>(issued_bits);
  std::int64_t t = now.time_since_epoch().count();
  // Only our own MAC gets here, so `issued` is a time some replica read
  // from its clock; compare without subtracting from it all the same.
  if (issued > t + max_future_skew.count()) return nonce_check::stale;
  if (issued <= t - lifetime_.count()) return nonce_check::stale;
  return nonce_check::fresh;
}

}  // namespace wotca::acme
