// The OCSP responder as a value (STYLE.md 1): respond(request, now) ->
// response, over a table of certificate states and a cache of pre-signed
// single responses. No socket, no store: the refresher (refresher.h) feeds
// it, the HTTP adapter (core/http) carries its answers.
//
// Threads: respond(), update(), load() and refresh_stale() may run
// concurrently; the table is guarded by a shared mutex, entries are
// immutable once made and replaced whole, and signing happens outside the
// lock.
//
// Memory (about 0.5 KB per certificate): a pre-signed OCSPResponse ends with
// the delegated signer's certificate (RFC 6960 4.2.1 BasicOCSPResponse
// `certs`), the same bytes in every response of one signer. An entry keeps
// only the bytes before it, the signer's tail is kept once per issuer, and a
// cache hit joins the two into the response body: one copy of ~900 bytes
// per request instead of ~550 bytes more per certificate held.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/http/message.h"
#include "core/pki/issuer.h"
#include "core/policy/policy.h"
#include "core/status/ocsp_response.h"

namespace wotca {

struct ocsp_settings {
  std::chrono::seconds validity{std::chrono::hours(96)};  // nextUpdate - thisUpdate
  bool nonces = false;              // sign on demand when a request carries a nonce
  std::size_t max_request_bytes = 8192;
  std::size_t max_ids = 100;
  // At most this many responses naming a serial the table does not hold
  // (never issued, reserved, or of another CA) are signed on demand per
  // second of `now`; beyond it such requests get tryLater (RFC 6960 2.3,
  // unsigned, costs nothing). Random serials never repeat, so no cache
  // helps against a flood of them; this bounds the CPU one can burn. 0: no
  // limit. Requests for certificates the table holds are never limited.
  std::size_t unknown_signatures_per_second = 200;
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
  std::atomic<std::uint64_t> unknown_limited{0};  // tryLater: over unknown_signatures_per_second
};

// One certificate to pre-sign at start-up (ocsp_responder::load).
struct ocsp_preload {
  serial_number serial{};  // the 20 octets of the INTEGER, as random_serial() makes them
  issuer_class issuer = issuer_class::class1;
  certificate_state state;
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
  // Signs a response valid from `now` for every item whose issuer this
  // responder serves (the others are skipped) on `threads` threads (0: one
  // per core), and puts them in the table, replacing any entry of the same
  // serial. Returns how many were signed. On error (the first a thread
  // meets) the other threads stop, some items are loaded and some not: the
  // caller discards this responder.
  [[nodiscard]] result<std::size_t> load(std::span<const ocsp_preload> items, sys_seconds now, unsigned threads);
  [[nodiscard]] bool serves(issuer_class issuer) const;
  // Re-signs every response whose thisUpdate is older than half the
  // validity; at most `budget` of them. Returns how many.
  [[nodiscard]] result<std::size_t> refresh_stale(sys_seconds now, std::size_t budget);

  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] sys_seconds oldest_this_update() const;
  [[nodiscard]] const ocsp_counters& counters() const { return counters_; }
  [[nodiscard]] const ocsp_settings& settings() const { return settings_; }

 private:
  // RFC 5019 6 header values are fixed at signing time, so that serving a
  // response formats nothing but max-age.
  static constexpr std::size_t etag_size = 34;  // '"' + 32 hex digits + '"'
  static constexpr std::size_t date_size = 29;  // IMF-fixdate, RFC 9110 5.6.7
  struct entry {
    certificate_state state;
    sys_seconds this_update{};
    sys_seconds next_update{};
    // The pre-signed OCSPResponse without its signer's tail
    // (served_issuer::tail), or all of it when it does not end in that tail.
    std::string head;
    std::array<char, etag_size> etag{};
    std::array<char, date_size> last_modified{};
    std::array<char, date_size> expires{};
    bool whole = false;  // `head` is the whole response
  };
  struct serial_hash {
    // Serials are random (random_serial) and chosen by the CA, never by a
    // client: their last octets are a good hash as they are.
    std::size_t operator()(const serial_number& s) const noexcept {
      std::size_t h = 0;
      std::memcpy(&h, s.data() + s.size() - sizeof h, sizeof h);
      return h;
    }
  };
  struct served_issuer {
    ocsp_issuer info;
    issuer_hashes sha1, sha256, sha384, sha512;
    // The DER every response of this signer ends with: certs [0] EXPLICIT
    // SEQUENCE OF Certificate holding the signer's certificate.
    std::string tail;
    // key: the serial INTEGER contents. Entries are immutable once made, so a
    // request copies one pointer under the lock, never the bytes.
    std::unordered_map<serial_number, std::shared_ptr<const entry>, serial_hash> entries;
    [[nodiscard]] const issuer_hashes& hashes(hash_algorithm a) const;
  };
  ocsp_responder(std::vector<served_issuer> issuers, const ocsp_settings& settings)
      : issuers_(std::move(issuers)), settings_(settings) {}

  [[nodiscard]] result<std::shared_ptr<const entry>> sign_entry(const served_issuer& s, const serial_number& serial,
                                                               const certificate_state& st, sys_seconds now);
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
  // unknown_signatures_per_second: the second being counted, and how many
  // were signed in it.
  std::mutex unknown_mutex_;
  std::int64_t unknown_second_ = 0;
  std::size_t unknown_in_second_ = 0;
};

}  // namespace wotca
