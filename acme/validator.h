// The challenge validators of wotca-acme (RFC 8555 8.3 http-01, 8.4 dns-01,
// RFC 8737 tls-alpn-01): network clients that prove a requester controls a
// domain. They run off the request path on a small pool of worker threads;
// each attempt is bounded in time by `timeout_ms`, and a failed attempt is
// retried after `retry_ms` until `attempts` are used up.
//
// Names are resolved (A and AAAA) through the configured DNS server, never
// the system's stub resolver, and an address in a private, loopback or other
// special-purpose range is refused unless `allow_private_addresses` (tests on
// loopback) is set: a CA must not be made to connect inside its own network
// on a requester's say-so.
//
// What comes back from the network is untrusted. The pure checks below
// (redirect targets, the http-01 answer, the tls-alpn-01 certificate) take
// the received bytes as values and are fuzzed by
// tests/fuzz/acme_http01_fuzzer.cpp; the rest only moves bytes through
// Beast's bounded parser and OpenSSL.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "acme/exchange.h"
#include "core/config/config.h"
#include "core/util/error.h"
#include "core/util/random.h"

namespace wotca::acme {

// ACME problem types (RFC 8555 6.7) a validation can end with.
namespace problem {
inline constexpr std::string_view connection = "urn:ietf:params:acme:error:connection";
inline constexpr std::string_view incorrect_response = "urn:ietf:params:acme:error:incorrectResponse";
inline constexpr std::string_view dns = "urn:ietf:params:acme:error:dns";
inline constexpr std::string_view tls = "urn:ietf:params:acme:error:tls";
inline constexpr std::string_view unauthorized = "urn:ietf:params:acme:error:unauthorized";
inline constexpr std::string_view rejected_identifier = "urn:ietf:params:acme:error:rejectedIdentifier";
inline constexpr std::string_view server_internal = "urn:ietf:params:acme:error:serverInternal";
}  // namespace problem

struct validator_settings {
  std::string resolver;                 // "HOST:PORT"; empty: the first nameserver of /etc/resolv.conf
  std::uint16_t http_port = 80;         // http-01, and redirects to http://...:80
  std::uint16_t tls_alpn_port = 443;    // tls-alpn-01, and redirects to https://...:443
  bool allow_private_addresses = false;
  std::chrono::milliseconds timeout{10000};  // one attempt: DNS, connect and exchange together
  int attempts = 3;
  std::chrono::milliseconds retry{2000};
  unsigned workers = 4;                 // attempts that run at once
  std::size_t max_queue = 10000;        // jobs waiting beyond this fail at once (serverInternal)
  std::size_t max_body_bytes = 8192;    // http-01 answer body (a key authorization is ~87 bytes)
  std::size_t max_header_bytes = 8192;
  int max_redirects = 10;
};

// The settings of `acme.validation` (ports range-checked by core/config).
[[nodiscard]] validator_settings settings_from(const acme_validation_config& c);

// ---- Pure checks over received bytes (fuzzed) -------------------------------

// Where an http-01 redirect leads (RFC 8555 8.3: "the server ... MUST NOT
// follow redirects to ports other than 80 and 443"; only http and https).
struct redirect_target {
  bool https = false;
  std::string host;          // a DNS name, lower case, no trailing dot
  std::uint16_t port = 80;   // 80 or 443 as written (mapped to the configured ports by the caller)
  std::string path;          // "/..." with any query, without the fragment
};

// Resolves a Location header value against the URL it was received from
// (an absolute URL, or an absolute path "/x" on the same origin). Refuses
// other schemes, ports other than 80/443, user info, IP-literal hosts and
// anything that is not a plain DNS name, with a sentence saying why.
[[nodiscard]] result<redirect_target> resolve_redirect(std::string_view location, const redirect_target& from);

// An incremental, bounded reader of one HTTP/1.x response (the http-01
// answer and each redirect), fed the bytes as they arrive: the header is
// limited to `max_header_bytes`, the body to `max_body_bytes` whether framed
// by Content-Length, chunked or the end of the connection.
class http_answer_reader {
 public:
  enum class state { more, done, failed };
  http_answer_reader(std::size_t max_header_bytes, std::size_t max_body_bytes);
  ~http_answer_reader();
  http_answer_reader(const http_answer_reader&) = delete;
  http_answer_reader& operator=(const http_answer_reader&) = delete;

  // Takes the next received bytes. `done` once a whole response was read
  // (later bytes are ignored), `failed` with error() and too_large() set.
  state feed(std::string_view bytes);
  // The peer closed the connection: `done` if that ends a response.
  state finish();

  [[nodiscard]] unsigned status() const;
  [[nodiscard]] const std::string& body() const;  // valid after `done`
  [[nodiscard]] std::optional<std::string> location() const;
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] bool too_large() const { return too_large_; }

 private:
  struct parser;
  std::unique_ptr<parser> parser_;
  std::string pending_;  // bytes received and not yet consumed by the parser
  std::size_t max_pending_;
  state state_ = state::more;
  std::string error_;
  bool too_large_ = false;
};

// The http-01 decision on one final answer: valid iff status is 200 and the
// body, with trailing whitespace removed (RFC 8555 8.3), equals the key
// authorization. Otherwise an outcome with the problem type and detail;
// `url` is named in the detail.
[[nodiscard]] validation_outcome judge_http01(unsigned status, std::string_view body, std::string_view key_authorization,
                                              std::string_view url);

// The dns-01 decision over the TXT records found at _acme-challenge.DOMAIN:
// valid iff one equals base64url(SHA-256(key_authorization)).
[[nodiscard]] validation_outcome judge_dns01(std::span<const std::string> txt_records, std::string_view key_authorization,
                                             std::string_view at);

// The tls-alpn-01 decision on the certificate the server presented (DER),
// RFC 8737 3: exactly one subjectAltName entry, a dNSName equal to `domain`;
// a critical id-pe-acmeIdentifier extension (1.3.6.1.5.5.7.1.31) whose value
// is   Authorization ::= OCTET STRING (SIZE (32))   holding
// SHA-256(key_authorization). No chain validation. Unparseable DER is
// unauthorized too.
[[nodiscard]] validation_outcome judge_tls_alpn01(std::span<const std::uint8_t> certificate_der, std::string_view domain,
                                                  std::string_view key_authorization);

// ---- The network validator ---------------------------------------------------

class network_validator final : public challenge_validator {
 public:
  // `rng` is borrowed (DNS message ids) and must outlive the validator.
  network_validator(validator_settings settings, random_source& rng);
  // Stops the workers, each after its current attempt; jobs still queued,
  // or with retries left, end `abandoned` (not failed: a restart must not
  // fail the validations it interrupted), so every `done` is still called
  // exactly once.
  ~network_validator() override;
  network_validator(const network_validator&) = delete;
  network_validator& operator=(const network_validator&) = delete;

  void validate(validation_job job, std::function<void(validation_outcome)> done) override;

  // Takes effect for attempts started afterwards (SIGHUP). `workers` is
  // fixed at construction.
  void set_settings(validator_settings settings);

  // One attempt, synchronously, on the calling thread (what each worker
  // runs; tests call it directly).
  [[nodiscard]] validation_outcome attempt(const validation_job& job);

  // Jobs queued or running: a job counts from validate() until its `done`
  // has returned.
  [[nodiscard]] std::size_t in_flight() const;

  // Prometheus text: validations by type and result, attempts.
  [[nodiscard]] std::string metrics() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace wotca::acme
