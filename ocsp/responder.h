// The OCSP responder as a value (STYLE.md 1): respond(request, now) ->
// response, over a table of certificate states and a cache of pre-signed
// single responses. No socket, no store: the refresher (refresher.h) feeds
// it, the HTTP adapter (core/http) carries its answers.
//
// Threads: respond() and the update calls may run concurrently; the table
// is guarded by a shared mutex and responses are immutable shared bytes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/http/message.h"
#include "core/policy/policy.h"
#include "core/status/ocsp_response.h"

namespace wotca {

struct ocsp_settings {
  std::chrono::seconds validity{std::chrono::hours(96)};  // nextUpdate - thisUpdate
  bool nonces = false;              // sign on demand when a request carries a nonce
  std::size_t max_request_bytes = 8192;
  std::size_t max_ids = 100;
};

// One issuing CA this responder answers for, with its delegated signer and
// its CertID hashes under every algorithm a client may use.
struct ocsp_issuer {
  issuer_class issuer = issuer_class::class3;
  ocsp_signer signer;
};

struct ocsp_counters {
  std::atomic<std::uint64_t> good{0}, revoked{0}, unknown{0}, malformed{0}, unauthorized{0}, internal{0};
  std::atomic<std::uint64_t> cache_hits{0}, signed_on_demand{0}, not_modified{0};
  std::atomic<std::uint64_t> signatures{0}, sign_nanoseconds{0};
};

class ocsp_responder {
 public:
  // Fails if a signer's hashes cannot be computed.
  [[nodiscard]] static result<std::unique_ptr<ocsp_responder>> make(std::vector<ocsp_issuer> issuers,
                                                                     const ocsp_settings& settings);

  // RFC 6960 / RFC 5019 over HTTP: GET /{base64}, POST application/ocsp-request.
  [[nodiscard]] http_response respond(const http_request& req, sys_seconds now);

  // Sets the state of `serial` (20-byte serial as lower-case hex) under
  // `issuer` and signs its single response (SHA-1 CertID, RFC 5019 2.1.1)
  // valid from `now`. errc::not_found if this responder does not serve
  // `issuer`.
  [[nodiscard]] result<void> update(issuer_class issuer, std::string_view serial_hex, const certificate_state& state,
                                    sys_seconds now);
  // Re-signs every response whose thisUpdate is older than half the
  // validity; at most `budget` of them. Returns how many.
  [[nodiscard]] result<std::size_t> refresh_stale(sys_seconds now, std::size_t budget);

  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] sys_seconds oldest_this_update() const;
  [[nodiscard]] const ocsp_counters& counters() const { return counters_; }
  [[nodiscard]] const ocsp_settings& settings() const { return settings_; }

 private:
  struct entry {
    certificate_state state;
    std::shared_ptr<const std::string> der;  // the pre-signed OCSPResponse
    sys_seconds this_update{};
    sys_seconds next_update{};
    std::string etag;
    // RFC 5019 6 header values fixed at signing time, so that serving a
    // response formats nothing but max-age.
    std::string last_modified;
    std::string expires;
  };
  struct served_issuer {
    ocsp_issuer info;
    issuer_hashes sha1, sha256, sha384, sha512;
    // key: serial INTEGER contents. Entries are immutable once made, so a
    // request copies one pointer under the lock, never the strings.
    std::unordered_map<std::string, std::shared_ptr<const entry>> entries;
    [[nodiscard]] const issuer_hashes& hashes(hash_algorithm a) const;
  };
  ocsp_responder(std::vector<served_issuer> issuers, const ocsp_settings& settings)
      : issuers_(std::move(issuers)), settings_(settings) {}

  [[nodiscard]] result<entry> sign_entry(const served_issuer& s, std::string_view serial, const certificate_state& st,
                                         sys_seconds now);
  [[nodiscard]] http_response answer(const std::vector<std::uint8_t>& der_request, bool is_get,
                                     const http_request& req, sys_seconds now);

  std::vector<served_issuer> issuers_;
  ocsp_settings settings_;
  mutable std::shared_mutex mutex_;
  // No response is due for re-signing before this (unix seconds): the
  // refresher skips its scan of every entry until then. update() only makes
  // responses younger, so it never moves this earlier.
  std::atomic<std::int64_t> refresh_due_{0};
  ocsp_counters counters_;
};

// The DER INTEGER contents of a 20-byte serial given as 40 hex digits.
[[nodiscard]] result<std::string> serial_key(std::string_view serial_hex);

}  // namespace wotca
