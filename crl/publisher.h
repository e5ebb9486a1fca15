// Makes the CRL files of one issuer from the store (RFC 5280 5), the same
// way for wotca-crl and for `wotca crl generate`:
//
//   DIR/class1.crl   DIR/class1.crl.pem         complete CRL of the Class 1 CA
//   DIR/class3.crl   ...                        complete CRL of the Class 3 CA
//   DIR/root.crl     ...                        the root's CRL, for its sub-CAs
//   DIR/class1-delta.crl ...                    delta CRLs, when enabled
//   DIR/root.crt DIR/class1.crt DIR/class3.crt  the CA certificates (DER) named by caIssuers
//
// The CRL number is taken, and committed with an audit row, before the file
// is written; the entries are then streamed from one read snapshot into the
// file, which replaces the previous one atomically. A crash at any point
// leaves the previous whole CRL on disk and a number that is never reused.
//
// Which certificates a CRL lists: the issuer's revoked certificates whose
// notAfter is at or after thisUpdate - keep_expired_crls * validity (each
// stays on at least keep_expired_crls CRLs after it expired, since CRLs are
// re-signed at least once per validity). A delta CRL lists those of them
// revoked at or after its base CRL's thisUpdate (a superset of what changed
// since the base, which RFC 5280 5.2.4 permits).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/ca/material.h"
#include "core/store/store.h"
#include "core/util/time.h"

namespace wotca {

struct crl_publish_settings {
  std::filesystem::path dir;
  std::chrono::seconds validity{std::chrono::days(7)};
  int keep_expired_crls = 1;
  bool delta = false;
  std::chrono::seconds delta_validity{std::chrono::hours(1)};
  std::string url_base;  // urls.crl_base: "http://127.0.0.1:14082/"
  bool pem = true;       // write NAME.crl.pem beside NAME.crl
};

[[nodiscard]] crl_publish_settings crl_settings_from(const config& c);

// File name of a CRL: "class1.crl", "class1-delta.crl".
[[nodiscard]] std::string crl_file_name(issuer_class issuer, bool delta);

struct published_crl {
  issuer_class issuer = issuer_class::class1;
  bool delta = false;
  std::int64_t number = 0;
  std::int64_t base_number = 0;  // delta only
  sys_seconds this_update{};
  sys_seconds next_update{};
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  std::chrono::nanoseconds took{};
  std::filesystem::path path;
};

class crl_publisher {
 public:
  // Borrows everything; all must outlive the publisher. `ca` must hold the
  // signer of every issuer it is asked to publish for.
  crl_publisher(store& db, const ca_material& ca, crl_publish_settings settings, const clock& clk);

  // Writes the complete CRL (full) and/or the delta CRL (delta, only when
  // enabled) of `issuer`, in the order that keeps deltas useful: the delta
  // against the last complete CRL first, then the complete CRL; when there
  // is no complete CRL yet, the delta follows it. Returns what was written.
  // A failure leaves what was published so far and returns the error.
  [[nodiscard]] result<std::vector<published_crl>> publish(issuer_class issuer, bool full, bool delta);

  // Writes root.crt, class1.crt and class3.crt (DER) if missing or different.
  [[nodiscard]] result<void> publish_certificates();

 private:
  result<published_crl> publish_full(issuer_class issuer);
  result<published_crl> publish_delta(issuer_class issuer, std::int64_t base, sys_seconds base_time);

  store& db_;
  const ca_material& ca_;
  crl_publish_settings settings_;
  const clock& clock_;
};

}  // namespace wotca
