// wotca-acme's protocol logic as a value (STYLE.md 1): every RFC 8555
// resource is handled by handle(request) -> response, over the store, the
// issuing service and a challenge validator, with the clock and randomness
// injected. No socket and no Boost here: the TLS server (server.h) carries
// the exchanges, tests call handle() directly.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "acme/exchange.h"
#include "core/ca/authority.h"
#include "core/config/config.h"
#include "core/store/store.h"
#include "core/util/random.h"
#include "core/util/time.h"

namespace wotca::acme {

struct service_options {
  // Store connections used at most at once, one per request in flight,
  // opened to cfg.database (open_mode::existing) when first needed; the
  // store given to make() serves only if none can be opened. 1: every
  // request takes turns on the given store (so does a ":memory:" database).
  std::size_t connections = 8;
};

class service {
 public:
  virtual ~service() = default;

  // Borrows everything; all must outlive the service, and `validator` must
  // have called every `done` before the service is destroyed. The nonce key,
  // the secret shared by every replica behind one load balancer (see
  // nonce.h), is keys/acme-nonce.key (32 bytes, 0600), made here at the
  // first start if absent (errc::io / errc::config naming the file
  // otherwise). `base_url` is the external https URL (a trailing '/' is
  // dropped).
  // Requests run at once, each on its own store connection (see
  // service_options); what they race for is decided inside the store's
  // write transactions. Each connection has its own
  // certificate_authority made from `cfg`, `material`, `clk` and `rng`
  // (`ca` must be one made from them too; the service does not call it), so
  // `material`'s keys sign, and `clk` and `rng` are called, from several
  // threads at once: both must be safe for that (system_clock and
  // system_random are).
  [[nodiscard]] static result<std::unique_ptr<service>> make(const config& cfg, std::string base_url, store& db,
                                                             certificate_authority& ca, const ca_material& material,
                                                             challenge_validator& validator, const clock& clk,
                                                             random_source& rng, const service_options& options = {});

  // Any request under base_url: directory, newNonce, newAccount, ..., and
  // renewalInfo. Thread-safe. Never throws; an internal failure is a
  // serverInternal problem document.
  [[nodiscard]] virtual http_exchange_response handle(const http_exchange_request& req) = 0;

  // handle() for a transport that can answer later: `respond` gets the
  // same answer, except for a challenge POST that starts a validation.
  // That one is answered when the validation has ended (the challenge as
  // it is then: valid, or invalid with its error, so the client's first
  // poll finds the authorization decided) or once
  // cfg.acme.validation.answer_wait_ms have passed (`after` measures them),
  // whichever comes first; then it says "processing", as handle() does.
  // `respond` is called exactly once, on this thread or a validator's or
  // timer's; it must not call back into the service.
  virtual void handle_async(const http_exchange_request& req, exchange_responder respond,
                            const exchange_timer& after) = 0;

  // Adds what every answer carries (a fresh Replay-Nonce, the directory
  // Link) to a problem the transport answered by itself (a request over a
  // size limit, not HTTP/1.1): RFC 8555 6.5 wants a nonce on errors too, so
  // a client that retries has one. Thread-safe.
  virtual void decorate_error(http_exchange_response& resp) = 0;

  // A read of the store on one of the service's connections, for /healthz:
  // safe from any thread, like handle().
  [[nodiscard]] virtual result<void> check_store() = 0;

  // Prometheus text exposition of the service's counters (requests by
  // resource and status, orders, validations, issuances, finalize latency).
  [[nodiscard]] virtual std::string metrics() const = 0;
};

}  // namespace wotca::acme
