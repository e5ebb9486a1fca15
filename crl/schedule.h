// When wotca-crl signs which CRL, as a value (STYLE.md 2): the daemon tells
// it what it saw (a revocation, a CRL published, a failure) and the time,
// and asks what is due now and when to look again. No clock, no I/O.
//
// Rules:
//  - a revocation makes the issuer's complete CRL (and delta CRL, when
//    enabled) due `debounce` after the first revocation not yet published:
//    a burst within the window makes one CRL, and none waits longer than the
//    window (plus one generation) to be published;
//  - a complete CRL is re-signed `refresh_before` its nextUpdate even with
//    no change, and a delta CRL half its validity before its nextUpdate;
//  - a CRL never published (the daemon just started) is due at once;
//  - a failed generation is due again `retry` later.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <vector>

#include "core/policy/policy.h"
#include "core/util/time.h"

namespace wotca {

struct crl_schedule_settings {
  std::chrono::seconds debounce{60};
  std::chrono::seconds validity{std::chrono::days(7)};
  std::chrono::seconds refresh_before{std::chrono::seconds(std::chrono::days(7)) / 2};  // config refresh_hours; 0 there: validity / 2
  bool delta = false;
  std::chrono::seconds delta_validity{std::chrono::hours(1)};
  std::chrono::seconds retry{std::chrono::seconds(10)};
};

// What is due for one issuer.
struct crl_job {
  issuer_class issuer = issuer_class::class1;
  bool full = false;
  bool delta = false;
};

class crl_schedule {
 public:
  crl_schedule(const crl_schedule_settings& settings, std::vector<issuer_class> issuers);

  // A revocation of a certificate of `issuer`, seen at `now`.
  void changed(issuer_class issuer, sys_seconds now);
  // The daemon starts generating `job`: every change seen so far will be in
  // what it reads, so the pending change is cleared (a change seen from now
  // on makes the CRL due again).
  void started(const crl_job& job);
  // A CRL of `issuer` was published with this nextUpdate.
  void published(issuer_class issuer, bool delta, sys_seconds next_update);
  // Generating failed at `now`: try again `retry` later, keeping the
  // changes that it should have published.
  void failed(const crl_job& job, sys_seconds now);

  // Every issuer with something due at `now`, in the order given at construction.
  [[nodiscard]] std::vector<crl_job> due(sys_seconds now) const;
  // The earliest instant something becomes due (<= now if something is).
  [[nodiscard]] sys_seconds next_due() const;

 private:
  struct state {
    std::optional<sys_seconds> pending_since;      // first revocation not yet in a started generation
    std::optional<sys_seconds> full_refresh_at;    // nullopt: never published, due at once
    std::optional<sys_seconds> delta_refresh_at;
    std::optional<sys_seconds> retry_at;
  };
  [[nodiscard]] std::pair<sys_seconds, sys_seconds> due_times(const state& s) const;  // full, delta

  crl_schedule_settings settings_;
  std::vector<issuer_class> order_;
  std::map<issuer_class, state> states_;
};

}  // namespace wotca
