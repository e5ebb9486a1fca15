// Replay-Nonce values (RFC 8555 6.5) that any replica can redeem.
//
// A nonce is base64url(issued-at seconds (8 bytes) || 16 random bytes ||
// HMAC-SHA256(nonce key, the first 24 bytes) truncated to 16 bytes). Any
// replica holding the same nonce key (a 32-byte secret under keys/, made by
// `wotca init` or at first start) can check that it minted the nonce and
// that it is not stale, without asking the replica that issued it. Single
// use is enforced by recording each redeemed nonce in the shared store
// (a row per nonce, kept until it would be stale anyway), so a nonce
// redeemed at one replica is refused at every other. With one replica and
// no shared store, an in-memory set does the same.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/pki/ossl.h"
#include "core/util/error.h"
#include "core/util/random.h"
#include "core/util/time.h"

namespace wotca::acme {

enum class nonce_check { fresh, malformed, forged, stale };

class nonce_codec {
 public:
  static constexpr std::chrono::seconds max_future_skew{30};

  // Aborts if OpenSSL cannot make an HMAC-SHA256 context (a broken
  // installation: no nonce could be minted or checked).
  nonce_codec(const std::array<std::uint8_t, 32>& key, std::chrono::seconds lifetime);
  nonce_codec(const nonce_codec&) = delete;
  nonce_codec& operator=(const nonce_codec&) = delete;

  [[nodiscard]] std::string mint(sys_seconds now, random_source& rng) const;
  // Checks format, MAC (constant time) and age; does not record use.
  // malformed: not 54 base64url characters decoding to 40 bytes. forged:
  // the MAC does not match (not minted under this key). stale: minted
  // under this key but `now` >= issued-at + lifetime, or issued-at more
  // than max_future_skew ahead of `now` (a replica's clock running ahead:
  // the nonce is ours, so it is refused as stale, not reported as forged).
  // A fresh nonce stays fresh until issued-at + lifetime at the latest,
  // which bounds how long the store must remember a redeemed one.
  [[nodiscard]] nonce_check check(std::string_view nonce, sys_seconds now) const;
  [[nodiscard]] std::chrono::seconds lifetime() const { return lifetime_; }

 private:
  // HMAC-SHA256 keyed once; every MAC works on a copy (EVP_MAC_CTX_dup),
  // so this one is only read and may be shared by the request threads.
  // Fetching the algorithms anew for each MAC (EVP_Q_mac) cost 2% of the
  // server's CPU.
  evp_mac_ctx_ptr keyed_;
  std::chrono::seconds lifetime_;
};

}  // namespace wotca::acme
